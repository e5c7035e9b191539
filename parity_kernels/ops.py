"""torch.library ops: schemas, fake (meta) kernels, autograd, and the default kernel.

``torch.ops.parity_kernels.combine(inputs, coeffs, index=None, extra=None)``
    out[g, j] = sum_s coeffs[(g,) j, s] * source[g, s], shape (G, r, *S), inputs' dtype.
    Sources are the k rows of ``inputs`` — stacked (G, k, *S), or gathered from a batch
    (B, *S) through ``index`` (G, k) int64 — followed by the rows of ``extra`` (G, e, *S).
    ``coeffs`` is (r, k + e) shared or (G, r, k + e) per group: float32 (float64 for
    float64 inputs). A zero coefficient never reads its source (it may hold NaN).

``torch.ops.parity_kernels.concat_downsample(images, index=None)``
    ConcatCode's parity image: (G, k, C, H, W) (or a batch (B, C, H, W) + index (G, k))
    -> (G, 1, C, H, W).

``combine_out`` / ``concat_downsample_out`` write the same results into a caller's
contiguous buffer ``out`` (for serving loops that reuse memory; no autograd).

CPU and CUDA get per-device kernels that pick a backend per call (``backends/dispatch.py``);
another device runs the pure-PyTorch kernels of ``backends/eager.py`` after a one-time
warning.

Registration: ``torch.library.Library`` define/impl with ``register_fake`` and
``register_autograd``. ``torch.library.custom_op`` would do the same with about 25 us more
Python per call (its wrappers; PyTorch issue 139500), measured here: bench/NOTES.md.
"""

from __future__ import annotations

import torch
import torch.autograd.forward_ad as _forward_ad
from torch import Tensor

from .backends import dispatch, eager
from .checks import SUPPORTED_DTYPES, check_out, combine_shapes, concat_shapes

__all__ = [
    "combine", "concat_downsample", "combine_out", "concat_downsample_out",
    "SUPPORTED_DTYPES", "combine_shapes", "concat_shapes", "check_out", "register_kernels",
]

_lib = torch.library.Library("parity_kernels", "DEF")
_lib.define("combine(Tensor inputs, Tensor coeffs, Tensor? index=None, Tensor? extra=None) -> Tensor")
_lib.define("concat_downsample(Tensor images, Tensor? index=None) -> Tensor")
_lib.define("combine_out(Tensor inputs, Tensor coeffs, Tensor? index, Tensor? extra, Tensor(a!) out) -> ()")
_lib.define("concat_downsample_out(Tensor images, Tensor? index, Tensor(a!) out) -> ()")

combine = torch.ops.parity_kernels.combine
concat_downsample = torch.ops.parity_kernels.concat_downsample
combine_out = torch.ops.parity_kernels.combine_out
concat_downsample_out = torch.ops.parity_kernels.concat_downsample_out

_DISPATCH_KEYS = {"cpu": "CPU", "cuda": "CUDA"}


def register_kernels(device_type: str, backend) -> None:
    """Attach kernels to every op for one device type ('cpu', 'cuda'; others: the default).

    ``backend`` has ``combine``, ``concat_downsample``, ``combine_out`` and
    ``concat_downsample_out`` with the ops' signatures (see ``backends.dispatch``).
    """
    key = _DISPATCH_KEYS.get(device_type, "CompositeExplicitAutograd")
    for name in ("combine", "concat_downsample", "combine_out", "concat_downsample_out"):
        _lib.impl(name, getattr(backend, name), key)


register_kernels("default", dispatch.DeviceKernels(None))  # other devices: eager, warned once

# ---------------------------------------------------------------------------- combine


@torch.library.register_fake("parity_kernels::combine")
def _combine_fake(inputs, coeffs, index=None, extra=None):
    groups, _, r, item = combine_shapes(inputs, coeffs, index, extra)
    return inputs.new_empty((groups, r) + item)


def _scatter_to_batch(grad_rows: Tensor, index: Tensor, batch_shape) -> Tensor:
    """Gradient of gathering ``batch[index]``: rows (G, k, *S) summed into a (B, *S) batch."""
    batch_shape = tuple(batch_shape)
    return grad_rows.new_zeros(batch_shape).index_add_(0, index.reshape(-1), grad_rows.reshape((-1,) + batch_shape[1:]))


def _combine_setup_context(ctx, inputs, output):
    x, coeffs, index, extra = inputs
    ctx.save_for_backward(x, coeffs, index, extra)


def _combine_backward(ctx, grad):
    x, coeffs, index, extra = ctx.saved_tensors
    # needs_input_grad covers only the arguments actually passed; pad for the defaults.
    need_x, need_c, _, need_extra = (tuple(ctx.needs_input_grad) + (False,) * 4)[:4]
    k = index.shape[1] if index is not None else x.shape[1]
    grad_x = grad_c = grad_extra = None
    if need_x or need_extra:
        # d out[g, j] / d source[g, s] = coeffs[g, j, s]: a combine with the transpose.
        grad_sources = combine(grad, coeffs.transpose(-1, -2).contiguous())
        if need_x:
            grad_rows = grad_sources[:, :k]
            grad_x = grad_rows if index is None else _scatter_to_batch(grad_rows, index, x.shape)
        if need_extra:
            grad_extra = grad_sources[:, k:]
    if need_c:
        rows = x if index is None else x[index]
        if extra is not None:
            rows = torch.cat([rows, extra], dim=1)
        acc = coeffs.dtype
        g = grad.reshape(grad.shape[0], grad.shape[1], -1).to(acc)
        r = rows.reshape(rows.shape[0], rows.shape[1], -1).to(acc)
        grad_c = g @ r.transpose(1, 2)  # (G, r, sources)
        if coeffs.dim() == 2:
            grad_c = grad_c.sum(0)
    return grad_x, grad_c, None, grad_extra


torch.library.register_autograd("parity_kernels::combine", _combine_backward, setup_context=_combine_setup_context)


# ---------------------------------------------------------------------- concat_downsample


@torch.library.register_fake("parity_kernels::concat_downsample")
def _concat_fake(images, index=None):
    groups, _, chw = concat_shapes(images, index)
    return images.new_empty((groups, 1) + chw)


def _concat_setup_context(ctx, inputs, output):
    images, index = inputs
    ctx.save_for_backward(index)
    ctx.images_shape = tuple(images.shape)


def _concat_backward(ctx, grad):
    (index,) = ctx.saved_tensors
    k = index.shape[1] if index is not None else ctx.images_shape[1]
    grad_rows = eager.concat_downsample_backward(grad, k)  # (G, k, C, H, W)
    return (grad_rows if index is None else _scatter_to_batch(grad_rows, index, ctx.images_shape)), None


torch.library.register_autograd("parity_kernels::concat_downsample", _concat_backward,
                                setup_context=_concat_setup_context)


# ------------------------------------------------------------------------- out= variants


@torch.library.register_fake("parity_kernels::combine_out")
def _combine_out_fake(inputs, coeffs, index, extra, out):
    groups, _, r, item = combine_shapes(inputs, coeffs, index, extra)
    check_out(out, (groups, r) + item, inputs)


@torch.library.register_fake("parity_kernels::concat_downsample_out")
def _concat_out_fake(images, index, out):
    groups, _, chw = concat_shapes(images, index)
    check_out(out, (groups, 1) + chw, images)


# ------------------------------------------------------------------ eager calls, direct


def direct_backend(first: Tensor, tensors):
    """The KernelBackend whose ``*_into`` launchers may run this call directly, or None.

    Calling the launcher does exactly what the op would for plain CPU/CUDA tensors in
    eager mode with nothing that intercepts ops: no torch.compile or torch.jit tracing, no
    dispatch or torch-function mode (FakeTensorMode, FlopCounterMode, ...), no functorch
    transform, no forward-AD level open, no tensor subclass, no negative view (``is_neg()``:
    the dispatcher materialises those; the launchers read memory as it is). It skips the
    dispatcher's trip into Python (~12 us of a ~25 us call on tiny tensors); every test here
    is a flag read. Under the profiler ``launch`` labels the launch so profiles still name it.
    ``tensors``: every argument of the call, None for an absent optional one.
    """
    backend = plain_backend(first)  # first: under torch.compile is_neg() does not trace
    if backend is None:
        return None
    for t in tensors:
        if t is not None and (type(t) is not Tensor or t.is_neg()):
            return None
    return backend


def plain_backend(first: Tensor):
    """``direct_backend`` for arguments already known to be plain tensors: the flags only."""
    if (torch.compiler.is_compiling() or torch._C._len_torch_dispatch_stack()
            or torch._C._is_torch_function_mode_enabled() or torch._C._are_functorch_transforms_active()
            or torch._C._get_tracing_state()  # torch.jit.trace records ops, so it must see one
            or _forward_ad._current_level >= 0):  # dual tensors: refused on the checked route (api)
        return None
    # is_cuda / is_cpu: flag reads (first.device builds a device object, ~0.4 us)
    return dispatch.backend_for("cuda") if first.is_cuda else dispatch.backend_for("cpu") if first.is_cpu else None


def launch(name: str, kernel, *args):
    """``kernel(*args)``, a direct launch, and what it returns; while the profiler runs,
    inside a range named ``parity_kernels::<name>`` so profiles still name it (otherwise a
    flag read)."""
    if torch.autograd._profiler_enabled():
        with torch.profiler.record_function(f"parity_kernels::{name}"):
            return kernel(*args)
    return kernel(*args)
