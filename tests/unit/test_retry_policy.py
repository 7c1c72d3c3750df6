"""The one retry policy: exponential growth, ceiling, jitter bounds, giving up, loop state."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from incidentd.worker.retry import RetryPolicy


def test_delays_double_up_to_the_ceiling() -> None:
    policy = RetryPolicy(0.5, 4.0)
    assert [policy.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert policy.delay(10_000) == 4.0  # no overflow however long the outage


@given(st.integers(min_value=1, max_value=200), st.integers(min_value=0, max_value=2**32))
def test_jitter_stays_within_its_fraction_of_the_delay(failures: int, seed: int) -> None:
    plain = RetryPolicy(0.1, 30.0)
    jittered = RetryPolicy(0.1, 30.0, jitter=0.25, rng=random.Random(seed))
    delay = jittered.delay(failures)
    assert 0.75 * plain.delay(failures) <= delay <= plain.delay(failures)


def test_jitter_spreads_workers_that_failed_together() -> None:
    delays = {RetryPolicy(1.0, 60.0, jitter=0.5, rng=random.Random(s)).delay(3) for s in range(8)}
    assert len(delays) > 1


def test_gives_up_after_the_count_and_never_without_one() -> None:
    policy = RetryPolicy(1.0, 600.0, give_up_after=3)
    assert policy.after_failure(1) == 1.0
    assert policy.after_failure(2) == 2.0
    assert policy.after_failure(3) is None
    assert RetryPolicy(1.0, 600.0).after_failure(10_000) == 600.0


def test_backoff_counts_consecutive_failures_and_starts_over_after_success() -> None:
    backoff = RetryPolicy(1.0, 8.0).backoff()
    assert [backoff.next() for _ in range(3)] == [1.0, 2.0, 4.0]
    backoff.reset()
    assert backoff.next() == 1.0
