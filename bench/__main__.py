"""`python -m bench run` / `soak`: measure incidentd end to end and write JSON (bench/README.md)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bench.peers import PeerConfig, peers
from bench.peers import sections as peer_sections
from bench.report import markdown, print_tables, show, targets, to_markdown, write_json
from bench.run import PHASES, Config, run
from bench.soak import failed as soak_failed
from bench.soak import markdown as soak_markdown
from bench.soak import print_tables as print_soak_tables
from bench.soak import soak
from incidentd.app.logs import configure_logging

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"
SOAK_OUT = DEFAULT_OUT.with_name("soak.json")
API_OUT = DEFAULT_OUT.with_name("api.json")
PEERS_OUT = DEFAULT_OUT.with_name("peers.json")

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


@app.callback()
def main() -> None:
    """Benchmarks of incidentd (not part of the test run)."""


def _settings(pairs: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"expected NAME=VALUE, got {pair!r}")
        out.append((name.strip().upper().removeprefix("INCIDENTD_"), value))
    return tuple(out)


def _ints(text: str) -> tuple[int, ...]:
    values = tuple(int(part) for part in text.split(",") if part.strip())
    if not values or min(values) < 1:
        raise typer.BadParameter(f"expected positive integers separated by commas, got {text!r}")
    return values


@app.command("run")
def run_command(  # noqa: PLR0917 (typer options are parameters)
    products: Annotated[int, typer.Option(help="Lineage size of the worker runs.")] = 10_000,
    alerts: Annotated[int, typer.Option(help="Records in the end-to-end stream.")] = 200_000,
    workers: Annotated[str, typer.Option(help="Worker counts to measure, e.g. 1,2,4.")] = "1,2,4",
    rate: Annotated[float, typer.Option(help="Offered alerts/s in the latency phase.")] = 2000.0,
    latency_seconds: Annotated[float, typer.Option(help="Length of the latency phase.")] = 30.0,
    lineage_sizes: Annotated[
        str, typer.Option(help="Graph sizes of the in-process lineage figures.")
    ] = "1000,10000,100000",
    memory_sizes: Annotated[
        str, typer.Option(help="Lineage sizes of the worker memory runs.")
    ] = "1000,10000,100000",
    memory_alerts: Annotated[int, typer.Option(help="Records per memory run.")] = 50_000,
    durable: Annotated[
        bool, typer.Option(help="Embedded PostgreSQL with fsync, synchronous_commit on.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the alert streams.")] = 7,
    phase_timeout: Annotated[float, typer.Option(help="Seconds any phase may take.")] = 600.0,
    profile_seconds: Annotated[
        int, typer.Option(help="py-spy the 1-worker run for 2 x this many seconds (0: off).")
    ] = 0,
    max_poll_interval_ms: Annotated[
        int, typer.Option(help="The workers' INCIDENTD_MAX_POLL_INTERVAL_MS.")
    ] = 6000,
    stall_seconds: Annotated[
        float, typer.Option(help="A phase fails when no alert is stored for this long.")
    ] = 120.0,
    worker_setting: Annotated[
        list[str] | None,
        typer.Option(
            help="A worker setting NAME=VALUE (INCIDENTD_NAME), e.g. FETCH_MAX_WAIT_MS=500; "
            "repeatable."
        ),
    ] = None,
    phases: Annotated[
        str, typer.Option(help="Phases to run, e.g. e2e,latency (default: all of them).")
    ] = ",".join(PHASES),
    smoke: Annotated[bool, typer.Option(help="A tiny run (under a minute).")] = False,
    out: Annotated[Path, typer.Option(help="Where to write the JSON.")] = DEFAULT_OUT,
) -> None:
    """Generate a lineage and an alert stream, measure every phase, print and write results."""
    configure_logging("console", "WARNING")
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    if smoke:
        config = Config.smoke_test(
            durable=durable,
            seed=seed,
            phases=_phases(phases),
            profile_seconds=profile_seconds,
            max_poll_interval_ms=max_poll_interval_ms,
        )
    else:
        config = Config(
            products=products,
            alerts=alerts,
            workers=_ints(workers),
            rate=rate,
            latency_seconds=latency_seconds,
            lineage_sizes=_ints(lineage_sizes),
            memory_sizes=_ints(memory_sizes),
            memory_alerts=memory_alerts,
            durable=durable,
            seed=seed,
            phase_timeout=phase_timeout,
            profile_seconds=profile_seconds,
            max_poll_interval_ms=max_poll_interval_ms,
            stall_seconds=stall_seconds,
            worker_settings=_settings(worker_setting or []),
            phases=_phases(phases),
        )
    console = Console(stderr=True)
    result = run(config, console)
    result["targets"] = targets(result)
    write_json(result, out)
    out.with_suffix(".md").write_text(markdown(result))
    print_tables(result, Console(width=max(Console().width, 140)))
    console.log(f"wrote {out} and {out.with_suffix('.md')}; worker logs in {config.log_dir}")
    failed = _failed(result)
    if failed:
        console.log(f"[red]phases that failed: {', '.join(failed)}[/red]")
        raise typer.Exit(1)


@app.command("soak")
def soak_command(
    scale: Annotated[
        int,
        typer.Option(min=1, help="INCIDENTD_SOAK_SCALE: 1,200 x K alerts, 6 x K kills, 30 x K s."),
    ] = 3,
    timeout: Annotated[
        float, typer.Option(help="Seconds the whole pytest run may take (default 1,200 x K).")
    ] = 0.0,
    out: Annotated[Path, typer.Option(help="Where to write the JSON.")] = SOAK_OUT,
) -> None:
    """Run the failure tests marked `soak` at --scale and tabulate what they checked."""
    console = Console(stderr=True)
    result = soak(scale, timeout or 1200.0 * scale, console)
    write_json(result, out)
    out.with_suffix(".md").write_text(soak_markdown(result))
    print_soak_tables(result, Console(width=max(Console().width, 140)))
    console.log(
        f"wrote {out} and {out.with_suffix('.md')}; pytest log {result['meta']['pytest_log']}"
    )
    if soak_failed(result):
        console.log(f"[red]soak failed: {result['pytest']['summary'] or 'no pytest summary'}[/red]")
        raise typer.Exit(1)


@app.command("api")
def api_command(
    clients: Annotated[int, typer.Option(min=1, max=2000, help="Concurrent clients.")] = 200,
    seconds: Annotated[float, typer.Option(min=1, max=600, help="How long they send.")] = 60.0,
    out: Annotated[Path, typer.Option(help="Where to write the JSON.")] = API_OUT,
) -> None:
    """The HTTP API under many clients: requests/s, p50, p99 per endpoint beside /healthz."""
    from bench.api_bench import api_bench

    result = api_bench(clients=clients, seconds=seconds)
    write_json(result, out)
    table = Table("endpoint", "requests", "req/s", "p50 ms", "p99 ms", "statuses")
    for row in result["endpoints"]:
        table.add_row(
            row["endpoint"],
            str(row["requests"]),
            str(row["per_second"]),
            str(row["p50_ms"]),
            str(row["p99_ms"]),
            ", ".join(f"{k}: {v}" for k, v in row["statuses"].items()),
        )
    title = (
        f"{result['clients']} clients, {result['seconds']} s, {result['cpus']} CPUs, "
        f"load average {result['load_average']}"
    )
    Console(width=max(Console().width, 120)).print(table, title)


@app.command("peers")
def peers_command(  # noqa: PLR0917 (typer options are parameters)
    products: Annotated[int, typer.Option(help="Products in all, split over the spaces.")] = 10_000,
    alerts: Annotated[int, typer.Option(help="Records in the stream.")] = 100_000,
    spaces: Annotated[int, typer.Option(help="Spaces the stream spans.")] = 4,
    workers: Annotated[str, typer.Option(help="incidentd worker counts, e.g. 1,2,4.")] = "1,2,4",
    memory_spaces: Annotated[int, typer.Option(help="Spaces of the memory phase.")] = 50,
    memory_products: Annotated[
        int, typer.Option(help="Products per space in the memory phase.")
    ] = 10_000,
    memory_alerts: Annotated[int, typer.Option(help="Records of the memory phase.")] = 20_000,
    memory: Annotated[bool, typer.Option(help="Run the memory phase.")] = True,
    table: Annotated[
        bool, typer.Option(help="Run the peer rows (--no-table: memory only).")
    ] = True,
    out: Annotated[Path, typer.Option(help="Where to write the JSON.")] = PEERS_OUT,
) -> None:
    """The peer table: raw consumer, Alertmanager, incidentd 1/2/4 workers keyed by space and
    by product, with CPU per process, a projection to 16 cores and peak RSS per worker."""
    configure_logging("console", "WARNING")
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    config = PeerConfig(
        products=products,
        alerts=alerts,
        spaces=spaces,
        workers=_ints(workers),
        memory_spaces=memory_spaces,
        memory_products=memory_products,
        memory_alerts=memory_alerts,
        memory=memory,
        table=table,
    )
    console = Console(stderr=True)
    result = peers(config, console)
    result["meta"]["command"] = " ".join(["python -m bench", *sys.argv[1:]])
    write_json(result, out)
    tables = peer_sections(result)
    out.with_suffix(".md").write_text(to_markdown(tables))
    show(tables, Console(width=max(Console().width, 160)))
    console.log(f"wrote {out} and {out.with_suffix('.md')}; worker logs in {config.log_dir}")


def _phases(text: str) -> tuple[str, ...]:
    chosen = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = set(chosen) - set(PHASES)
    if unknown or not chosen:
        raise typer.BadParameter(f"phases are {', '.join(PHASES)}; got {text!r}")
    return chosen


def _failed(result: dict[str, Any]) -> list[str]:
    """Names of the phases whose result is an error."""
    names = []
    for name, section in result.items():
        entries = section if isinstance(section, list) else [section]
        if any(isinstance(entry, dict) and "error" in entry for entry in entries):
            names.append(name)
    return names


if __name__ == "__main__":
    app()
