"""Adaptive (AIMD) bound on the number of judge requests in flight."""

from __future__ import annotations

import asyncio
import time


class AdaptiveLimiter:
    """Additive-increase / multiplicative-decrease concurrency limit.

    Starts at ``maximum``. A throttle signal (HTTP 429) halves the limit, at most once
    per ``cooldown`` seconds so that one burst of 429s counts once; each success adds
    ``1 / limit``, so the limit climbs back by about one slot per window of requests.
    """

    def __init__(self, maximum: int, *, minimum: int = 1, cooldown: float = 1.0) -> None:
        if maximum < 1:
            raise ValueError("maximum concurrency must be at least 1")
        self.maximum = maximum
        self.minimum = max(1, min(minimum, maximum))
        self.cooldown = cooldown
        self.limit = float(maximum)
        self.lowest = float(maximum)
        self.in_flight = 0
        self.peak_in_flight = 0
        self.throttles = 0
        self._last_decrease = float("-inf")
        self._condition = asyncio.Condition()

    async def acquire(self) -> None:
        """Wait for a free slot under the current limit, then take it."""
        async with self._condition:
            await self._condition.wait_for(lambda: self.in_flight < int(self.limit))
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    async def release(self) -> None:
        """Give a slot back."""
        async with self._condition:
            self.in_flight -= 1
            self._condition.notify_all()

    def on_success(self) -> None:
        """Additive increase toward the configured maximum."""
        self.limit = min(float(self.maximum), self.limit + 1.0 / max(self.limit, 1.0))

    def on_throttle(self) -> None:
        """Multiplicative decrease (once per cooldown period)."""
        self.throttles += 1
        now = time.monotonic()
        if now - self._last_decrease >= self.cooldown:
            self._last_decrease = now
            self.limit = max(float(self.minimum), self.limit / 2.0)
            self.lowest = min(self.lowest, self.limit)
