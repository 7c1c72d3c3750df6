"""One retry policy for every loop that retries: exponential backoff, jitter, a ceiling and
an optional give-up count.

A `RetryPolicy` is a value (frozen, shared freely); a `Backoff` is the state of one loop
that waits between consecutive failures and starts over after a success. Jitter draws each
wait between `(1 - jitter)` and 1 times the exponential delay, so workers that failed
together do not retry together.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait after a failure, and when to stop trying."""

    initial: float
    ceiling: float
    multiplier: float = 2.0
    jitter: float = 0.0
    give_up_after: int | None = None
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, failures: int) -> float:
        """Seconds to wait after `failures` consecutive failures (1 for the first)."""
        exponent = min(max(failures - 1, 0), 64)
        base = min(self.ceiling, self.initial * self.multiplier**exponent)
        return base * (1.0 - self.jitter * self.rng.random()) if self.jitter else base

    def gives_up(self, attempts: int) -> bool:
        """Whether `attempts` failed attempts are all this policy allows."""
        return self.give_up_after is not None and attempts >= self.give_up_after

    def after_failure(self, attempts: int) -> float | None:
        """Wait before the next attempt once `attempts` attempts failed; None: give up."""
        return None if self.gives_up(attempts) else self.delay(attempts)

    def backoff(self) -> Backoff:
        """The state of one loop retrying under this policy."""
        return Backoff(self)


class Backoff:
    """Consecutive failures of one loop; `reset` after a success."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.failures = 0

    def next(self) -> float:
        """Count a failure; seconds to wait before trying again."""
        self.failures += 1
        return self.policy.delay(self.failures)

    def reset(self) -> None:
        """The last attempt succeeded."""
        self.failures = 0
