"""Failure throttles in Redis: what slows password guessing without locking out the owner.

Only failures are counted. Two counters per kind (order lookups, staff logins):

* per client address, in fixed windows (``"10 per minute;50 per hour"``; also ``10/minute``,
  ``100 per 2 hours``, separated by ``;``, ``,`` or ``|``): an address over a limit is refused
  before its answer is checked, until the window ends;
* per subject (an order number, a username): after ``FAILURES_BEFORE_DELAY`` failures each
  further failure makes the subject wait, doubling up to ``FAILURE_DELAY_MAX_SECONDS``. While
  it waits a *wrong* answer is refused with the wait, but the answer is still checked, so the
  holder of the right password always gets in: a stranger cannot lock the owner out.

Times come from the caller (``context.now()``), so tests move a clock instead of sleeping.
Redis errors propagate: the web layer answers 503 with ``Retry-After`` (fail closed).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from redis import Redis

#: a window's length by its unit's name (singular or plural, any case)
UNIT_SECONDS = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "month": 30 * 86400,
    "year": 360 * 86400,
}
_LIMIT = re.compile(r"\s*([0-9]+)\s*(?:/|per)\s*([0-9]+)?\s*([a-z]+?)s?\s*", re.IGNORECASE)
_SEPARATOR = re.compile(r"[,;|]")


def parse_limits(text: str) -> list[tuple[int, int]]:
    """``"10 per minute;50 per hour"`` as (amount, window seconds) pairs; ValueError if any part
    is not ``N per [M] unit`` (or ``N/[M] unit``)."""
    windows = []
    for part in _SEPARATOR.split(text):
        m = _LIMIT.fullmatch(part)
        unit = m.group(3).lower() if m else ""
        if not m or unit not in UNIT_SECONDS or m.group(2) == "0":
            raise ValueError(f"not a rate limit: {part.strip()!r} (write e.g. '10 per minute')")
        windows.append((int(m.group(1)), int(m.group(2) or 1) * UNIT_SECONDS[unit]))
    return windows


@dataclass(frozen=True)
class ThrottleRules:
    """How many failures an address may make, and when a subject starts to wait."""

    address_limits: str
    free_failures: int
    max_delay_seconds: int
    #: a subject's failure count is forgotten this long after its last failure
    subject_memory_seconds: int = 86400


def _digest(value: str) -> str:
    # keys never hold what a client typed (length, control characters, personal data)
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class FailureThrottle:
    """Counts failures of one kind (``"lookup"``, ``"login"``) per address and per subject."""

    def __init__(self, kind: str, connection: Callable[[], Redis], rules: ThrottleRules) -> None:
        self.kind = kind
        self._conn = connection
        self.rules = rules
        self._windows = parse_limits(rules.address_limits)

    def _address_keys(self, address: str, now: int) -> list[tuple[str, int, int]]:
        return [
            (
                f"portal:fail:{self.kind}:a:{_digest(address)}:{seconds}:{now // seconds}",
                amount,
                seconds,
            )
            for amount, seconds in self._windows
        ]

    def _subject_key(self, subject: str) -> str:
        return f"portal:fail:{self.kind}:s:{_digest(subject)}"

    def address_wait(self, address: str, now: float) -> int:
        """Seconds this address must wait before its next attempt (0: it may try now)."""
        t = int(now)
        keys = self._address_keys(address, t)
        counts = cast("list[bytes | None]", self._conn().mget([key for key, _, _ in keys]))
        wait = 0
        for (_, amount, seconds), count in zip(keys, counts, strict=True):
            if count is not None and int(count) >= amount:
                wait = max(wait, seconds - t % seconds)
        return wait

    def subject_wait(self, subject: str, now: float) -> int:
        """Seconds until a wrong answer for this subject is checked again (0: not waiting)."""
        until = cast("bytes | None", self._conn().hget(self._subject_key(subject), "until"))
        return max(0, int(float(until) - now + 0.999)) if until is not None else 0

    def failed(self, address: str, subject: str, now: float) -> int:
        """Count one failure; the subject's new wait in seconds (0 while failures are free)."""
        t = int(now)
        conn = self._conn()
        pipe = conn.pipeline()
        for key, _, seconds in self._address_keys(address, t):
            pipe.incr(key)
            pipe.expire(key, seconds + 1)
        skey = self._subject_key(subject)
        pipe.hincrby(skey, "n", 1)
        pipe.expire(skey, self.rules.subject_memory_seconds)
        results = pipe.execute()
        failures = int(results[-2])
        over = failures - self.rules.free_failures
        if over <= 0:
            return 0
        delay = min(self.rules.max_delay_seconds, 2 ** min(over, 30))
        conn.hset(skey, "until", str(now + delay))
        return delay
