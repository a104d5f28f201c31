"""Reconnect delays shared by every client that retries: cameras, brokers."""

from __future__ import annotations

import random


def backoff_s(attempt: int, *, min_s: float, max_s: float, rng: random.Random) -> float:
    """Delay before retry `attempt` (0 = first): min_s·2^attempt capped at max_s, equal jitter.

    Jitter spreads boxes that lost the same broker or camera server so that they do not all
    come back in the same instant; the delay never drops below min_s.
    """
    hi = min(max(min_s, max_s), min_s * 2 ** min(max(attempt, 0), 30))
    return rng.uniform(max(min_s, hi / 2), hi)
