"""Model instances as Ray Serve deployments: the same frontend on a Ray cluster.

Each instance is one Serve application with one replica of ``ModelServer``, which batches
with ``@serve.batch`` and runs the same ``ModelRunner`` as a local instance (service time,
injected faults). A query lost to an outage is held until the outage ends and then fails
with ``InstanceDown``, so the frontend sees no answer in the meantime.

``start_local_ray()`` starts Ray and Serve on this machine, on loopback only, without
the dashboard, the HTTP proxy or usage reporting.
"""

from __future__ import annotations

import asyncio
import os
from typing import Callable, List, Optional, Sequence

from torch import Tensor

from .faults import NO_FAULTS, FaultPlan, ServiceTime
from .instance import Instance, InstanceDown, ModelRunner, Pending

try:
    import ray
    from ray import serve
    from ray.serve.exceptions import RequestCancelledError
except ImportError as error:  # pragma: no cover - ray is a declared dependency of [serving]
    raise ImportError("parity_kernels.serving.ray_serve needs Ray Serve: pip install 'ray[serve]'") from error


@serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 0}, max_ongoing_requests=10_000)
class ModelServer:
    """One model instance: batches queries and runs them through ``ModelRunner``."""

    def __init__(self, model: Callable, service: ServiceTime, plan: FaultPlan, epoch: Optional[float],
                 max_batch: int, batch_wait_s: float) -> None:
        import torch

        torch.set_num_threads(1)  # many replicas share few cores
        self.runner = ModelRunner(model, service, plan, epoch)
        self._batch.set_max_batch_size(max_batch)
        self._batch.set_batch_wait_timeout_s(batch_wait_s)

    async def __call__(self, x: Tensor) -> Tensor:
        arrived = self.runner.now()
        output = await self._batch((x, arrived))
        if output is None:
            await asyncio.sleep(self.runner.outage_left())
            raise InstanceDown("the instance was down when this query arrived or ran")
        return output

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.002)
    async def _batch(self, items: List[tuple]) -> List[Optional[Tensor]]:
        return await self.runner.run([x for x, _ in items], [arrived for _, arrived in items])

    def set_faults(self, plan: FaultPlan, epoch: float) -> None:
        self.runner.set_faults(plan, epoch)

    def served(self) -> int:
        return self.runner.served


class _RayPending(Pending):
    def __init__(self, response) -> None:
        self._response = response

    async def _result(self) -> Tensor:
        try:
            return await self._response
        except RequestCancelledError:
            raise asyncio.CancelledError from None  # we cancelled it: not an instance error

    def __await__(self):
        return self._result().__await__()

    def cancel(self) -> None:
        self._response.cancel()


class RayInstance(Instance):
    """A Serve application's handle as an ``Instance``."""

    def __init__(self, handle, name: str) -> None:
        self.handle = handle
        self.name = name

    def submit(self, x: Tensor) -> Pending:
        return _RayPending(self.handle.remote(x))

    async def set_faults(self, plan: FaultPlan, epoch: float) -> None:
        await self.handle.set_faults.remote(plan, epoch)

    async def served(self) -> int:
        return await self.handle.served.remote()

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, serve.delete, self.name)


def start_local_ray(num_cpus: Optional[int] = None) -> None:
    """Start Ray (if not running) and Serve on this machine only: every Ray process on
    127.0.0.1, no dashboard, no HTTP proxy, no usage reporting.

    Ray binds to the machine's reachable address unless its single-machine mode is on
    (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, what Ray does on macOS and Windows); that is
    set here for the processes Ray starts and for this one. To serve from a real cluster,
    call ``ray.init(address=...)`` and ``serve.start()`` yourself instead.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if not ray.is_initialized():
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False  # read at import; this process imported it already
        ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    serve.start(proxy_location="Disabled", http_options={"host": "127.0.0.1"})


def stop_ray() -> None:
    serve.shutdown()
    ray.shutdown()


def deploy(models: Sequence[Callable], names: Sequence[str], *, service: ServiceTime = ServiceTime(),
           plans: Optional[Sequence[FaultPlan]] = None, epoch: Optional[float] = None, max_batch: int = 8,
           batch_wait_s: float = 0.002) -> List[RayInstance]:
    """One Serve application per model (named ``names``), deployed together; their handles.

    models are pickled to the replicas (torch modules are fine). Call from outside an
    asyncio loop (or in an executor): it waits until every application runs.
    """
    if len(models) != len(names):
        raise ValueError(f"names: expected one per model ({len(models)}), got {len(names)}")
    plans = list(plans) if plans is not None else [NO_FAULTS] * len(models)
    targets = [
        serve.api.RunTarget(ModelServer.options(name=name).bind(model, service, plan, epoch, max_batch, batch_wait_s),
                            name=name, route_prefix=None)
        for model, name, plan in zip(models, names, plans)
    ]
    handles = serve.run_many(targets)
    return [RayInstance(handle, name) for handle, name in zip(handles, names)]
