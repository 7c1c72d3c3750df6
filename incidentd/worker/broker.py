"""incidentd's door to Kafka for everything but consuming: producers, topic administration,
and the one mapping of the client's errors to `BrokerError`.

With `incidentd.worker.source` (the consumers) it is the only module that imports the Kafka
client; import-linter holds every other module to that. Callers get producers as opaque
objects (`send`, `flush`, `close`), run client calls inside `broker_errors()`, and catch
`BrokerError` (or its `RecordTooLargeError`), never kafka-python's exceptions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError

from incidentd.schemas.settings import Settings

MAX_DEAD_LETTER_BYTES = 100 * 1024 * 1024  # a dead letter keeps the original bytes
# One attempt to commit offsets or to publish dead letters; a failed attempt is retried with
# backoff, so an unreachable broker never blocks the loop (and /healthz) for long.
KAFKA_ATTEMPT_SECONDS = 10.0
_REPLAY_MAX_REQUEST_BYTES = 64 * 1024 * 1024  # the broker, not this client, decides
_TOPIC_ALREADY_EXISTS = 36
_TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError)


class BrokerError(Exception):
    """The broker did not answer or take a request; a later attempt may succeed."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind  # the client's name for the failure, for /healthz and logs


class RecordTooLargeError(BrokerError):
    """The producer or the broker refused a record for its size."""


class TopicCreationError(BrokerError):
    """The broker refused to create some topics."""


def broker_error(exc: Exception) -> BrokerError:
    """The client's exception as a `BrokerError` (a `RecordTooLargeError` for a size refusal)."""
    kind = RecordTooLargeError if isinstance(exc, _TOO_LARGE) else BrokerError
    return kind(type(exc).__name__, str(exc))


@contextmanager
def broker_errors() -> Iterator[None]:
    """Raise the client's errors inside the block as `BrokerError`s."""
    try:
        yield
    except KafkaError as exc:
        raise broker_error(exc) from exc


def open_producer(settings: Settings) -> Any:
    """The producer of incident events and dead letters; raises BrokerError."""
    with broker_errors():
        return KafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            max_request_size=MAX_DEAD_LETTER_BYTES,
            acks="all",
            linger_ms=5,
            max_in_flight_requests_per_connection=1,
            retries=2**31 - 1,
            # Idempotent where the broker supports it (Apache Kafka): a send retried after a
            # lost answer is not written twice. Off on Tansu, which answers a batch retried
            # across its own restart with DUPLICATE_SEQUENCE_NUMBER without having kept it
            # (kafka-python takes that as success: the event would be lost). Off, events and
            # dead letters go at least once (consumers drop duplicates by event_id/version);
            # with one request in flight a retry cannot reorder anything either way.
            enable_idempotence=settings.producer_idempotence,
            # A send waiting for metadata or buffer space fails after this instead of 60 s, so
            # a dead-letter attempt (retried with backoff) never outlasts the main-loop check.
            max_block_ms=int(KAFKA_ATTEMPT_SECONDS * 1000),
            client_id="incidentd-worker",
        )


def open_replay_producer(bootstrap_servers: str) -> Any:
    """The producer of `incidentd dlq replay` (acks from all replicas); raises BrokerError."""
    with broker_errors():
        return KafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id="incidentd-dlq-replay",
            acks="all",
            linger_ms=5,
            max_request_size=_REPLAY_MAX_REQUEST_BYTES,
        )


def publish(
    bootstrap_servers: str, topic: str, records: Sequence[tuple[bytes | None, bytes | None]]
) -> None:
    """Send `(key, value)` records to `topic` and wait until they are sent; raises BrokerError."""
    with broker_errors():
        producer = KafkaProducer(bootstrap_servers=bootstrap_servers, linger_ms=5)
        for key, value in records:
            producer.send(topic, key=key, value=value)
        producer.flush()
        producer.close()


def create_topics(bootstrap_servers: str, names: Sequence[str], partitions: int = 4) -> None:
    """Create topics (replication 1) and wait for their metadata; existing ones are kept.

    Raises TopicCreationError when the broker refuses one, BrokerError when it does not answer.
    """
    spec = {name: {"num_partitions": partitions, "replication_factor": 1} for name in names}
    with broker_errors():
        admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="incidentd-admin")
        try:
            result = admin.create_topics(spec, raise_errors=False)
            failed = [
                topic
                for topic in result["topics"]
                if topic["error_code"] not in (0, _TOPIC_ALREADY_EXISTS)
            ]
            if failed:
                raise TopicCreationError("CreateTopics", f"could not create topics: {failed}")
            admin.wait_for_topics(list(names))
        finally:
            admin.close()


def probe(bootstrap_servers: str) -> None:
    """Connect an admin client once and list topics; raises BrokerError while none answers."""
    with (
        broker_errors(),
        KafkaAdminClient(bootstrap_servers=bootstrap_servers, bootstrap_timeout_ms=1000) as admin,
    ):
        admin.list_topics()
