"""Injected faults for model instances: slow batches, background load, outages.

A ``FaultPlan`` is plain data (it travels to Ray replicas by pickling). Times are seconds
since the plan's epoch, a ``time.time()`` stamp both the frontend and the instances see.
Every delay is drawn from the instance's own seeded generator, so a setup that reuses an
instance index replays the same faults.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import List, Optional, Tuple

Window = Tuple[float, float]  # [start, end) in seconds since the epoch


@dataclass(frozen=True)
class ServiceTime:
    """Time a batch occupies an instance, on top of the model's own forward.

    ``base_s`` per batch plus ``per_item_s`` per query, times a lognormal jitter of
    ``jitter`` (sigma; 0 = none). Emulates a model whose inference costs that long.
    """

    base_s: float = 0.01
    per_item_s: float = 0.001
    jitter: float = 0.1

    def draw(self, rng: random.Random, batch: int) -> float:
        scale = rng.lognormvariate(0.0, self.jitter) if self.jitter > 0 else 1.0
        return (self.base_s + self.per_item_s * batch) * scale


@dataclass(frozen=True)
class FaultPlan:
    """What goes wrong on one instance.

    slow_probability / slow_scale_s / slow_shape: each batch, with this probability, takes
        an extra Pareto-distributed delay (scale ``slow_scale_s``, tail index
        ``slow_shape``; smaller shape, heavier tail).
    load_windows / load_factor: during each window a background job slows every batch by
        ``load_factor`` (a co-located job, as in ParM's background-load experiments).
    outages: during each window the instance answers nothing (requests it holds or gets
        are lost); after the window it serves again.
    """

    slow_probability: float = 0.0
    slow_scale_s: float = 0.05
    slow_shape: float = 1.5
    load_windows: Tuple[Window, ...] = ()
    load_factor: float = 1.0
    outages: Tuple[Window, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.slow_probability <= 1.0:
            raise ValueError(f"slow_probability: expected a probability, got {self.slow_probability}")
        if self.slow_shape <= 0 or self.slow_scale_s < 0 or self.load_factor < 1.0:
            raise ValueError("slow_shape > 0, slow_scale_s >= 0 and load_factor >= 1 expected")
        for start, end in tuple(self.load_windows) + tuple(self.outages):
            if end < start:
                raise ValueError(f"window ({start}, {end}): end before start")

    def down_until(self, t: float) -> Optional[float]:
        """The end of the outage covering time ``t`` (seconds since the epoch), else None."""
        for start, end in self.outages:
            if start <= t < end:
                return end
        return None

    def batch_delay(self, rng: random.Random, t: float, service_s: float) -> float:
        """Seconds a batch started at ``t`` takes, given its fault-free ``service_s``."""
        delay = service_s
        if any(start <= t < end for start, end in self.load_windows):
            delay *= self.load_factor
        if self.slow_probability and rng.random() < self.slow_probability:
            delay += self.slow_scale_s * rng.paretovariate(self.slow_shape)
        return delay


NO_FAULTS = FaultPlan()


@dataclass(frozen=True)
class FaultScenario:
    """Faults for a whole setup: the same per-instance plans whatever the setup's size.

    Every instance gets heavy-tailed slow batches; ``loaded`` instances (by index) carry a
    background job for ``load_windows``; ``failed`` instances have ``outages``.
    """

    slow_probability: float = 0.02
    slow_scale_s: float = 0.05
    slow_shape: float = 1.5
    loaded: Tuple[int, ...] = (0,)
    load_windows: Tuple[Window, ...] = ()
    load_factor: float = 3.0
    failed: Tuple[int, ...] = ()
    outages: Tuple[Window, ...] = ()
    seed: int = 0

    def plan(self, index: int, role: str = "deployed") -> FaultPlan:
        """The plan of instance ``index`` among those of ``role`` ('deployed' or 'parity').

        Background load and outages hit deployed instances only (by index), so every setup
        sees the same ones; slow batches hit every instance.
        """
        if role not in ("deployed", "parity"):
            raise ValueError(f"role: expected 'deployed' or 'parity', got {role!r}")
        deployed = role == "deployed"
        return FaultPlan(
            slow_probability=self.slow_probability, slow_scale_s=self.slow_scale_s, slow_shape=self.slow_shape,
            load_windows=self.load_windows if deployed and index in self.loaded else (),
            load_factor=self.load_factor,
            outages=self.outages if deployed and index in self.failed else (),
            seed=(self.seed * 1_000_003 + index * 2 + (0 if deployed else 1)) & 0x7FFFFFFF,
        )

    def plans(self, count: int, role: str = "deployed") -> List[FaultPlan]:
        return [self.plan(i, role) for i in range(count)]
