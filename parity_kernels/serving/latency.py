"""Recent latencies and their percentiles: where deadlines, hedges and retries come from."""

from __future__ import annotations

import bisect
from collections import deque


class LatencyTracker:
    """A sliding window of the last ``window`` latencies (seconds).

    ``percentile(p)`` is ``default_s`` until ``min_samples`` have been seen, so timers
    have a sane value from the first query on.
    """

    def __init__(self, window: int = 2000, default_s: float = 0.1, min_samples: int = 20) -> None:
        if window < 1 or min_samples < 1 or default_s <= 0:
            raise ValueError("window >= 1, min_samples >= 1 and default_s > 0 expected")
        self.default_s = default_s
        self.min_samples = min_samples
        self._recent: deque = deque(maxlen=window)
        self._sorted: list = []

    def record(self, seconds: float) -> None:
        if len(self._recent) == self._recent.maxlen:
            old = self._recent[0]
            del self._sorted[bisect.bisect_left(self._sorted, old)]
        self._recent.append(seconds)
        bisect.insort(self._sorted, seconds)

    def __len__(self) -> int:
        return len(self._recent)

    def percentile(self, p: float) -> float:
        """The p-th percentile (0 < p <= 100) of the window, nearest rank."""
        if len(self._sorted) < self.min_samples:
            _check_percentile(p)
            return self.default_s
        return nearest_rank(self._sorted, p)


def _check_percentile(p: float) -> None:
    if not 0 < p <= 100:
        raise ValueError(f"p: expected 0 < p <= 100, got {p}")


def nearest_rank(ordered, p: float) -> float:
    """The p-th percentile (0 < p <= 100) of ascending, non-empty ``ordered``: nearest rank."""
    _check_percentile(p)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil
    return ordered[int(rank) - 1]
