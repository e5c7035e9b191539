"""What the frontend sees of a model instance, and the batch loop every instance runs.

``Instance.submit(x)`` sends one query (a tensor of the model's input shape, no batch
dimension) and returns a ``Pending``: awaitable for the output tensor, cancellable. An
instance that lost the query (outage) never completes it, or completes it with
``InstanceDown``; the frontend's timers decide what happens then.

``ModelRunner`` is the part both implementations share (local threads and Ray Serve
replicas): run a batch through the model, hold the instance for its service time and
faults, and say which queries were lost.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Callable, List, Optional, Sequence

import torch
from torch import Tensor

from .faults import NO_FAULTS, FaultPlan, ServiceTime


class InstanceDown(RuntimeError):
    """The instance lost this query (it was down when the query arrived or ran)."""


class Pending:
    """One query in flight on an instance: ``await pending`` gives the output tensor."""

    def __await__(self):
        raise NotImplementedError

    def cancel(self) -> None:
        """Drop the query if it has not run yet; its result is no longer wanted."""
        raise NotImplementedError


class Instance:
    """A model instance: a deployed model or a parity model, local or remote."""

    name: str = "instance"

    def submit(self, x: Tensor) -> Pending:
        raise NotImplementedError

    async def set_faults(self, plan: FaultPlan, epoch: float) -> None:
        """Inject ``plan`` from now on; its windows count from ``epoch`` (a time.time())."""
        raise NotImplementedError

    async def served(self) -> int:
        """How many queries this instance has answered so far."""
        raise NotImplementedError

    async def close(self) -> None:
        """Stop serving; queries still queued are dropped."""


class ModelRunner:
    """Runs batches of queries through ``model`` with service time and injected faults.

    model: (B, *S) -> (B, *O) tensors, called without autograd.
    """

    def __init__(self, model: Callable[[Tensor], Tensor], service: ServiceTime = ServiceTime(),
                 plan: FaultPlan = NO_FAULTS, epoch: Optional[float] = None) -> None:
        self.model = model
        self.service = service
        self.served = 0  # queries answered
        self.set_faults(plan, time.time() if epoch is None else epoch)

    def set_faults(self, plan: FaultPlan, epoch: float) -> None:
        self.plan = plan
        self.epoch = epoch
        self.rng = random.Random(plan.seed)

    def now(self) -> float:
        """Seconds since the fault plan's epoch."""
        return time.time() - self.epoch

    def lost(self, arrived: float) -> bool:
        """Whether a query that arrived at ``arrived`` (seconds since the epoch) is lost now."""
        return self.plan.down_until(arrived) is not None or self.plan.down_until(self.now()) is not None

    def forward(self, xs: Sequence[Tensor]) -> List[Tensor]:
        with torch.inference_mode():
            return list(self.model(torch.stack(list(xs))).unbind(0))

    async def run(self, xs: Sequence[Tensor], arrivals: Sequence[float],
                  forward: Optional[Callable] = None) -> List[Optional[Tensor]]:
        """Outputs of a batch, None for each lost query, after the batch's service time.

        forward: how to run the model (default inline; local instances pass a thread hop).
        """
        keep = [i for i, arrived in enumerate(arrivals) if not self.lost(arrived)]
        results: List[Optional[Tensor]] = [None] * len(xs)
        if not keep:
            return results
        started = self.now()
        batch = [xs[i] for i in keep]
        outputs = await forward(batch) if forward is not None else self.forward(batch)
        delay = self.plan.batch_delay(self.rng, started, self.service.draw(self.rng, len(batch)))
        await asyncio.sleep(max(0.0, delay - (self.now() - started)))
        if self.plan.down_until(self.now()) is not None:
            return results  # went down while this batch ran: all of it lost
        for i, out in zip(keep, outputs):
            results[i] = out
        self.served += len(keep)
        return results

    def outage_left(self) -> float:
        """Seconds until the current outage ends (0 when up)."""
        now = self.now()
        end = self.plan.down_until(now)
        return 0.0 if end is None else end - now
