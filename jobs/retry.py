"""Retry policies: how many more attempts a failed job gets, after what delay, and what
happens when they run out.

Semantics follow Hangfire's AutomaticRetry: `attempts` counts the retries after the first run
(attempts=3 means at most 4 runs); `delays` gives the wait before retry 1, 2, 3 … (the last one
repeats). The policy is frozen into the Job row as JSON at enqueue, so a deploy that changes a
task's policy does not change jobs already queued.
"""

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.module_loading import import_string

from jobs.conf import jobs_settings

ON_EXHAUSTED = ("fail", "delete")


def hangfire_delay(retry: int) -> float:
    """Hangfire's default back-off: grows as retry**4, plus jitter that grows with the retry."""
    return round((retry - 1) ** 4 + 15 + random.randint(0, 29) * retry)


def _path(obj) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


@dataclass(frozen=True)
class Retry:
    attempts: int = 10
    delays: Sequence[float] = ()
    # A function of the retry number (1-based) returning seconds; used when `delays` is empty.
    delay: Callable[[int], float] | None = None
    # A fraction of each delay added at random, so many failed jobs do not retry in lockstep.
    jitter: float = 0.0
    # Retry only on these exception classes (empty: on any), never on those.
    retry_on: tuple[type[BaseException], ...] = ()
    never_on: tuple[type[BaseException], ...] = ()
    on_exhausted: str = "fail"

    def __post_init__(self):
        if not isinstance(self.attempts, int) or self.attempts < 0:
            raise ValueError(f"Retry attempts must be a whole number >= 0, not {self.attempts!r}.")
        if any((not isinstance(d, int | float)) or d < 0 for d in self.delays):
            raise ValueError(f"Retry delays must be seconds >= 0, not {list(self.delays)!r}.")
        if self.on_exhausted not in ON_EXHAUSTED:
            raise ValueError(f"on_exhausted must be one of {ON_EXHAUSTED}, not {self.on_exhausted!r}.")
        if self.delay is not None and not callable(self.delay):
            raise ValueError("Retry delay must be a function of the retry number.")
        if not 0 <= self.jitter <= 1:
            raise ValueError("Retry jitter is a fraction between 0 and 1.")

    def to_json(self) -> dict:
        return {
            "attempts": self.attempts,
            "delays": list(self.delays),
            "delay": _path(self.delay) if self.delay else None,
            "jitter": self.jitter,
            "retry_on": [_path(e) for e in self.retry_on],
            "never_on": [_path(e) for e in self.never_on],
            "on_exhausted": self.on_exhausted,
        }

    @classmethod
    def from_json(cls, data: dict | None) -> "Retry":
        if not data:
            return default_policy()
        return cls(
            attempts=data.get("attempts", 10),
            delays=tuple(data.get("delays") or ()),
            delay=import_string(data["delay"]) if data.get("delay") else None,
            jitter=data.get("jitter", 0.0),
            retry_on=tuple(import_string(p) for p in data.get("retry_on", ())),
            never_on=tuple(import_string(p) for p in data.get("never_on", ())),
            on_exhausted=data.get("on_exhausted", "fail"),
        )

    def delay_for(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1-based)."""
        if self.delays:
            base = float(self.delays[min(retry, len(self.delays)) - 1])
        elif self.delay is not None:
            base = float(self.delay(retry))
        else:
            return float(hangfire_delay(retry))
        return base + (base * self.jitter * random.random() if self.jitter else 0.0)

    def should_retry(self, exc: BaseException | None, retry: int) -> bool:
        """Whether a job whose run just failed with `exc` gets retry number `retry`."""
        if retry > self.attempts:
            return False
        if exc is not None:
            if self.never_on and isinstance(exc, self.never_on):
                return False
            if self.retry_on and not isinstance(exc, self.retry_on):
                return False
        return True


def default_policy() -> Retry:
    options = dict(jobs_settings.DEFAULT_RETRY or {})
    return Retry(**options)
