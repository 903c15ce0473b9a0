"""Opt-in retry of calls the service refused for capacity (RESOURCE_EXHAUSTED).

Only those are retried: the service refuses them before anything runs, so a retry never runs code twice.
"""

import time
from dataclasses import dataclass
from typing import Callable, Optional, TypeVar

from .errors import ResourceExhaustedError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryEvent:
    """One refused attempt: its number (1 for the first), the wait before the next, and the refusal."""

    attempt: int
    delay_ms: int
    error: ResourceExhaustedError


@dataclass(frozen=True)
class Retry:
    """``max_attempts`` in all, the first included (1 = no retry). A refusal whose hint is longer than
    ``max_delay_ms`` is raised at once; without a hint the client waits ``fallback_delay_ms``, doubled
    per attempt. ``on_retry`` is called before each wait."""

    max_attempts: int
    max_delay_ms: int = 30_000
    fallback_delay_ms: int = 1000
    on_retry: Optional[Callable[[RetryEvent], None]] = None


def with_retry(attempt: Callable[[], T], retry: Optional[Retry]) -> T:
    """Calls ``attempt`` until it returns, raises anything but ResourceExhaustedError, or the budget is spent."""
    max_attempts = max(1, retry.max_attempts) if retry else 1
    number = 1
    while True:
        try:
            return attempt()
        except ResourceExhaustedError as error:
            if retry is None or number >= max_attempts:
                raise
            fallback = retry.fallback_delay_ms * 2 ** (number - 1)
            delay_ms = error.retry_after_ms if error.retry_after_ms is not None else fallback
            if delay_ms > retry.max_delay_ms:
                raise
            if retry.on_retry:
                retry.on_retry(RetryEvent(number, delay_ms, error))
            time.sleep(delay_ms / 1000)
            number += 1
