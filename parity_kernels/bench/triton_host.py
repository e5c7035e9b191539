"""Host time of Triton launches, without a GPU: ``python -m parity_kernels.bench.triton_host``.

The Triton backend's whole launch path but the device: a stand-in driver
(``gpu_code.recording_sm90``: sm_90 code, launches recorded instead of run) and CPU
tensors standing in for device ones. Encode and decode of 16 groups of 4 x 8 float32
(Cauchy k = 4, r = 2) and ConcatCode(4)'s encode of 16 x 4 x 3 x 8 x 8, each into ``out=``
through its launch plan, and the ``combine_out`` op on the encode's tensors (what
torch.compile'd code calls: no plan, the op's checks every call), with direct launches
(``parity_kernels.triton.direct``) and with them off (``direct.jit_only``: every launch
through ``JITFunction.run``), alternated, beside torch's ``x.sum(1)`` on the same tensor.
Triton's launcher (C, and the device's launch) is left out: this is the Python before it.
On a GPU, ``parity-kernels bench --device cuda`` prints the whole host time per call.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from typing import Callable, Dict, Iterator, List

import torch

import parity_kernels as pk


@contextlib.contextmanager
def triton_on_cpu_tensors() -> Iterator[None]:
    """CPU tensors run the Triton backend's launchers (without the interpreter) in the block."""
    from ..backends import dispatch
    from ..triton import backend

    dispatch._resolved["cpu"] = backend.BACKEND
    try:
        yield
    finally:
        dispatch._resolved.clear()


def calls() -> Dict[str, Callable[[], object]]:
    """The calls timed, each made once already (plans kept)."""
    code, concat = pk.LinearCode.cauchy(4, 2), pk.ConcatCode(4)
    x, out, y = torch.randn(16, 4, 8), torch.empty(16, 2, 8), torch.empty(16, 4, 8)
    coded = pk.encode(x, code)
    available = torch.ones(16, 6, dtype=torch.bool)
    available[:, 1] = False
    images, tiled = torch.randn(16, 4, 3, 8, 8), torch.empty(16, 1, 3, 8, 8)
    weights = code.encode_matrix(torch.device("cpu"), torch.float32)
    made = {
        "x.sum(1)": lambda: x.sum(1),
        "encode out=": lambda: pk.encode(x, code, out=out),
        "decode out=": lambda: pk.decode(x, coded, available, code, out=y),
        "ConcatCode encode out=": lambda: pk.encode(images, concat, out=tiled),
        "op combine_out": lambda: pk.ops.combine_out(x, weights, None, None, out),  # no plan: the op's checks
    }
    for call in made.values():
        for _ in range(3):  # the checked route, the plan's first launch (through the JIT), a direct one
            call()
    return made


def best_times(made: Dict[str, Callable], number: int, repeat: int) -> Dict[str, float]:
    """Per call, the best of ``repeat`` means of ``number`` back-to-back calls, in us."""
    best = {name: float("inf") for name in made}
    for _ in range(repeat):
        for name, call in made.items():
            start = time.perf_counter()
            for _ in range(number):
                call()
            best[name] = min(best[name], (time.perf_counter() - start) / number * 1e6)
    return best


def run(rounds: int = 2, number: int = 1000, repeat: int = 7) -> List[tuple]:
    """(mode, {call: us}) for ``rounds`` alternations of the JIT and direct launches."""
    from ..triton import direct

    from .gpu_code import recording_sm90

    rows = []
    with recording_sm90(), triton_on_cpu_tensors():
        made = calls()
        for _ in range(rounds):
            with direct.jit_only():
                rows.append(("JIT", best_times(made, number, repeat)))
            rows.append(("direct", best_times(made, number, repeat)))
    return rows


def main(argv=None) -> int:
    import triton

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--number", type=int, default=1000)
    args = parser.parse_args(argv)
    rows = run(args.rounds, args.number)
    names = list(rows[0][1])
    print(f"Triton {triton.__version__}, launcher stubbed; best of 7 means of {args.number} calls, us")
    print(f"{'launches':<10}" + "".join(f"{name:>24}" for name in names))
    for mode, times in rows:
        print(f"{mode:<10}" + "".join(f"{times[name]:>24.2f}" for name in names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
