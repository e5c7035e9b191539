"""How the benchmark times: warm up, then the median of many repeats.

CPU: the implementations of a case run round-robin (one call each per round), so they
all see the same machine load; wall-clock medians. CUDA: triton.testing.do_bench (CUDA
events, the L2 cache flushed before every repetition, median).
"""

from __future__ import annotations

import statistics
import time
from typing import Callable, Dict


def time_cpu(impls: Dict[str, Callable], rounds: int = 15, warmup: int = 2) -> Dict[str, float]:
    """Median seconds per call of each implementation, interleaved."""
    for fn in impls.values():
        for _ in range(warmup):
            fn()
    samples = {name: [] for name in impls}
    for _ in range(rounds):
        for name, fn in impls.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) for name, s in samples.items()}


def time_cuda(impls: Dict[str, Callable], rep_ms: int = 40) -> Dict[str, float]:
    """Median seconds per call of each implementation (do_bench, L2 flushed)."""
    from triton.testing import do_bench

    result = {}
    for name, fn in impls.items():
        fn()  # compile / autotune / tables outside the timing
        result[name] = do_bench(fn, warmup=10, rep=rep_ms, return_mode="median") / 1e3
    return result


def time_impls(device: str, impls: Dict[str, Callable], quick: bool, rounds=None) -> Dict[str, float]:
    """Median seconds per call of each implementation on ``device``."""
    if device.startswith("cuda"):
        return time_cuda(impls, rep_ms=20 if quick else 40)
    return time_cpu(impls, rounds=rounds or (7 if quick else 15), warmup=1 if rounds else 2)
