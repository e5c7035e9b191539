"""Launch plans: what a plain eager ``encode``/``decode`` call worked out, kept for the next.

A call that passed every check and launched a compiled kernel directly
(``ops.direct_backend``) learned things that depend only on its tensors' metadata
(shapes, strides, dtypes, devices): that the arguments are valid, the output's shape and
the launch but its tensors (``KernelBackend.plan_state``: the C++ kernels' integer
arguments, a Triton launch's scalars, constants and grid). Those are kept per code,
keyed by that metadata; a later call with the same metadata launches it for its own
tensors, skipping the checks and the layout work (DESIGN §5's host time, here: decode
~21 -> ~11 us, encode ~14 -> ~7 us on CPU; a Triton call's Python ~60 -> ~6 us, and
Triton's JIT dispatch, 25-40 us more, skipped: ``triton/direct.py``).

Never kept: any tensor of a call (a plan holds only the code's own coefficient tensors);
the pointers of the call that made a plan are replaced by each new call's. Checked on
every call, plan or not: autograd, dispatch and torch-function modes, functorch,
torch.compile and torch.jit tracing, forward AD, tensor subclasses, the chosen backend
(``ops.plain_backend``). Plans: ``CombinePlan`` (encode and decode of the linear and
Berrut codes), ``ConcatPlan`` (ConcatCode's encode).
A plan is made only when the kernel reads the tensors in place (no copy to make rows
dense, no contiguous copy of an index or a mask), so its layout holds for every tensor
with the same metadata.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch import Tensor

from . import checks, ops
from .backends import layout

__all__ = ["CombinePlan", "ConcatPlan", "find", "metadata", "store", "store_concat"]

MAX_PLANS = 64  # per code; the table is emptied when full (serving uses a few shapes)


def find(code, op: str, first: Tensor, a: Optional[Tensor], b: Optional[Tensor] = None,
         c: Optional[Tensor] = None, d: Optional[Tensor] = None, e: Optional[Tensor] = None):
    """(plan, key) for a call of ``op`` on ``code`` with tensor arguments ``a``..``e``
    (None where absent); ``first``, one of them, picks the backend by its device.

    plan: the one kept for this metadata, when the call may run it: nothing intercepts ops
    (``ops.plain_backend``), the same backend as when it was made, no argument that
    needs autograd; else None. key: the call's ``metadata`` (what ``store`` keeps a new
    plan under), None where no plan may be kept (ops intercepted, a non-plain argument).
    This is the first thing every plain eager call runs: one frame of flag reads, the key
    and one dict lookup.
    """
    key = metadata(op, a, b, c, d, e)
    if key is None:
        return None, None
    backend = ops.plain_backend(first)
    if backend is None:
        return None, None
    plan = code._plans.get(key)
    if plan is None or plan.backend is not backend:
        return None, key
    if torch.is_grad_enabled() and ((a is not None and a.requires_grad) or (b is not None and b.requires_grad)
                                    or (c is not None and c.requires_grad) or (d is not None and d.requires_grad)
                                    or (e is not None and e.requires_grad)):
        return None, key  # the checked route records the graph or refuses out=
    return plan, key


def metadata(op: str, a: Optional[Tensor], b: Optional[Tensor] = None, c: Optional[Tensor] = None,
             d: Optional[Tensor] = None, e: Optional[Tensor] = None) -> Optional[tuple]:
    """A plan key: ``op`` ("encode", "decode"), then (shape, strides, dtype, device) of
    each tensor argument (None where absent); None when an argument is not a plain
    ``torch.Tensor`` (a subclass, a list) or is a negative view (``is_neg()``, e.g.
    ``z.conj().imag``): such calls take the checked route; None under torch.compile.
    Unrolled: this runs on every call."""
    if torch.compiler.is_compiling():  # no plans there (and is_neg() does not trace)
        return None
    if not ((a is None or type(a) is Tensor) and (b is None or type(b) is Tensor) and (c is None or type(c) is Tensor)
            and (d is None or type(d) is Tensor) and (e is None or type(e) is Tensor)):
        return None
    if ((a is not None and a.is_neg()) or (b is not None and b.is_neg()) or (c is not None and c.is_neg())
            or (d is not None and d.is_neg()) or (e is not None and e.is_neg())):
        return None
    return (op,
            None if a is None else (a.shape, a.stride(), a.dtype, a.device),
            None if b is None else (b.shape, b.stride(), b.dtype, b.device),
            None if c is None else (c.shape, c.stride(), c.dtype, c.device),
            None if d is None else (d.shape, d.stride(), d.dtype, d.device),
            None if e is None else (e.shape, e.stride(), e.dtype, e.device))


def _check_apart(spans: tuple, out: Tensor, inputs: Tensor, extra: Optional[Tensor]) -> None:
    """``checks.check_out_apart`` for tensors of a plan's metadata, from their addresses and
    the plan's byte spans (out, inputs, extra; 0 for none): ~0.3 us instead of ~1.3."""
    out_len, inputs_len, extra_len = spans
    if out_len == 0:
        return
    o = out.data_ptr()
    if checks.spans_overlap(o, out_len, inputs.data_ptr(), inputs_len) or (
            extra is not None and checks.spans_overlap(o, out_len, extra.data_ptr(), extra_len)):
        checks.refuse_overlap()


class CombinePlan(NamedTuple):
    """A combine launch with pointers left to fill: everything else about the call."""

    backend: object  # the KernelBackend that made it; a plan is used only with the same one
    out_shape: torch.Size  # the result's shape
    state: object  # backend.plan_state of the call that made it: the launch but its tensors
    coeffs: Tensor  # the code's coefficient tensor (encode matrix or decode table), kept alive here
    ok_table: Optional[Tensor]  # decode by pattern: the code's table of recoverable patterns
    spans: tuple  # checks.byte_span_length of out, inputs, extra (0 for None): metadata only

    def run(self, inputs: Tensor, index: Optional[Tensor], extra: Optional[Tensor], out: Optional[Tensor],
            available: Optional[Tensor] = None):
        """The kept launch for tensors with this plan's metadata, into ``out`` (checked
        apart from the inputs) or a fresh tensor; returns it, or (y, ok) for decode by
        pattern (``available`` given)."""
        if out is None:
            out = inputs.new_empty(*self.out_shape)  # sizes as arguments: ~0.6 us less than a tuple
        else:
            _check_apart(self.spans, out, inputs, extra)
        if available is None:
            ops.launch("combine_into", self.backend.replay_combine, self.state, out, inputs, index, extra, None)
            return out
        ok = available.new_empty(self.out_shape[0])  # bool, on its device (~0.5 us less than torch.empty)
        ops.launch("decode_by_pattern", self.backend.replay_combine, self.state, out, inputs, index, extra,
                   (available, self.ok_table, ok))
        return out, ok


class ConcatPlan(NamedTuple):
    """A concat_downsample launch (ConcatCode's encode) with its tensors left to fill."""

    backend: object  # the KernelBackend that made it; a plan is used only with the same one
    out_shape: torch.Size  # the result's shape
    state: object  # backend.concat_plan_state of the call that made it
    spans: tuple  # checks.byte_span_length of out, images, 0: metadata only

    def run(self, inputs: Tensor, index: Optional[Tensor], extra: None, out: Optional[Tensor],
            available: None = None) -> Tensor:
        """The kept launch for images ``inputs`` (and ``index``) with this plan's metadata,
        into ``out`` (checked apart from them) or a fresh tensor; ``extra`` and
        ``available`` are None (``CombinePlan.run``'s signature)."""
        if out is None:
            out = inputs.new_empty(*self.out_shape)
        else:
            _check_apart(self.spans, out, inputs, None)
        ops.launch("concat_downsample_into", self.backend.replay_concat, self.state, out, inputs, index)
        return out


def _keep(code, key: tuple, plan) -> None:
    plans = code._plans
    if len(plans) >= MAX_PLANS:
        plans.clear()
    plans[key] = plan


def store_concat(code, key: Optional[tuple], backend, out: Tensor, operands: Optional[layout.ConcatOperands],
                 images: Tensor, index: Optional[Tensor]) -> None:
    """Keep the plan of a concat_downsample call that just launched ``operands`` directly
    (None: nothing launched), when the kernel read ``images`` and ``index`` in place and
    the backend can replay a launch (``KernelBackend.concat_plan_state``)."""
    if key is None or operands is None or backend.replay_concat is None:
        return
    if operands.rows is not images or operands.index is not index:
        return
    spans = (checks.byte_span_length(out), checks.byte_span_length(images), 0)
    _keep(code, key, ConcatPlan(backend, out.shape, backend.concat_plan_state(operands), spans))


def store(code, key: Optional[tuple], backend, out: Tensor, operands: layout.CombineOperands,
          inputs: Tensor, index: Optional[Tensor], extra: Optional[Tensor], coeffs: Tensor,
          available: Optional[Tensor] = None, ok_table: Optional[Tensor] = None) -> None:
    """Keep the plan of a call that just launched ``operands`` directly (None: nothing
    launched, an empty output), when its layout holds for any tensors with the same
    metadata: the kernel read ``inputs``, ``index``, ``extra``, ``coeffs`` and ``available``
    in place, and the backend can replay a launch (``KernelBackend.plan_state``)."""
    if key is None or operands is None or backend.replay_combine is None:
        return
    if (operands.rows is not inputs or operands.index is not index or operands.extra is not extra
            or operands.coeffs is not coeffs or (available is not None and not available.is_contiguous())):
        return
    spans = (checks.byte_span_length(out), checks.byte_span_length(inputs),
             0 if extra is None else checks.byte_span_length(extra))
    state = backend.plan_state(operands, available is not None)
    _keep(code, key, CombinePlan(backend, out.shape, state, coeffs, ok_table, spans))
