"""Adaptive (AIMD) bound on the number of judge requests in flight."""

from __future__ import annotations

import asyncio
import time


class AdaptiveLimiter:
    """Additive-increase / multiplicative-decrease concurrency limit, starting at ``maximum``.

    A 429 halves the limit, at most once per ``cooldown``. Each success adds half a slot below
    the limit before the last decrease (fast recovery), ``1 / limit`` above it. Waiters are woken
    only for free slots.
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
        self._last_decrease = float("-inf")
        self._recovery_target = float(maximum)
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
            free = int(self.limit) - self.in_flight
            if free > 0:
                self._condition.notify(free)

    def on_success(self) -> None:
        """Increase toward the configured maximum (fast up to the pre-throttle limit)."""
        step = 0.5 if self.limit < self._recovery_target else 1.0 / max(self.limit, 1.0)
        self.limit = min(float(self.maximum), self.limit + step)

    def on_throttle(self) -> None:
        """Multiplicative decrease (once per cooldown period)."""
        now = time.monotonic()
        if now - self._last_decrease >= self.cooldown:
            self._last_decrease = now
            self._recovery_target = self.limit
            self.limit = max(float(self.minimum), self.limit / 2.0)
            self.lowest = min(self.lowest, self.limit)
