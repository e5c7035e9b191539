"""Frontends: take queries, send them to instances, answer each exactly once.

``Frontend`` is the common part: choosing an instance (fewest requests outstanding, those
presumed failed avoided and probed until they answer again), re-sending a query whose
instance did not answer within a timeout taken from observed latency percentiles,
cancelling requests whose answer is no longer needed, metrics. Subclasses add redundancy:
``CodedFrontend`` (ParM and friends, here), ``HedgedFrontend`` and the plain
``Frontend`` itself (no redundancy) live in ``baselines``.

Everything runs on one asyncio loop: ``await frontend.infer(x)`` from coroutines on it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Set, Tuple

import torch
from torch import Tensor

import parity_kernels as pk

from .instance import Instance, Pending
from .latency import LatencyTracker
from .metrics import FrontendMetrics


@dataclass
class Answer:
    """A query's answer. ``via``: 'model' (its own request, perhaps re-sent), 'hedge' (a
    hedged duplicate answered first) or 'decode'; ``reconstructed`` is True for 'decode'. ``available``: for a decoded answer,
    the availability mask (data slots then coded slots) of the outputs it was decoded from.
    """

    output: Tensor
    latency_s: float
    via: str
    reconstructed: bool = False
    available: Optional[Tuple[bool, ...]] = None


@dataclass
class Timeouts:
    """Timers from observed latencies (seconds).

    A request unanswered after ``retry_factor`` x the ``retry_percentile`` of observed
    latencies (at least ``retry_floor_s``) is re-sent to another instance and its instance
    is presumed failed, probed every ``probe_interval_s`` until it answers again.
    """

    retry_percentile: float = 99.0
    retry_factor: float = 3.0
    retry_floor_s: float = 0.1
    probe_interval_s: float = 0.1
    default_latency_s: float = 0.05


@dataclass(eq=False)
class _Query:
    x: Tensor
    future: asyncio.Future
    start: float
    group: Optional["_Group"] = None
    slot: int = 0
    requests: Dict[Pending, Instance] = field(default_factory=dict)
    timer: Optional[asyncio.TimerHandle] = None
    internal: bool = False  # the frontend's own query (a partial group's padding): not counted

    @property
    def answered(self) -> bool:
        return self.future.done()


class Frontend:
    """No redundancy: each query goes to one deployed instance (re-sent on timeout).

    deployed: the instances running the deployed model.
    """

    def __init__(self, deployed: Sequence[Instance], *, timeouts: Timeouts = Timeouts(),
                 metrics: Optional[FrontendMetrics] = None) -> None:
        if not deployed:
            raise ValueError("deployed: expected at least one instance")
        self.deployed = list(deployed)
        self.timeouts = timeouts
        self.metrics = metrics or FrontendMetrics()
        self.latency = LatencyTracker(default_s=timeouts.default_latency_s)
        self._outstanding: Dict[Instance, int] = {}
        self._suspects: Set[Instance] = set()
        self._tasks: Set[asyncio.Task] = set()
        self._probe_input: Optional[Tensor] = None
        self._live: Set[_Query] = set()  # queries whose callers are waiting
        self._closed = False

    # ----------------------------------------------------------------- public

    async def infer(self, x: Tensor) -> Answer:
        """The answer to one query ``x`` (the model's input shape, no batch dimension)."""
        if self._closed:
            raise RuntimeError("frontend: closed")
        loop = asyncio.get_running_loop()
        query = _Query(x, loop.create_future(), time.monotonic())
        self._probe_input = x
        self._live.add(query)
        self.metrics.inc("queries")
        self._admit(query)
        try:
            return await query.future
        except asyncio.CancelledError:  # the caller gave up: so do we
            self._cancel(query.requests)
            raise
        finally:
            self._live.discard(query)

    async def warm_up(self, x: Tensor, per_instance: int = 3) -> None:
        """Send ``x`` to every instance ``per_instance`` times and wait for the answers:
        first calls are slow on some backends, and the latency percentiles get real samples."""
        instances = list(dict.fromkeys(self.deployed + [i for pool in self._pools() for i in pool]))
        for _ in range(per_instance):
            done = asyncio.get_running_loop().create_future()
            left = [len(instances)]

            def arrived(_, left=left, done=done):
                left[0] -= 1
                if left[0] == 0 and not done.done():
                    done.set_result(None)

            for instance in instances:
                self._request(instance, x, arrived)
            await asyncio.wait_for(done, timeout=60)

    def _pools(self) -> List[List[Instance]]:
        """Instance pools beside the deployed one (parity models)."""
        return []

    async def close(self) -> None:
        """Cancel every probe and request in flight (the instances stay up); queries not
        answered yet fail with RuntimeError."""
        self._closed = True
        for query in list(self._live):
            if not query.answered:
                query.future.set_exception(RuntimeError("frontend: closed before this query was answered"))
            self._cancel(query.requests)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def suspects(self) -> Set[Instance]:
        """Instances presumed failed right now."""
        return set(self._suspects)

    # ------------------------------------------------------------ subclasses

    def _admit(self, query: _Query) -> None:
        """Send a new query on its way."""
        self._send(query, self.deployed)

    def _on_output(self, query: _Query, output: Tensor) -> None:
        """A deployed instance answered ``query``."""
        self._answer(query, output, "model")

    # ------------------------------------------------------------- plumbing

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _pick(self, pool: Sequence[Instance], exclude=()) -> Optional[Instance]:
        """The instance of ``pool`` with fewest outstanding requests, avoiding ``exclude``
        and instances presumed failed when others are left; None for an empty pool."""
        for candidates in ([i for i in pool if i not in exclude and i not in self._suspects],
                           [i for i in pool if i not in exclude], list(pool)):
            if candidates:
                return min(candidates, key=lambda i: self._outstanding.get(i, 0))
        return None

    def _request(self, instance: Instance, x: Tensor, on_output, on_error=None) -> Pending:
        """Submit ``x`` to ``instance``; ``on_output(output)`` when it answers."""
        pending = instance.submit(x)
        self._outstanding[instance] = self._outstanding.get(instance, 0) + 1
        self._spawn(self._watch(instance, pending, on_output, on_error))
        return pending

    async def _watch(self, instance: Instance, pending: Pending, on_output, on_error) -> None:
        sent = time.monotonic()
        try:
            output = await pending
        except asyncio.CancelledError:
            return
        except Exception:  # the instance answered with an error (e.g. InstanceDown): lost
            self.metrics.inc("instance_errors")
            if on_error is not None:
                on_error()
            return
        finally:
            self._outstanding[instance] -= 1
        self._cleared(instance)
        if instance in self.deployed:
            self.latency.record(time.monotonic() - sent)
        on_output(output)

    def _send(self, query: _Query, pool: Sequence[Instance], exclude=()) -> Optional[Instance]:
        """Send ``query`` to an instance of ``pool`` and arm its retry timer."""
        instance = self._pick(pool, exclude)
        pending = self._request(instance, query.x, lambda out: self._deliver(query, out, pending))
        query.requests[pending] = instance
        self._arm_retry(query, pool)
        return instance

    def _deliver(self, query: _Query, output: Tensor, pending: Pending) -> None:
        query.requests.pop(pending, None)  # finished: nothing left to cancel there
        if query.answered:
            self.metrics.inc("late_outputs")
        self._on_output(query, output)

    def _retry_after(self) -> float:
        t = self.timeouts
        return max(t.retry_floor_s, t.retry_factor * self.latency.percentile(t.retry_percentile))

    def _arm_retry(self, query: _Query, pool: Sequence[Instance]) -> None:
        if query.timer is not None:
            query.timer.cancel()
        query.timer = asyncio.get_running_loop().call_later(self._retry_after(), self._retry, query, pool)

    def _retry(self, query: _Query, pool: Sequence[Instance]) -> None:
        if query.answered or self._closed:
            return
        holders = set(query.requests.values())
        for instance in holders:
            self._suspect(instance)
        self.metrics.inc("retries")
        self._send(query, pool, exclude=holders)

    def _answer(self, query: _Query, output: Tensor, via: str, available=None) -> bool:
        """Answer ``query`` unless it already was; cancel its other requests."""
        if query.answered:
            return False
        latency = time.monotonic() - query.start
        reconstructed = via == "decode"
        query.future.set_result(Answer(output, latency, via, reconstructed, available))
        if not query.internal:
            self.metrics.inc("answers")
            self.metrics.observe(latency, via)
        if query.timer is not None:
            query.timer.cancel()
        self._cancel(query.requests)
        return True

    def _cancel(self, requests: Dict[Pending, Instance]) -> None:
        for pending in requests:
            pending.cancel()
        if requests:
            self.metrics.inc("cancelled", len(requests))
        requests.clear()

    # ---------------------------------------------------------- failed instances

    def _suspect(self, instance: Instance) -> None:
        if instance in self._suspects:
            return
        self._suspects.add(instance)
        self.metrics.set_suspects(len(self._suspects))
        self._spawn(self._probe(instance))

    def _cleared(self, instance: Instance) -> None:
        if instance in self._suspects:
            self._suspects.discard(instance)
            self.metrics.set_suspects(len(self._suspects))

    async def _probe(self, instance: Instance) -> None:
        """Every probe_interval_s, one request to a suspect instance until it answers."""
        while instance in self._suspects and not self._closed:
            self.metrics.inc("probes")
            pending = self._request(instance, self._probe_input, lambda out: None)
            await asyncio.sleep(self.timeouts.probe_interval_s)
            if instance in self._suspects:
                pending.cancel()


@dataclass(eq=False)
class _Group:
    queries: List[_Query]  # the real queries, slots 0 .. len-1
    outputs: List[Optional[Tensor]]  # k data slots; padded slots hold the padding's output
    coded: List[Optional[Tensor]]  # num_coded slots
    coded_requests: Dict[Pending, Instance] = field(default_factory=dict)
    deadline_passed: bool = False
    timer: Optional[asyncio.TimerHandle] = None  # closes the group if it stays partial


class CodedFrontend(Frontend):
    """ParM's frontend: queries in coding groups of k, coded queries beside them, decode
    when outputs are late.

    code: a systematic code (``SumCode``, ``LinearCode``) with ``parity`` one pool of
    parity-model instances per coded row; or a ``BerrutCode``, whose n coded queries go to
    the deployed instances (``parity`` None) and whose decode approximates every output.
    policy: 'first-k' decodes as soon as k of the group's outputs are in; 'deadline' waits
    until the ``deadline_percentile`` of observed latencies has passed since the group was
    sent, then decodes from what arrived (and on each arrival after).
    Queries go to the deployed instances the moment they arrive; the coded queries follow
    when a group has its k queries. group_wait_s: a group still short of k queries this
    long after its first one is closed with zero queries in the empty slots (their
    outputs, the deployed model's output for zeros, are fetched once and reused).
    max_extra_load: coded queries sent stay within this fraction of the queries sent
    (None: no cap; r/k is the code's own extra load).
    """

    def __init__(self, deployed: Sequence[Instance], parity: Optional[Sequence[Sequence[Instance]]], code: pk.Code,
                 *, policy: str = "first-k", deadline_percentile: float = 95.0, group_wait_s: float = 0.01,
                 max_extra_load: Optional[float] = None, timeouts: Timeouts = Timeouts(),
                 metrics: Optional[FrontendMetrics] = None) -> None:
        super().__init__(deployed, timeouts=timeouts, metrics=metrics)
        if isinstance(code, pk.ConcatCode):
            raise ValueError("code: ConcatCode's parity is an image, not a sum of outputs; use SumCode, "
                             "LinearCode or BerrutCode")
        if code.systematic:
            if parity is None or len(parity) != code.num_coded or not all(parity):
                raise ValueError(f"parity: expected {code.num_coded} non-empty pools of parity instances for {code!r}")
            self.parity_pools = [list(pool) for pool in parity]
        else:
            if parity is not None:
                raise ValueError(f"parity: {code!r} sends its coded queries to the deployed instances; pass None")
            self.parity_pools = [self.deployed] * code.num_coded
        if policy not in ("first-k", "deadline"):
            raise ValueError(f"policy: expected 'first-k' or 'deadline', got {policy!r}")
        if group_wait_s < 0 or (max_extra_load is not None and max_extra_load < 0):
            raise ValueError("group_wait_s >= 0 and max_extra_load >= 0 expected")
        self.code = code
        self.policy = policy
        self.deadline_percentile = deadline_percentile
        self.group_wait_s = group_wait_s
        self.max_extra_load = max_extra_load
        self._open: Optional[_Group] = None  # the group new queries join
        self._padding: Optional[asyncio.Future] = None
        self._data_sent = 0
        self._coded_sent = 0

    def _pools(self) -> List[List[Instance]]:
        return self.parity_pools

    # ----------------------------------------------------------- groups

    def _admit(self, query: _Query) -> None:
        """Send the query at once (grouping never delays it) and add it to the open group;
        a full group gets its coded queries now, a group left open ``group_wait_s`` gets
        them padded."""
        group = self._open
        if group is None:
            group = self._open = _Group([], [None] * self.code.k, [None] * self.code.num_coded)
            self.metrics.inc("groups_formed")
            group.timer = asyncio.get_running_loop().call_later(self.group_wait_s, self._close_partial, group)
        query.group, query.slot = group, len(group.queries)
        group.queries.append(query)
        self._send_data(query)
        if len(group.queries) == self.code.k:
            group.timer.cancel()
            self._open = None
            self._start_coding(group)

    def _close_partial(self, group: _Group) -> None:
        if self._open is not group or self._closed:
            return
        self._open = None
        self.metrics.inc("partial_groups")
        if self.code.systematic:
            self._spawn(self._pad_then_code(group))
        else:
            self._start_coding(group)  # Berrut's decode never reads the empty slots' outputs

    async def _pad_then_code(self, group: _Group) -> None:
        padding = await self._padding_output(group.queries[0].x)
        for slot in range(len(group.queries), self.code.k):
            group.outputs[slot] = padding
        self._start_coding(group)

    async def _padding_output(self, like: Tensor) -> Tensor:
        """The deployed model's output for a zero query: fetched once, like any query."""
        if self._padding is None:
            loop = asyncio.get_running_loop()
            self._padding = loop.create_future()
            query = _Query(torch.zeros_like(like), loop.create_future(), time.monotonic(), internal=True)
            Frontend._admit(self, query)
            answer = await query.future
            self._padding.set_result(answer.output)
        return await asyncio.shield(self._padding)

    def _start_coding(self, group: _Group) -> None:
        if all(q.answered for q in group.queries):
            return
        self._send_coded(group)
        if self.policy == "deadline":
            asyncio.get_running_loop().call_later(self.latency.percentile(self.deadline_percentile),
                                                  self._deadline, group)

    def _send_data(self, query: _Query) -> None:
        self._data_sent += 1
        self._send(query, self.deployed)

    def _send_coded(self, group: _Group) -> None:
        r = self.code.num_coded
        if self.max_extra_load is not None and self._coded_sent + r > self.max_extra_load * self._data_sent:
            self.metrics.inc("coded_skipped", r)
            return
        first = group.queries[0].x
        x = torch.zeros((1, self.code.k) + tuple(first.shape), dtype=first.dtype, device=first.device)
        for q in group.queries:
            x[0, q.slot] = q.x
        coded = pk.encode(x, self.code)[0]
        for row in range(r):
            self._send_coded_row(group, row, coded[row])
        self._coded_sent += r
        self.metrics.inc("coded_queries", r)

    def _send_coded_row(self, group: _Group, row: int, coded_row: Tensor) -> None:
        instance = self._pick(self.parity_pools[row])
        pending = self._request(instance, coded_row, lambda out: self._on_coded(group, row, out, pending))
        group.coded_requests[pending] = instance

    # ----------------------------------------------------------- outputs

    def _on_output(self, query: _Query, output: Tensor) -> None:
        group = query.group
        if group is None:  # the padding query
            self._answer(query, output, "model")
            return
        if group.outputs[query.slot] is None:
            group.outputs[query.slot] = output
        self._answer(query, output, "model")
        if all(q.answered for q in group.queries):
            self._cancel(group.coded_requests)
        else:
            self._try_decode(group)

    def _on_coded(self, group: _Group, row: int, output: Tensor, pending: Pending) -> None:
        group.coded_requests.pop(pending, None)  # finished: nothing left to cancel there
        group.coded[row] = output
        self._try_decode(group)

    def _deadline(self, group: _Group) -> None:
        group.deadline_passed = True
        self._try_decode(group)

    def _try_decode(self, group: _Group) -> None:
        """Decode the group's unanswered queries if policy and arrived outputs allow."""
        missing = [q for q in group.queries if not q.answered]
        if not missing or (self.policy == "deadline" and not group.deadline_passed):
            return
        if self.code.systematic:
            mask = [o is not None for o in group.outputs] + [c is not None for c in group.coded]
        else:
            mask = [c is not None for c in group.coded]
        if sum(mask) < self.code.k or not any(c is not None for c in group.coded):
            return
        y, ok = self._decode(group, mask)
        self.metrics.inc("decodes_fired")
        if not bool(ok[0]):
            return
        for q in missing:
            if self._answer(q, y[0, q.slot], "decode", tuple(mask)):
                self.metrics.inc("decodes_answered_first")
        self._cancel(group.coded_requests)

    def _decode(self, group: _Group, mask: List[bool]):
        like = next(c for c in group.coded if c is not None)
        zeros = torch.zeros_like(like)
        coded = torch.stack([c if c is not None else zeros for c in group.coded]).unsqueeze(0)
        available = torch.tensor([mask], dtype=torch.bool, device=like.device)
        if not self.code.systematic:
            return pk.decode(None, coded, available, self.code)
        outputs = torch.stack([o if o is not None else zeros for o in group.outputs]).unsqueeze(0)
        return pk.decode(outputs, coded, available, self.code)

