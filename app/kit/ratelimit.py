"""In-memory token buckets, one per key."""

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
    def __init__(
        self, rate_per_second: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate_per_second
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[object, _Bucket] = {}

    MAX_KEYS = 100_000  # beyond, full buckets (keys not seen for a while) are forgotten

    def _bucket(self, key: object) -> _Bucket:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.MAX_KEYS:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        return bucket

    def _prune(self, now: float) -> None:
        full = self.burst / self.rate if self.rate > 0 else 0.0
        for key in [k for k, b in self._buckets.items() if now - b.updated >= full]:
            del self._buckets[key]

    def acquire(self, key: object) -> float | None:
        """Take one token. Returns None if allowed, else seconds until a token is available."""
        bucket = self._bucket(key)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self.rate if self.rate > 0 else float("inf")

    def charge(self, key: object, max_wait: float) -> float:
        """Take one token now, in debt if need be (at most `max_wait` seconds' worth);
        returns how long the caller should wait before going on (0: no wait)."""
        bucket = self._bucket(key)
        bucket.tokens = max(bucket.tokens - 1.0, -max_wait * self.rate)
        return -bucket.tokens / self.rate if bucket.tokens < 0 and self.rate > 0 else 0.0
