"""Public API: ``encode`` and ``decode`` (DESIGN.md §4).

Validation here reads metadata only (shapes, dtypes, devices), never tensor data, so
nothing synchronises with a device; then each call is one kernel launch: ``combine`` for
the linear and Berrut codes, ``concat_downsample`` for ``ConcatCode``. Plain eager calls
launch the backend's kernel directly (decode then looks its coefficients up inside the
kernel from the availability mask); traced, intercepted or differentiated calls go
through the torch.library ops, decode computing its coefficients first. A plain eager call
whose tensors have the metadata of an earlier valid one runs that call's launch plan
(``plans``): pointers read, kernel launched, checks already done. Group indices are range-checked
by the CPU kernels (ValueError). On CUDA raising would need a device sync, so the kernels
(Triton and CUDA C++) give a group with an index outside the batch NaN in every output,
reading nothing through that index, and decode's ok False where the kernel looks the
coefficients up itself (eager calls of codes with up to ``codes.TABLE_SOURCES`` sources;
elsewhere ok reflects the erasure pattern only). torch's own indexing kernels stop the
process's CUDA context with a device-side assert instead.
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
import torch.autograd.forward_ad as _forward_ad
from torch import Tensor

from . import ops, plans
from .checks import SUPPORTED_DTYPES, check_out, check_out_apart
from .codes import BerrutCode, Code, ConcatCode

__all__ = ["encode", "decode"]


def _check_tensor(name: str, t, min_dim: int) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"{name}: expected float32, float16, bfloat16 (or float64 on CPU), got {t.dtype}")
    if t.dtype == torch.float64 and t.device.type != "cpu":
        raise TypeError(f"{name}: float64 is supported on CPU only, got it on {t.device}")
    if t.dim() < min_dim:
        raise ValueError(f"{name}: expected at least {min_dim} dims, got shape {tuple(t.shape)}")
    return t


def _check_code(code) -> Code:
    if not isinstance(code, Code):
        raise TypeError(f"code: expected a parity_kernels code (SumCode, LinearCode, ...), got {type(code).__name__}")
    return code


def _check_groups(groups, k: int, device: torch.device) -> Tensor:
    if not isinstance(groups, Tensor):
        raise TypeError(f"groups: expected a torch.Tensor of int64, got {type(groups).__name__}")
    if groups.dtype != torch.int64:
        raise TypeError(f"groups: expected dtype torch.int64, got {groups.dtype}")
    if groups.dim() != 2 or groups.shape[1] != k:
        raise ValueError(f"groups: expected shape (G, {k}), got {tuple(groups.shape)}")
    if groups.device != device:
        raise ValueError(f"groups: expected device {device} (the batch's), got {groups.device}")
    return groups


def _needs_autograd(*tensors) -> bool:
    if not torch.is_grad_enabled():
        return False
    for t in tensors:  # a loop, not any(generator): this runs on every call
        if t is not None and t.requires_grad:
            return True
    return False


def _refuse_tangents(*tensors) -> None:
    """Forward-mode AD is not implemented (the ops register a backward only): a dual
    tensor would come out without its tangent, silently. Costs an int read unless a
    forward-AD level is open."""
    if _forward_ad._current_level < 0:
        return
    for t in tensors:
        if isinstance(t, Tensor) and _forward_ad.unpack_dual(t).tangent is not None:
            raise NotImplementedError(
                "parity_kernels: forward-mode AD (dual tensors) is not supported by encode/decode; "
                "use reverse mode (backward), or encode/decode the tangents yourself: both are linear"
            )


def _check_out_autograd(*tensors) -> None:
    if _needs_autograd(*tensors):
        raise ValueError("out: writing into a caller's buffer does not support autograd; call without out=")


def _coeff_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def encode(x: Tensor, code: Code, *, groups: Optional[Tensor] = None, out: Optional[Tensor] = None) -> Tensor:
    """Encode coding groups into coded queries.

    x: stacked groups (G, k, *S), or a serving batch (B, *S) with ``groups`` (G, k) int64
    rows of batch indices. Returns (G, num_coded, *S) in x's dtype: r parities for the
    systematic codes, n coded queries for ``BerrutCode``, one tiled image for
    ``ConcatCode`` (whose *S must be (C, H, W)).

    out: optional contiguous buffer of the result's shape and dtype, sharing no memory with
    x (ValueError), written and returned (reusing memory saves fresh-page faults on CPU; no
    autograd through it).
    """
    code = _check_code(code)
    plan, key = plans.find(code, "encode", x, x, groups, out)
    if plan is not None:  # a call with this metadata passed every check below before
        return plan.run(x, groups, None, out)
    if groups is None:
        _check_tensor("x", x, 2)
        if x.shape[1] != code.k:
            raise ValueError(f"x: expected shape (G, {code.k}, *S) for {code!r}, got {tuple(x.shape)}")
        item = tuple(x.shape[2:])
    else:
        _check_tensor("x", x, 1)
        _check_groups(groups, code.k, x.device)
        item = tuple(x.shape[1:])
    _refuse_tangents(x)
    if isinstance(code, ConcatCode):
        if len(item) != 3:
            raise ValueError(f"x: ConcatCode expects images of shape (C, H, W), got item shape {item}")
        if item[1] < code.rows or item[2] < code.cols:
            raise ValueError(
                f"x: images of {item[1]} x {item[2]} are smaller than ConcatCode(k={code.k})'s "
                f"{code.rows} x {code.cols} grid"
            )
        shape = (groups.shape[0] if groups is not None else x.shape[0], 1) + item
        out, backend, operands = _launch(ops.concat_downsample, ops.concat_downsample_out, "concat_downsample_into",
                                         (x, groups), (x,), shape, out)
        if backend is not None:
            plans.store_concat(code, key, backend, out, operands, x, groups)
        return out
    weights = code.encode_matrix(x.device, _coeff_dtype(x.dtype))
    return _combine(x, weights, groups, None, out, item, code, key)


def decode(
    outputs: Optional[Tensor],
    coded_outputs: Tensor,
    available: Tensor,
    code: Code,
    *,
    groups: Optional[Tensor] = None,
    out: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor]:
    """Rebuild the missing outputs of each coding group.

    Systematic codes: ``outputs`` (G, k, *O) (or a batch (B, *O) with ``groups`` (G, k)),
    missing slots holding anything (NaN included: they are never read);
    ``coded_outputs`` (G, r, *O); ``available`` (G, k + r) bool, data slots then parities.
    ``BerrutCode``: ``outputs`` None, ``coded_outputs`` (G, n, *O), ``available`` (G, n).

    Returns ``(y, ok)``: y (G, k, *O) in the outputs' dtype, available slots copied and
    every recoverable missing slot rebuilt; ok (G,) bool, True where the whole group was
    recovered. Missing slots of groups with ok False are 0. ``out``: optional contiguous
    (G, k, *O) buffer that receives y, sharing no memory with outputs or coded_outputs
    (ValueError; no autograd through it).
    """
    code = _check_code(code)
    plan, key = plans.find(code, "decode", coded_outputs, outputs, coded_outputs, available, groups, out)
    if isinstance(code, BerrutCode):
        inputs, extra = coded_outputs, None
    else:
        inputs, extra = outputs, coded_outputs
    if plan is not None:  # a call with this metadata passed every check below before
        return plan.run(inputs, groups, extra, out, available)
    _check_tensor("coded_outputs", coded_outputs, 2)
    coded_shape = coded_outputs.shape
    if coded_shape[1] != code.num_coded:
        raise ValueError(
            f"coded_outputs: expected shape (G, {code.num_coded}, *O) for {code!r}, got {tuple(coded_shape)}"
        )
    num_groups = coded_shape[0]
    item = coded_shape[2:]
    if not isinstance(available, Tensor) or available.dtype != torch.bool:
        got = available.dtype if isinstance(available, Tensor) else type(available).__name__
        raise TypeError(f"available: expected a bool tensor, got {got}")
    if available.shape != (num_groups, code.num_sources):
        raise ValueError(f"available: expected shape ({num_groups}, {code.num_sources}), got {tuple(available.shape)}")
    device = coded_outputs.device
    if available.device != device:
        raise ValueError(f"available: expected device {device}, got {available.device}")
    _refuse_tangents(outputs, coded_outputs)
    if isinstance(code, BerrutCode):
        if outputs is not None or groups is not None:
            raise ValueError("outputs: BerrutCode is not systematic; pass outputs=None and no groups")
        return _decode(code, inputs, None, extra, available, out, item, key)
    if outputs is None:
        raise ValueError(f"outputs: expected the data outputs (G, {code.k}, *O) for {code!r}, got None")
    _check_tensor("outputs", outputs, 1 if groups is not None else 2)
    if outputs.dtype != coded_outputs.dtype or outputs.device != device:
        raise TypeError(
            f"outputs: expected {coded_outputs.dtype} on {device} like coded_outputs, "
            f"got {outputs.dtype} on {outputs.device}"
        )
    outputs_shape = outputs.shape
    if groups is None:
        if outputs_shape[0] != num_groups or outputs_shape[1] != code.k or outputs_shape[2:] != item:
            raise ValueError(f"outputs: expected shape {(num_groups, code.k) + tuple(item)}, got {tuple(outputs_shape)}")
    else:
        _check_groups(groups, code.k, device)
        if groups.shape[0] != num_groups or outputs_shape[1:] != item:
            raise ValueError(
                f"outputs/groups: expected a batch (B, {', '.join(map(str, item))}) and groups ({num_groups}, {code.k}), "
                f"got {tuple(outputs_shape)} and {tuple(groups.shape)}"
            )
    return _decode(code, inputs, groups, extra, available, out, item, key)


def _decode(code, inputs, index, extra, available, out, item, key):
    """decode's combine: in one launch where the backend looks coefficients up by pattern,
    else coefficients first (``decode_coefficients``), then ``combine``."""
    fused = _decode_by_pattern(code, inputs, index, extra, available, out, item, key)
    if fused is not None:
        return fused
    coeffs, ok = code.decode_coefficients(available, _coeff_dtype(inputs.dtype))
    return _combine(inputs, coeffs, index, extra, out, item), ok


def _decode_by_pattern(code, inputs, index, extra, available, out, item, key):
    """(y, ok) from one kernel that reads ``available`` and the code's pattern table itself,
    or None where this call cannot: autograd, a traced or intercepted call
    (``ops.direct_backend``), a backend without it, no table, empty rows. Kept as a plan
    under ``key``."""
    if _needs_autograd(inputs, extra):
        return None
    backend = ops.direct_backend(inputs, (inputs, index, extra, available, out))
    if backend is None or backend.combine_patterns_into is None:
        return None
    groups = available.shape[0]
    shape = (groups, code.k) + item
    if math.prod(shape) == 0:
        return None
    device = available.device
    table = code.decode_table(device, _coeff_dtype(inputs.dtype))
    if table is None:
        return None
    if out is None:
        out = inputs.new_empty(*shape)  # sizes as arguments: ~0.6 us less than one tuple
    else:
        check_out(out, shape, inputs)
        check_out_apart(out, inputs, extra)
    ok = available.new_empty(groups)  # bool (checked above), on its device
    operands = ops.launch("decode_by_pattern", backend.combine_patterns_into, out, ok, inputs, table[0], table[1],
                          available, index, extra)
    plans.store(code, key, backend, out, operands, inputs, index, extra, table[0], available, table[1])
    return out, ok


def _combine(inputs, coeffs, index, extra, out, item, code=None, key=None):
    """combine into ``out`` or a fresh tensor; a direct launch is kept as a plan of
    ``code`` under ``key`` (when given)."""
    groups = index.shape[0] if index is not None else inputs.shape[0]
    out, backend, operands = _launch(ops.combine, ops.combine_out, "combine_into", (inputs, coeffs, index, extra),
                                     (inputs, coeffs, extra), (groups, coeffs.shape[-2]) + item, out)
    if backend is not None and key is not None:
        plans.store(code, key, backend, out, operands, inputs, index, extra, coeffs)
    return out


def _launch(op, op_out, launcher, args, differentiable, shape, out):
    """One op call; returns (out, backend, what the launcher returned). With autograd in
    play: ``op``, which records the graph. Otherwise the out= op, into ``out`` or a fresh
    tensor of ``shape``: the same kernel without the autograd wrapper's ~15 us of Python;
    and for plain eager tensors the backend's ``launcher`` directly
    (``ops.direct_backend``), every argument validated here. ``backend`` is None except
    for a direct launch."""
    given = out is not None
    if out is None:
        if _needs_autograd(*differentiable):
            return op(*args), None, None
        out = args[0].new_empty(*shape)
    else:
        _check_out_autograd(*differentiable)
        check_out(out, shape, args[0])
    backend = ops.direct_backend(args[0], args + (out,))
    if backend is None:
        op_out(*args, out)  # checks out's memory where it runs (KernelBackend.*_out)
        return out, None, None
    if given:
        check_out_apart(out, *differentiable)
    return out, backend, ops.launch(launcher, getattr(backend, launcher), out, *args)
