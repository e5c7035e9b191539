"""The codes: encode weights and decode coefficients (math only, torch only).

A code groups k queries. Its *sources* at decode time are, in order:

* systematic codes (``SumCode``, ``LinearCode``, ``ConcatCode``): the k data outputs
  followed by the r parity outputs, so ``available`` is a (G, k + r) bool mask;
* ``BerrutCode``: its n coded outputs, so ``available`` is (G, n).

``decode_coefficients(available)`` turns that mask into per-group coefficients
``C`` of shape (G, k, num_sources), float64, on the mask's device, such that the
decoded outputs are ``y[g, j] = sum_s C[g, j, s] * source[g, s]``. A source that is
unavailable always gets an exact 0 coefficient, so kernels never read it. Everything is
computed with batched torch ops on the device: no host synchronisation, no Python
branch on data, so it traces under ``torch.compile`` and CUDA-graph capture.
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
from torch import Tensor

__all__ = ["Code", "SumCode", "LinearCode", "BerrutCode", "ConcatCode", "berrut_weights"]

# Distance under which an evaluation point is taken to coincide with a node.
_NODE_EPS = 1e-12
# Codes with at most this many sources decode through a table of every erasure pattern
# (2**12 patterns x k x 12 float64: under 4 MB for k = 8).
TABLE_SOURCES = 12


class Code:
    """Base class. Subclasses set ``k``, ``num_coded`` and ``systematic``."""

    k: int
    num_coded: int
    systematic: bool

    def __init__(self) -> None:
        self._matrix_cache: dict = {}
        self._plans: dict = {}  # launch plans of eager calls (parity_kernels.plans), by metadata

    @property
    def num_sources(self) -> int:
        """Length of the ``available`` mask's second dimension."""
        return self.k + self.num_coded if self.systematic else self.num_coded

    def _matrix64(self) -> Tensor:
        raise NotImplementedError

    def encode_matrix(self, device=None, dtype: torch.dtype = torch.float64) -> Tensor:
        """Encoding weights (num_coded, k): coded query j = sum_i W[j, i] x_i.

        Cached per (device, dtype), so repeated calls copy nothing to the device.
        """
        key = (device, dtype)
        w = self._matrix_cache.get(key)
        if w is None:
            w = self._matrix64().to(device=torch.device(device) if device is not None else "cpu", dtype=dtype)
            self._matrix_cache[key] = w
        return w

    def decode_coefficients(self, available: Tensor, dtype: torch.dtype = torch.float64) -> Tuple[Tensor, Tensor]:
        """(G, num_sources) bool -> (coefficients (G, k, num_sources) in ``dtype``, ok (G,) bool).

        Computed in float64, then cast. With at most ``TABLE_SOURCES`` sources, every
        erasure pattern's coefficients are solved once per device and dtype (on first use)
        and decoding looks its patterns up: three device ops instead of a batched solve
        per call. Larger codes, code traced by torch.compile, and CUDA-graph capture
        before the table exists solve per call.
        """
        available = _as_bool_mask(available, self.num_sources)
        if not self._uses_table(available.device, dtype):
            coeffs, ok = self.solve_coefficients(available)  # traced/captured: no table built here
            return coeffs.to(dtype), ok
        coeffs, ok, powers = self._pattern_table(available.device, dtype)
        pattern = (available * powers).sum(1)
        return coeffs.index_select(0, pattern), ok.index_select(0, pattern)

    def decode_table(self, device: torch.device, dtype: torch.dtype) -> Optional[Tuple[Tensor, Tensor]]:
        """(coefficients (2**S, k, S) in ``dtype``, ok (2**S,) bool) of every erasure
        pattern, pattern p having source s available when bit s of p is set; None where
        decode_coefficients would solve per call (more than TABLE_SOURCES sources, a
        torch.compile trace, CUDA-graph capture before the table exists)."""
        table = self._matrix_cache.get(("patterns", device, dtype))
        if table is not None and not torch.compiler.is_compiling():  # the usual case: one lookup
            return table[0], table[1]
        if not self._uses_table(device, dtype):
            return None
        coeffs, ok, _ = self._pattern_table(device, dtype)
        return coeffs, ok

    def solve_coefficients(self, available: Tensor) -> Tuple[Tensor, Tensor]:
        """decode_coefficients computed directly, with batched device ops (no table)."""
        raise NotImplementedError

    def _uses_table(self, device: torch.device, dtype: torch.dtype) -> bool:
        """Whether decode looks its patterns up in the table here: at most TABLE_SOURCES
        sources, not traced by torch.compile, and not a CUDA-graph capture before the
        table exists (building it would run a solve inside the graph)."""
        capturing_without_table = (device.type == "cuda" and ("patterns", device, dtype) not in self._matrix_cache
                                   and torch.cuda.is_current_stream_capturing())
        return not (self.num_sources > TABLE_SOURCES or torch.compiler.is_compiling() or capturing_without_table)

    def _pattern_table(self, device: torch.device, dtype: torch.dtype) -> Tuple[Tensor, Tensor, Tensor]:
        """(coefficients, ok) of all 2**num_sources patterns, and the bit weights of a pattern."""
        key = ("patterns", device, dtype)
        table = self._matrix_cache.get(key)
        if table is None:
            powers = 2 ** torch.arange(self.num_sources, device=device)
            every = (torch.arange(2**self.num_sources, device=device)[:, None] & powers) != 0
            coeffs, ok = self.solve_coefficients(every)
            table = (coeffs.to(dtype), ok, powers)
            self._matrix_cache[key] = table
        return table


def _as_bool_mask(available: Tensor, width: int) -> Tensor:
    if available.dtype != torch.bool or available.dim() != 2 or available.shape[1] != width:
        raise ValueError(
            f"available: expected a (G, {width}) bool tensor, got "
            f"{tuple(available.shape)} {available.dtype}"
        )
    return available


class LinearCode(Code):
    """r parities p_j = sum_i W[j, i] x_i for a real matrix W of shape (r, k).

    Decoding solves W[R, E] y_E = z_R - W[R, A] y_A for the missing data outputs E from
    the available parities R (least squares when |R| > |E|). A group is recoverable when
    W[R, E] has full column rank in float64: its solve reproduces the identity on E to
    1e-6. ``cauchy``'s pass (the tests try k, r up to 10); ``vandermonde``'s fail from
    about k, r = 8 (e.g. k = 7, r = 10 with every data output missing: condition 7e8),
    and such groups come back with ok False. A rebuilt output errs by about
    cond(W[R, E]) times the rounding of the outputs' dtype (README, "Decode accuracy").
    """

    systematic = True

    def __init__(self, weights, name: str = "") -> None:
        super().__init__()
        self.name = name
        w = torch.as_tensor(weights, dtype=torch.float64).detach().cpu()
        if w.dim() != 2 or w.shape[0] < 1 or w.shape[1] < 1:
            raise ValueError(f"weights: expected a non-empty (r, k) matrix, got shape {tuple(w.shape)}")
        if not torch.isfinite(w).all():
            raise ValueError("weights: expected finite values")
        self.weights = w.clone()
        self.num_coded, self.k = int(w.shape[0]), int(w.shape[1])

    @property
    def r(self) -> int:
        return self.num_coded

    def __repr__(self) -> str:
        kind = f", {self.name}" if self.name else ""
        return f"{type(self).__name__}(k={self.k}, r={self.r}{kind})"

    def _matrix64(self) -> Tensor:
        return self.weights

    @classmethod
    def vandermonde(cls, k: int, r: int) -> "LinearCode":
        """W[j, i] = (i + 1) ** j: row 0 is the plain sum. Ill-conditioned as k, r grow."""
        k, r = _check_kr(k, r)
        nodes = torch.arange(1, k + 1, dtype=torch.float64)
        powers = torch.arange(r, dtype=torch.float64)
        return cls(nodes[None, :] ** powers[:, None], name="vandermonde")

    @classmethod
    def cauchy(cls, k: int, r: int) -> "LinearCode":
        """W[j, i] = 1 / (x_j - y_i), y_i = i, x_j spread between the y's.

        Every square submatrix of a Cauchy matrix is invertible, so any r missing
        outputs of a linear model are rebuilt exactly. Interleaving the x's among the
        y's keeps those submatrices far better conditioned than the Hilbert-like choice
        x_j = -(j + 1).
        """
        k, r = _check_kr(k, r)
        y = torch.arange(k, dtype=torch.float64)
        x = (torch.arange(r, dtype=torch.float64) + 0.5) * k / r - 0.5 + 1 / math.pi
        diff = x[:, None] - y[None, :]
        assert bool((diff.abs() > 1e-9).all()), "cauchy nodes coincide"
        return cls(1.0 / diff, name="cauchy")

    def solve_coefficients(self, available: Tensor) -> Tuple[Tensor, Tensor]:
        k, r = self.k, self.r
        available = _as_bool_mask(available, k + r)
        f64 = torch.float64
        w = self.encode_matrix(available.device, f64)  # (r, k)
        have = available[:, :k]
        missing = ~have
        parity = available[:, k:].to(f64)  # (G, r)
        have_f, missing_f = have.to(f64), missing.to(f64)
        w_rows = w[None] * parity[:, :, None]  # available parity rows only
        a_missing = w_rows * missing_f[:, None, :]  # W[R, E], zero elsewhere (G, r, k)
        a_have = w_rows * have_f[:, None, :]  # W[R, A]
        # Least squares on the missing columns E by Householder QR (error ~ cond * eps):
        # stack identity rows under the available columns, so the system is the same
        # (r + k) x k shape for every group and full column rank exactly when W[R, E] is.
        # solve = pinv(W[R, E]) padded with zeros: (G, k, r).
        stacked = torch.cat([a_missing, torch.diag_embed(have_f)], dim=1)  # (G, r + k, k)
        q, upper = torch.linalg.qr(stacked)  # q (G, r + k, k), upper (G, k, k)
        solve = torch.linalg.solve_triangular(upper, q[:, :r].transpose(1, 2), upper=True)
        data = torch.diag_embed(have_f) - solve @ a_have  # (G, k, k)
        coeffs = torch.cat([data, solve], dim=2)
        # Recoverable when solve @ W[R, E] is the identity on E (full column rank).
        residual = (solve @ a_missing - torch.diag_embed(missing_f)).abs().amax(dim=(1, 2))
        enough = missing.sum(1) <= available[:, k:].sum(1)
        ok = enough & (residual < 1e-6)
        return _finish(coeffs, ok, have, available), ok


class SumCode(LinearCode):
    """ParM's default: one parity p = x_1 + ... + x_k; rebuilds one missing output."""

    def __init__(self, k: int) -> None:
        k = _check_int("k", k)
        super().__init__(torch.ones(1, k, dtype=torch.float64))

    def __repr__(self) -> str:
        return f"SumCode(k={self.k})"

    def solve_coefficients(self, available: Tensor) -> Tuple[Tensor, Tensor]:
        """Closed form: y_j = z - sum_{i != j} y_i for the one missing j."""
        k = self.k
        available = _as_bool_mask(available, k + 1)
        f64 = torch.float64
        have = available[:, :k]
        n_missing = (~have).sum(1)
        ok = (n_missing == 0) | ((n_missing == 1) & available[:, k])
        rebuild = (~have & ok[:, None]).to(f64)  # (G, k)
        data = torch.diag_embed(have.to(f64)) - rebuild[:, :, None] * have.to(f64)[:, None, :]
        coeffs = torch.cat([data, rebuild[:, :, None]], dim=2)
        return _finish(coeffs, ok, have, available), ok


class ConcatCode(SumCode):
    """ParM's image encoder: the k images area-downsampled and tiled into one image.

    The grid has cols = ceil(sqrt(k)) and rows = ceil(k / cols), tiles row-major, empty
    tiles zero. Tile boundaries split H and W as evenly as integers allow: tile row t
    covers parity rows [floor(t * H / rows), floor((t + 1) * H / rows)), and likewise
    for columns, so tiles differ by at most one pixel when H or W does not divide.
    Each tile is the adaptive average (area) downsample of its image, channel c of the
    parity made of channel c of the inputs. Decoding is subtraction, as ``SumCode``, and
    ``encode_matrix`` is the relation decoding assumes between the outputs (a row of
    ones: Fp(P) ~ sum_i F(x_i)), not the image encoder.
    """

    def __init__(self, k: int) -> None:
        super().__init__(k)
        self.rows, self.cols = concat_grid(self.k)

    def __repr__(self) -> str:
        return f"ConcatCode(k={self.k})"

    def tile_bounds(self, height: int, width: int):
        """Row and column boundaries of the grid: (rows + 1 ints, cols + 1 ints)."""
        ys = [t * height // self.rows for t in range(self.rows + 1)]
        xs = [u * width // self.cols for u in range(self.cols + 1)]
        return ys, xs


class BerrutCode(Code):
    """ApproxIFER-style code: n coded queries by Berrut rational interpolation.

    Data nodes alpha_i = cos((2i + 1) pi / (2k)) (Chebyshev, first kind); evaluation
    points beta_j = cos(j pi / (n - 1)) (second kind). Encoding: x~_j = sum_i
    w_i(beta_j) x_i. Decoding from any non-empty available set A: y_i = sum_{j in A}
    v_j(alpha_i) F(x~_j), the Berrut interpolant through A with signs alternating in A's
    order. Approximate; needs no trained model.
    """

    systematic = False

    def __init__(self, k: int, n: int) -> None:
        super().__init__()
        self.k = _check_int("k", k)
        self.num_coded = self.n = _check_int("n", n, minimum=2)
        i = torch.arange(k, dtype=torch.float64)
        j = torch.arange(n, dtype=torch.float64)
        self.alpha = torch.cos((2 * i + 1) * math.pi / (2 * k))
        self.beta = torch.cos(j * math.pi / (n - 1))

    def __repr__(self) -> str:
        return f"BerrutCode(k={self.k}, n={self.n})"

    def _matrix64(self) -> Tensor:
        full = torch.ones(1, self.k, dtype=torch.bool)
        return berrut_weights(self.beta, self.alpha, full)[0]

    def solve_coefficients(self, available: Tensor) -> Tuple[Tensor, Tensor]:
        available = _as_bool_mask(available, self.n)
        alpha, beta = self._nodes(available.device)
        coeffs = berrut_weights(alpha, beta, available)
        ok = available.any(1)
        return coeffs, ok

    def _nodes(self, device) -> Tuple[Tensor, Tensor]:
        key = ("nodes", torch.device(device))
        nodes = self._matrix_cache.get(key)
        if nodes is None:
            nodes = (self.alpha.to(device), self.beta.to(device))
            self._matrix_cache[key] = nodes
        return nodes


def berrut_weights(points: Tensor, nodes: Tensor, available: Tensor) -> Tensor:
    """Berrut interpolation weights, batched over groups.

    points (P,), nodes (M,) float64; available (G, M) bool. Returns (G, P, M) float64:
    row p holds the weights of the interpolant through the available nodes evaluated at
    points[p], signs alternating in the available nodes' order. A point that coincides
    with an available node gets weight 1 on it; a group with no available node gets 0.
    """
    f64 = torch.float64
    avail = available.to(f64)  # (G, M)
    position = available.to(torch.int64).cumsum(1) - 1
    sign = 1.0 - 2.0 * (position % 2).to(f64)
    diff = points[:, None] - nodes[None, :]  # (P, M)
    hit = diff.abs() < _NODE_EPS
    safe = torch.where(hit, torch.ones_like(diff), diff)
    terms = torch.where(hit, torch.zeros_like(diff), 1.0 / safe)[None] * (avail * sign)[:, None, :]
    total = terms.sum(-1, keepdim=True)
    total = torch.where(total == 0, torch.ones_like(total), total)
    weights = terms / total
    hit_available = hit[None] & available[:, None, :]
    weights = torch.where(hit_available.any(-1, keepdim=True), hit_available.to(f64), weights)
    return weights * available.any(1).to(f64)[:, None, None]


def _finish(coeffs: Tensor, ok: Tensor, have: Tensor, available: Tensor) -> Tensor:
    """Groups that cannot be rebuilt copy their available slots (missing ones get 0);
    every unavailable source gets an exact 0 coefficient."""
    identity = torch.diag_embed(have.to(coeffs.dtype))
    copy = torch.cat([identity, coeffs.new_zeros(coeffs.shape[:2] + (coeffs.shape[2] - have.shape[1],))], dim=2)
    coeffs = torch.where(ok[:, None, None], coeffs, copy)
    return torch.where(available[:, None, :], coeffs, torch.zeros_like(coeffs))


def concat_grid(k: int) -> Tuple[int, int]:
    """(rows, cols) of ConcatCode's tile grid for k images: cols = ceil(sqrt(k)), rows = ceil(k / cols)."""
    cols = math.isqrt(k - 1) + 1 if k > 1 else 1
    return -(-k // cols), cols


def _check_int(name: str, value, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")
    return value


def _check_kr(k: int, r: int) -> Tuple[int, int]:
    return _check_int("k", k), _check_int("r", r)


def code_from_name(name: str, k: int, r: int) -> Code:
    """'sum' | 'cauchy' | 'vandermonde' | 'berrut' | 'concat' -> a code (r: parities or n - k)."""
    if name == "sum":
        return SumCode(k)
    if name == "cauchy":
        return LinearCode.cauchy(k, r)
    if name == "vandermonde":
        return LinearCode.vandermonde(k, r)
    if name == "berrut":
        return BerrutCode(k, k + r)
    if name == "concat":
        return ConcatCode(k)
    raise ValueError(f"code name: expected sum, cauchy, vandermonde, berrut or concat, got {name!r}")

