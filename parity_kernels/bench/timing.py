"""How the benchmark times: warm up, then the median of many repeats.

CPU: the implementations of a case run round-robin (one call each per round), so they
all see the same machine load; wall-clock medians. Inputs stay where the last round left
them (an input that fits the last-level cache is read from it, by the copy too); with a
``flush`` (``bench --cold``: ``cache_flusher``) a buffer twice the size of a large
last-level cache is read before every timed call, so every implementation reads from
memory (and finds no dirty lines of the flush to write back inside its timing). CUDA:
triton.testing.do_bench (CUDA events, the L2 cache flushed before every repetition, median).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from typing import Callable, ContextManager, Dict, Optional, Tuple

import torch

FLUSH_BYTES = 64 << 20  # twice a 32 MB last-level cache


def cache_flusher(nbytes: int = FLUSH_BYTES) -> Callable[[], None]:
    """A function that reads ``nbytes`` through the caches: the lines it loads evict what
    was cached (dirty lines are written back then, outside the timing), and are clean."""
    buffer = torch.ones(nbytes // 4, dtype=torch.float32)  # float: a vectorised sum (int32: 25x slower)

    def flush() -> None:
        buffer.sum()

    return flush


def time_cpu(impls: Dict[str, Callable], rounds: int = 15, warmup: int = 2,
             flush: Optional[Callable[[], None]] = None) -> Dict[str, float]:
    """Median seconds per call of each implementation, interleaved; ``flush`` (untimed)
    before every timed call when given."""
    for fn in impls.values():
        for _ in range(warmup):
            fn()
    samples = {name: [] for name in impls}
    for _ in range(rounds):
        for name, fn in impls.items():
            if flush is not None:
                flush()
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) for name, s in samples.items()}


class Within:
    """``fn`` run inside ``context()`` (a backend choice, ``triton.direct.jit_only``).
    Called, it enters the context around that one call; ``time_cuda`` and
    ``overhead.host_overhead`` instead enter it once around all their timed calls, so the
    switch (a context manager, a few us of host time) does not count against small
    launches."""

    def __init__(self, context: Callable[[], ContextManager], fn: Callable) -> None:
        self.context, self.fn = context, fn

    def __call__(self):
        with self.context():
            return self.fn()


class WithBackend(Within):
    """``fn`` run with parity_kernels' backend ``name`` chosen (the CUDA C++ kernels beside
    the default Triton)."""

    def __init__(self, name: str, fn: Callable) -> None:
        import parity_kernels as pk

        super().__init__(lambda: pk.using_backend(name), fn)
        self.name = name


def unwrapped(fn: Callable) -> Tuple[ContextManager, Callable]:
    """(the context to time ``fn`` in, the function to call inside it): a ``Within``'s
    context and inner function, else nothing to enter and ``fn``."""
    if isinstance(fn, Within):
        return fn.context(), fn.fn
    return contextlib.nullcontext(), fn


def time_cuda(impls: Dict[str, Callable], rep_ms: int = 40) -> Dict[str, float]:
    """Median seconds per call of each implementation (do_bench, L2 flushed); a
    ``WithBackend`` timed inside one choice of its backend."""
    from triton.testing import do_bench

    result = {}
    for name, impl in impls.items():
        chosen, fn = unwrapped(impl)
        with chosen:
            fn()  # compile / autotune / tables outside the timing
            result[name] = do_bench(fn, warmup=10, rep=rep_ms, return_mode="median") / 1e3
    return result


def default_rounds(quick: bool) -> int:
    """CPU rounds a case gets unless told otherwise."""
    return 7 if quick else 15


def time_impls(device: str, impls: Dict[str, Callable], quick: bool, rounds: Optional[int] = None,
               flush: Optional[Callable[[], None]] = None, warmup: int = 2) -> Dict[str, float]:
    """Median seconds per call of each implementation on ``device``. CPU: ``rounds``
    interleaved rounds (default ``default_rounds(quick)``), ``flush`` (``cache_flusher``)
    before each timed call. CUDA: do_bench for 20 ms (quick) or 40 ms, scaled by
    ``rounds`` / ``default_rounds(quick)`` when ``rounds`` is given; it flushes its L2 itself."""
    if rounds is not None and rounds < 1:
        raise ValueError(f"rounds: expected at least 1, got {rounds}")
    if device.startswith("cuda"):
        rep_ms = 20 if quick else 40
        if rounds is not None:
            rep_ms = max(1, round(rep_ms * rounds / default_rounds(quick)))
        return time_cuda(impls, rep_ms=rep_ms)
    return time_cpu(impls, rounds=rounds or default_rounds(quick), warmup=warmup, flush=flush)
