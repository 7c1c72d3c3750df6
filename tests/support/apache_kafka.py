"""Apache Kafka itself, in KRaft mode, for the broker matrix (DESIGN.md, "Tests", item 4).

The jars come from Maven Central through Maven (`tests/support/maven/pom.xml`); they stay in
~/.m2 and the resolved class path is remembered under ~/.cache/incidentd, so only the first run
on a machine needs the network. One combined broker/controller listens on two loopback ports,
keeps its data in a temporary directory (formatted by `kafka.tools.StorageTool`) and is started
with `kafka.Kafka`; `kill()` and `start()` crash and restart it on the same ports and data.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import struct
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from incidentd.app.embedded import BrokerProcess, ServiceError, free_port

MAVEN_DIR = Path(__file__).resolve().parent / "maven"
POM = MAVEN_DIR / "pom.xml"
LOG_CONFIG = MAVEN_DIR / "log4j2.properties"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "incidentd"
MAVEN_TIMEOUT_SECONDS = 900.0  # the first download is ~55 MB
# Small and quick: one JVM shared by a whole test session on a 2-core machine.
JVM_OPTIONS = ("-Xms256m", "-Xmx768m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")


CODECS = ("none", "gzip", "snappy", "lz4", "zstd")  # by the id in a batch's attributes


class StoredBatch(NamedTuple):
    """What a record batch's header says, as the broker stored it."""

    codec: str
    producer_id: int  # -1 unless an idempotent (or transactional) producer wrote it


def class_path() -> str:
    """The broker's and tools' class path, resolved by Maven once per version of the pom."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:16]
    cached = CACHE_DIR / f"apache-kafka-{digest}.classpath"
    if cached.exists():
        jars = cached.read_text().strip()
        if all(Path(jar).is_file() for jar in jars.split(os.pathsep)):
            return jars
    if shutil.which("mvn") is None:
        raise ServiceError("Apache Kafka for the tests needs Maven (`mvn`) on PATH")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    out = cached.with_suffix(f".{os.getpid()}.tmp")
    command = ["mvn", "-B", "-q", "-f", str(POM), "dependency:build-classpath"]
    done = subprocess.run(
        [*command, f"-Dmdep.outputFile={out}"],
        capture_output=True,
        text=True,
        timeout=MAVEN_TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0 or not out.exists():
        raise ServiceError(
            f"Maven could not resolve Apache Kafka ({' '.join(command)} exited "
            f"{done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    out.replace(cached)
    return cached.read_text().strip()


def cluster_id() -> str:
    """A KRaft cluster id: a random UUID, URL-safe base64 without padding, as Kafka makes."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # Kafka avoids ids a command line would take for a flag
            return text


class ApacheKafka(BrokerProcess):
    """A one-node Apache Kafka (KRaft, broker and controller in one JVM) on 127.0.0.1.

    Topics and offsets survive `stop()`, `kill()` and `restart()` (same ports and data)."""

    idempotent_producer = True
    label = "Apache Kafka"
    run_prefix = "incidentd-kafka-"
    log_name = "kafka.log"
    stop_grace = 30.0  # a clean stop (SIGTERM) may take a while
    close_grace = 10.0
    probe_interval = 0.2

    def __init__(self, *, start_timeout: float = 120.0) -> None:
        super().__init__(start_timeout=start_timeout)
        self.controller_port = free_port()
        self.data_dir = self._run_dir / "data"
        self.config_path = self._run_dir / "server.properties"
        self._class_path = ""

    def java(self, main: str, *args: str) -> list[str]:
        """A command line running `main` of the Kafka jars (the tools included)."""
        if not self._class_path:
            self._class_path = class_path()
        return [
            "java",
            *JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={LOG_CONFIG}",
            "-cp",
            self._class_path,
            main,
            *args,
        ]

    def log_tail(self, lines: int = 40) -> str:
        """The end of the broker's log (warnings and errors), for a failing test's message."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def _command(self) -> list[str]:
        """Format the storage on first start; the broker's command line."""
        if not self.config_path.exists():
            self._format()
        return self.java("kafka.Kafka", str(self.config_path))

    def _format(self) -> None:
        """Write the configuration and format the data directory (`StorageTool format`)."""
        self.config_path.write_text(self._properties())
        command = self.java(
            "kafka.tools.StorageTool", "format", "-t", cluster_id(), "-c", str(self.config_path)
        )
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=self.start_timeout, check=False
        )
        if done.returncode != 0:
            raise ServiceError(f"formatting Kafka's storage failed:\n{done.stdout}{done.stderr}")

    def _properties(self) -> str:
        """The broker's configuration: one node, loopback only, sized for tests."""
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "4",
            "offsets.topic.num.partitions": "4",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Tests join groups often and use 5 s sessions (the default minimum is 6 s).
            "group.initial.rebalance.delay.ms": "0",
            "group.min.session.timeout.ms": "1000",
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())


def stored_batches(kafka: ApacheKafka, topic: str) -> Iterator[StoredBatch]:
    """The record batches of `topic` in the broker's log files (format v2 headers)."""
    for segment in kafka.data_dir.glob(f"{topic}-*/*.log"):
        data = segment.read_bytes()
        at = 0
        # baseOffset int64, batchLength int32, ..., attributes int16 at 21, producerId at 43
        while at + 51 <= len(data):
            (length,) = struct.unpack_from(">i", data, at + 8)
            (attributes,) = struct.unpack_from(">h", data, at + 21)
            (producer_id,) = struct.unpack_from(">q", data, at + 43)
            yield StoredBatch(CODECS[attributes & 0x7], producer_id)
            at += 12 + length
