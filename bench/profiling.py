"""py-spy profiles of a worker under load, summarised into top entries.

Two recordings of the same worker one after the other: `wall` (py-spy `--idle`: every thread
at every sample, waits included, so the main thread's samples say where its time goes) and
`cpu` (py-spy's default: only threads running on a CPU at that instant).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

RATE = 100
_THREADS = (
    ("relay", "OutboxRelay._run"),
    ("kafka-producer", "Sender.run"),
    ("kafka-heartbeat", "HeartbeatThread"),
    ("metrics-http", "serve_forever"),
    ("main", "Worker.run"),
)
_BOILERPLATE = 0.99  # frames on (nearly) every main-thread sample: runpy, typer, Worker.run


def py_spy() -> str | None:
    """The py-spy executable next to this interpreter, or on PATH."""
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def main_thread(pid: int, frames: int = 14) -> str:
    """The top of a process's main-thread stack (`py-spy dump`), for a stall diagnosis."""
    exe = py_spy()
    if exe is None:
        return f"{pid}: py-spy not found"
    try:
        done = subprocess.run(
            [exe, "dump", "--pid", str(pid)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{pid}: py-spy dump failed: {exc}"
    lines = done.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if "MainThread" in line), 0)
    return f"worker {pid}:\n" + "\n".join(lines[start : start + frames + 1])


class Profiler:
    """Records a process with py-spy in a background thread."""

    def __init__(self, pid: int, seconds: int, out_dir: Path) -> None:
        self.pid = pid
        self.seconds = seconds
        self.files = {
            "wall": out_dir / f"py-spy-{pid}-wall.txt",
            "cpu": out_dir / f"py-spy-{pid}-cpu.txt",
        }
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, name="py-spy", daemon=True)

    def __enter__(self) -> Profiler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(2 * self.seconds + 30)

    def _run(self) -> None:
        exe = py_spy()
        if exe is None:
            self.errors.append("py-spy not found")
            return
        for kind, path in self.files.items():
            idle = ["--idle"] if kind == "wall" else []
            command = [exe, "record", *idle, "-r", str(RATE), "-d", str(self.seconds)]
            command += ["-f", "raw", "-o", str(path), "--pid", str(self.pid)]
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=self.seconds + 30, check=False
            )
            if done.returncode != 0:
                self.errors.append(f"{kind}: {done.stderr.strip()[-300:]}")

    def summary(self, top: int = 15) -> dict[str, Any]:
        """Top entries of both recordings."""
        out: dict[str, Any] = {"pid": self.pid, "seconds": self.seconds, "errors": self.errors}
        for kind, path in self.files.items():
            if path.exists():
                out[kind] = summarize(path, self.seconds * RATE, top)
                out[kind]["file"] = str(path)
        return out


def _stacks(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def _thread(frames: list[str]) -> str:
    joined = ";".join(frames)
    return next((name for name, marker in _THREADS if marker in joined), "other")


def summarize(path: Path, expected: int, top: int = 15) -> dict[str, Any]:
    """Samples per thread; the main thread's incidentd frames and hot spots (% of its samples).

    A hot spot is the deepest incidentd frame of a sample with the frame it was in (a wait
    on PostgreSQL shows as `... -> Connection.wait`).
    """
    threads: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    spots: Counter[str] = Counter()
    for frames, count in _stacks(path):
        name = _thread(frames)
        threads[name] += count
        if name != "main":
            continue
        ours = [f for f in frames if "incidentd/" in f]
        spots[f"{ours[-1] if ours else '-'} -> {frames[-1]}"] += count
        inclusive.update(dict.fromkeys(set(ours), count))
    main = threads["main"] or 1
    return {
        "samples": sum(threads.values()),
        "expected_per_thread": expected,
        "thread_samples": dict(threads.most_common()),
        "main_inclusive_pct": [
            [round(100 * n / main, 1), frame]
            for frame, n in inclusive.most_common()
            if n < _BOILERPLATE * main
        ][: 2 * top],
        "main_hotspots_pct": [[round(100 * n / main, 1), f] for f, n in spots.most_common(top)],
    }
