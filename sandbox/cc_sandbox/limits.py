"""Rate limits of the real API: 4 requests a second and 10,000 a day per client id, 1 a second on the token endpoint.

Each per-second limit is a token bucket that holds as many tokens as the limit (a burst of 4, then 4
a second). The daily quota counts requests let through per client id and UTC day. A limit of 0 is off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DAY = 86400


@dataclass
class Bucket:
    """A token bucket refilled at ``rate`` tokens a second up to ``rate`` tokens."""

    rate: float
    tokens: float
    updated: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.rate, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0 - 1e-9:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class Limits:
    """Buckets and daily counters, keyed by ``"<scope>:<client id>"``; hold the state's lock to use."""

    buckets: dict[str, Bucket] = field(default_factory=dict)
    day: int = -1
    used_today: dict[str, int] = field(default_factory=dict)

    def allow_rate(self, key: str, rate: float, now: float) -> bool:
        """Take one token from ``key``'s bucket (``rate`` a second); ``False`` when it is empty."""
        if rate <= 0:
            return True
        bucket = self.buckets.get(key)
        if bucket is None or bucket.rate != rate:
            bucket = self.buckets[key] = Bucket(rate, float(rate), now)
        return bucket.take(now)

    def quota_left(self, client_id: str, quota: int, now: float) -> bool:
        """Tell whether ``client_id`` may make one more request today (UTC)."""
        self._roll(now)
        return quota <= 0 or self.used_today.get(client_id, 0) < quota

    def count(self, client_id: str, now: float) -> None:
        """Count one request of ``client_id`` against today's quota."""
        self._roll(now)
        self.used_today[client_id] = self.used_today.get(client_id, 0) + 1

    def _roll(self, now: float) -> None:
        day = int(now // DAY)
        if day != self.day:  # the quota resets at 00:00:00 UTC
            self.day, self.used_today = day, {}

    def to_dict(self) -> dict[str, Any]:
        return {"day": self.day, "used_today": dict(self.used_today)}

    def load(self, data: dict[str, Any]) -> None:
        self.day, self.used_today = int(data.get("day", -1)), dict(data.get("used_today", {}))
