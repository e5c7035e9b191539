"""How far decode's rebuilt outputs lie from the true ones, in each dtype, beside the
first-order bound of the parities' rounding.

Decoding E missing data outputs from the parities R solves W[R, E] y_E = z_R - W[R, A] y_A,
so the rounding of the stored parities z (unit roundoff u of their dtype) comes back
amplified: relative to the true y_E, about

    u * (1 + ||pinv(W[R, E])||_2 * ||W[R]||_2 * ||x|| / ||x_E||)

where x are the group's k data outputs (2-norms over all their elements; every parity is
available in these patterns, so W[R] = W). ``python -m
parity_kernels.bench.accuracy`` prints the worst error of every pattern of min(k, r)
missing data outputs for a few linear codes (bench/RESULTS.md, "Decode accuracy").
"""

from __future__ import annotations

import itertools
from typing import List, NamedTuple

import torch

import parity_kernels as pk

class PatternError(NamedTuple):
    missing: tuple       # the missing data outputs E (every parity available)
    ok: bool             # decode's verdict
    error: float         # ||y_E - x_E|| / ||x_E|| (inf where not finite; nan where not ok)
    bound: float         # the first-order bound above, same units
    condition: float     # cond(W[R, E])


def decode_errors(code: pk.LinearCode, dtype: torch.dtype, numel: int = 1000, seed: int = 0) -> List[PatternError]:
    """Encode one group of k rows of ``numel`` normal values in ``dtype``, then decode every
    pattern of min(k, r) missing data outputs (every parity available) on the CPU."""
    k, r = code.k, code.num_coded
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(1, k, numel, generator=gen, dtype=torch.float64).to(dtype)
    coded = pk.encode(x, code)
    w = code.encode_matrix()
    w_norm = torch.linalg.matrix_norm(w, 2).item()
    unit_roundoff = torch.finfo(dtype).eps / 2
    truth = x.double()[0]
    x_norm = truth.norm().item()
    results = []
    for missing in itertools.combinations(range(k), min(k, r)):
        cols = list(missing)
        available = torch.ones(1, k + r, dtype=torch.bool)
        available[0, cols] = False
        y, ok = pk.decode(x, coded, available, code)
        x_e = truth[cols].norm().item()
        error = float("nan")
        if bool(ok):
            error = ((y.double()[0, cols] - truth[cols]).norm() / x_e).item()
            error = error if error == error else float("inf")  # NaN from overflowed parities
        singular = torch.linalg.svdvals(w[:, cols])  # ||pinv(W[R, E])||_2 = 1 / the smallest
        bound = unit_roundoff * (1 + w_norm / singular[-1].item() * x_norm / x_e)
        results.append(PatternError(missing, bool(ok), error, bound, (singular[0] / singular[-1]).item()))
    return results


CODES = [("cauchy", 4, 2), ("cauchy", 8, 2), ("cauchy", 8, 4), ("cauchy", 8, 8),
         ("vandermonde", 4, 2), ("vandermonde", 8, 2), ("vandermonde", 8, 4), ("vandermonde", 8, 8)]
DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def _cell(results: List[PatternError]) -> str:
    rebuilt = [p for p in results if p.ok]
    if not rebuilt:
        return "all declined"
    worst = max(rebuilt, key=lambda p: p.error)
    cell = f"{worst.error:.2g} (bound {worst.bound:.2g})"
    declined = len(results) - len(rebuilt)
    return cell + (f", {declined} declined" if declined else "")


def main() -> int:
    print("worst ||y_E - x_E|| / ||x_E|| over every pattern of min(k, r) missing data outputs "
          "(every parity available), 1 group of k x 1000 normal values")
    print("| code | patterns | cond(W[R, E]) max | " + " | ".join(str(d).replace("torch.", "") for d in DTYPES) + " |")
    print("|---|---|---|" + "---|" * len(DTYPES))
    for name, k, r in CODES:
        code = pk.codes.code_from_name(name, k, r)
        cells = [decode_errors(code, dtype) for dtype in DTYPES]
        condition = max(p.condition for p in cells[0])
        print(f"| {code!r} | {len(cells[0])} | {condition:.3g} | " + " | ".join(_cell(c) for c in cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
