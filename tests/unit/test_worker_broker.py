"""The producer/admin adapter's one mapping of kafka-python's errors to `BrokerError`."""

from __future__ import annotations

import pytest
from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError, RecordListTooLargeError

from incidentd.worker.broker import BrokerError, RecordTooLargeError, broker_errors


@pytest.mark.parametrize("error", [MessageSizeTooLargeError, RecordListTooLargeError])
def test_a_size_refusal_is_a_record_too_large_broker_error(error: type[Exception]) -> None:
    with pytest.raises(RecordTooLargeError) as caught, broker_errors():
        raise error("over max_request_size")
    assert caught.value.kind == error.__name__
    assert isinstance(caught.value, BrokerError)
    assert "over max_request_size" in str(caught.value)


def test_other_client_errors_are_broker_errors_named_after_the_failure() -> None:
    with pytest.raises(BrokerError) as caught, broker_errors():
        raise KafkaTimeoutError("no answer")
    assert type(caught.value) is BrokerError
    assert caught.value.kind == "KafkaTimeoutError"
    assert isinstance(caught.value.__cause__, KafkaTimeoutError)


def test_errors_that_are_not_the_clients_pass_unchanged() -> None:
    with pytest.raises(ValueError), broker_errors():
        raise ValueError("a bug, not the broker")
