"""Model instances in this process: an asyncio batch loop per instance, the model's
forward on the instance's own thread (torch releases the GIL), as a small server would."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional

from torch import Tensor

from .faults import NO_FAULTS, FaultPlan, ServiceTime
from .instance import Instance, ModelRunner, Pending


@dataclass
class _Entry:
    x: Tensor
    arrived: float  # seconds since the fault epoch
    future: asyncio.Future
    cancelled: bool = field(default=False)


class _LocalPending(Pending):
    def __init__(self, entry: _Entry) -> None:
        self._entry = entry

    def __await__(self):
        return self._entry.future.__await__()

    def cancel(self) -> None:
        self._entry.cancelled = True
        self._entry.future.cancel()


class LocalInstance(Instance):
    """A model served from this process.

    model: (B, *S) -> (B, *O). Queries queue up; the loop takes up to ``max_batch`` of them,
    waiting at most ``batch_wait_s`` after the first for more, runs them as one batch, and
    holds the instance for the batch's service time and faults (``ModelRunner``). A query
    lost to an outage is never answered. Submit from a running asyncio loop; the batch
    loop runs on the loop of the latest submit.
    """

    def __init__(self, model: Callable[[Tensor], Tensor], name: str = "local", *,
                 service: ServiceTime = ServiceTime(), plan: FaultPlan = NO_FAULTS,
                 max_batch: int = 8, batch_wait_s: float = 0.002, epoch: Optional[float] = None) -> None:
        if max_batch < 1 or batch_wait_s < 0:
            raise ValueError(f"max_batch >= 1 and batch_wait_s >= 0 expected, got {max_batch}, {batch_wait_s}")
        self.name = name
        self.runner = ModelRunner(model, service, plan, epoch)
        self.max_batch = max_batch
        self.batch_wait_s = batch_wait_s
        self.batches = 0  # batches run (observability and tests)
        self._queue: Optional[asyncio.Queue] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._worker: Optional[asyncio.Task] = None
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"pk-{name}")

    def submit(self, x: Tensor) -> Pending:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or a new loop (asyncio.run again): serve there
            self._loop, self._queue = loop, asyncio.Queue()
            self._worker = loop.create_task(self._serve())
        entry = _Entry(x, self.runner.now(), loop.create_future())
        self._queue.put_nowait(entry)
        return _LocalPending(entry)

    async def set_faults(self, plan: FaultPlan, epoch: float) -> None:
        self.runner.set_faults(plan, epoch)

    async def served(self) -> int:
        return self.runner.served

    async def close(self) -> None:
        if self._worker is not None and self._loop is asyncio.get_running_loop():
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        self._worker = self._loop = None  # (a worker on an older, finished loop is gone with it)
        self._thread.shutdown(wait=False, cancel_futures=True)

    async def _next_batch(self) -> List[_Entry]:
        batch = [await self._queue.get()]
        deadline = time.monotonic() + self.batch_wait_s
        while len(batch) < self.max_batch:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), left))
            except asyncio.TimeoutError:
                break
        return [e for e in batch if not e.cancelled]

    async def _forward(self, xs):
        return await asyncio.get_running_loop().run_in_executor(self._thread, self.runner.forward, xs)

    async def _serve(self) -> None:
        while True:
            batch = await self._next_batch()
            if not batch:
                continue
            self.batches += 1
            outputs = await self.runner.run([e.x for e in batch], [e.arrived for e in batch], self._forward)
            for entry, out in zip(batch, outputs):
                if out is not None and not entry.future.done():
                    entry.future.set_result(out)
