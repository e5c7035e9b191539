"""The setups ParM is measured against: no redundancy (``Frontend`` itself, on m or on
m + m/k instances) and hedged requests."""

from __future__ import annotations

import asyncio
from typing import Optional, Sequence

from .frontend import Frontend, Timeouts, _Query
from .instance import Instance
from .metrics import FrontendMetrics

UncodedFrontend = Frontend  # each query to one instance; re-sent only on timeout


class HedgedFrontend(Frontend):
    """Hedged requests (Dean and Barroso, "The Tail at Scale"): a query unanswered after the
    ``hedge_percentile`` of observed latencies is sent to a second instance; the first
    answer wins and the other request is cancelled.

    max_extra_load: hedges stay within this fraction of the queries (None: no cap). With
    1/k it adds the load ParM's SumCode adds.
    """

    def __init__(self, deployed: Sequence[Instance], *, hedge_percentile: float = 95.0,
                 max_extra_load: Optional[float] = None, timeouts: Timeouts = Timeouts(),
                 metrics: Optional[FrontendMetrics] = None) -> None:
        super().__init__(deployed, timeouts=timeouts, metrics=metrics)
        if not 0 < hedge_percentile <= 100:
            raise ValueError(f"hedge_percentile: expected 0 < p <= 100, got {hedge_percentile}")
        if max_extra_load is not None and max_extra_load < 0:
            raise ValueError(f"max_extra_load: expected >= 0, got {max_extra_load}")
        self.hedge_percentile = hedge_percentile
        self.max_extra_load = max_extra_load
        self._sent = 0
        self._hedged = 0

    def _admit(self, query: _Query) -> None:
        self._sent += 1
        self._send(query, self.deployed)
        asyncio.get_running_loop().call_later(self.latency.percentile(self.hedge_percentile), self._hedge, query)

    def _hedge(self, query: _Query) -> None:
        if query.answered or self._closed:
            return
        if self.max_extra_load is not None and self._hedged + 1 > self.max_extra_load * self._sent:
            self.metrics.inc("hedges_skipped")
            return
        self._hedged += 1
        self.metrics.inc("hedges")
        instance = self._pick(self.deployed, exclude=set(query.requests.values()))
        pending = self._request(instance, query.x, lambda out: self._hedge_arrived(query, out, pending))
        query.requests[pending] = instance

    def _hedge_arrived(self, query: _Query, output, pending) -> None:
        query.requests.pop(pending, None)
        if query.answered:
            self.metrics.inc("late_outputs")
            return
        self._answer(query, output, "hedge")
