"""Plain eager encode/decode call the backend directly; anything that intercepts ops
(dispatch modes, fake tensors, the profiler, torch.compile) still sees the op."""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import parity_kernels as pk
from parity_kernels import ops, reference


class _OpLog(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.names = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(str(func))
        return func(*args, **(kwargs or {}))


def _case():
    torch.manual_seed(3)
    code = pk.LinearCode.cauchy(3, 2)
    x = torch.randn(5, 3, 7)
    outputs = x.clone()  # the model is the identity: decode must give back x
    available = torch.ones(5, 5, dtype=torch.bool)
    available[:, 1] = False
    outputs[:, 1] = float("nan")
    return code, x, outputs, available


def _refuse(*args, **kwargs):
    raise AssertionError("the op was called; a plain eager call should have gone to the backend")


@pytest.mark.parametrize("with_out", [False, True])
def test_plain_eager_calls_skip_the_op(monkeypatch, with_out):
    code, x, outputs, available = _case()
    want = reference.encode(x, code)
    monkeypatch.setattr(ops, "combine_out", _refuse)
    out = torch.full((5, 2, 7), float("nan")) if with_out else None
    got = pk.encode(x, code, out=out)
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-5)
    assert out is None or got is out
    coded = want.float()
    y, ok = pk.decode(outputs, coded, available, code)
    assert bool(ok.all()) and not bool(y.isnan().any())
    torch.testing.assert_close(y[:, 1], x[:, 1], rtol=1e-4, atol=1e-4)


def test_concat_code_plain_eager_skips_the_op(monkeypatch):
    code = pk.ConcatCode(4)
    images = torch.randn(2, 4, 3, 8, 8)
    monkeypatch.setattr(ops, "concat_downsample_out", _refuse)
    torch.testing.assert_close(pk.encode(images, code).double(), reference.encode(images, code), rtol=1e-5, atol=1e-5)


def test_dispatch_mode_sees_the_op():
    code, x, outputs, available = _case()
    with _OpLog() as log:
        parity = pk.encode(x, code)
        pk.decode(outputs, parity, available, code)
    assert log.names.count("parity_kernels.combine_out.default") == 2, log.names
    torch.testing.assert_close(parity.double(), reference.encode(x, code), rtol=1e-5, atol=1e-5)


def test_fake_tensors_get_shapes_without_running_a_kernel():
    from torch._subclasses.fake_tensor import FakeTensorMode

    code = pk.SumCode(4)
    with FakeTensorMode(allow_non_fake_inputs=True):  # the code's cached matrices are real
        x = torch.empty(6, 4, 3, 5)
        parity = pk.encode(x, code)
        y, ok = pk.decode(x, parity, torch.ones(6, 5, dtype=torch.bool), code)
    assert parity.shape == (6, 1, 3, 5) and y.shape == (6, 4, 3, 5) and ok.shape == (6,)


def test_profiler_names_the_launch():
    code, x, outputs, available = _case()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        parity = pk.encode(x, code)
        pk.decode(outputs, parity, available, code)
    names = {e.name for e in prof.events()}
    assert {"parity_kernels::combine_into", "parity_kernels::decode_by_pattern"} <= names, names


def test_subclass_tensors_take_the_op(monkeypatch):
    class Tagged(torch.Tensor):
        pass

    code, x, _, _ = _case()
    calls = []
    real = ops.combine_out
    monkeypatch.setattr(ops, "combine_out", lambda *a: calls.append(1) or real(*a))
    got = pk.encode(x.as_subclass(Tagged), code)
    assert calls == [1]
    torch.testing.assert_close(got.double().as_subclass(torch.Tensor), reference.encode(x, code),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("code", [pk.SumCode(3), pk.LinearCode.cauchy(4, 2), pk.BerrutCode(3, 5)], ids=repr)
@pytest.mark.parametrize("gathered", [False, True])
def test_decode_by_pattern_matches_the_op_path(code, gathered):
    """Plain eager decode looks coefficients up inside the kernel; the op path (what
    torch.compile and dispatch modes see) computes them first. Same y, same ok."""
    if gathered and not code.systematic:
        pytest.skip("BerrutCode decodes stacked coded outputs only")
    torch.manual_seed(11)
    groups, item = 9, (5, 3)
    available = torch.rand(groups, code.num_sources) < 0.6
    available[0] = True  # nothing missing
    available[1] = False  # nothing at all: unrecoverable
    coded = torch.randn(groups, code.num_coded, *item)
    coded.masked_fill_(~available[:, code.num_sources - code.num_coded:, None, None], float("nan"))
    outputs, index = None, None
    if code.systematic:
        outputs = torch.randn(groups, code.k, *item)
        outputs.masked_fill_(~available[:, :code.k, None, None], float("nan"))
        if gathered:
            index = torch.randperm(groups * code.k).view(groups, code.k)
            batch = torch.empty(groups * code.k, *item)
            batch[index.flatten()] = outputs.flatten(0, 1)
            outputs = batch
    y, ok = pk.decode(outputs, coded, available, code, groups=index)
    with _OpLog() as log:
        y_op, ok_op = pk.decode(outputs, coded, available, code, groups=index)
    assert "parity_kernels.combine_out.default" in log.names
    assert torch.equal(ok, ok_op) and not bool(ok.all())  # some patterns are unrecoverable
    torch.testing.assert_close(y, y_op, rtol=1e-6, atol=1e-6, equal_nan=False)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")  # shape checks: constants in a trace
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.trace itself
def test_jit_trace_records_the_ops():
    """torch.jit.trace sees encode and decode (a direct launch would be invisible to it and
    the trace would replay garbage), even after eager calls of the same metadata kept plans."""
    code, x, outputs, available = _case()

    def coded_round_trip(x, outputs, available):
        parity = pk.encode(x, code)
        return pk.decode(outputs, parity, available, code)

    coded_round_trip(x, outputs, available)  # plain eager first: plans kept
    traced = torch.jit.trace(coded_round_trip, (x, outputs, available), check_trace=False)
    kinds = [node.kind() for node in traced.graph.nodes()]
    assert kinds.count("parity_kernels::combine_out") == 2, kinds
    fresh = torch.randn_like(x)
    fresh_outputs = fresh.clone()
    fresh_outputs[:, 1] = float("nan")
    y, ok = traced(fresh, fresh_outputs, available)
    assert bool(ok.all())
    torch.testing.assert_close(y, fresh, rtol=1e-4, atol=1e-4)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's forward AD scripts a helper
def test_forward_mode_ad_is_refused_not_dropped():
    """Dual tensors would lose their tangents in the kernels: a clear error instead; a
    forward-AD level with plain tensors still computes."""
    import torch.autograd.forward_ad as fwAD

    code, x, outputs, available = _case()
    parity = pk.encode(x, code)  # eager first: plans kept
    with fwAD.dual_level():
        dual = fwAD.make_dual(x, torch.randn_like(x))
        with pytest.raises(NotImplementedError, match="forward-mode AD"):
            pk.encode(dual, code)
        with pytest.raises(NotImplementedError, match="forward-mode AD"):
            pk.decode(outputs, fwAD.make_dual(parity, torch.randn_like(parity)), available, code)
        torch.testing.assert_close(pk.encode(x, code), parity)


def test_negative_views_are_read_with_their_sign():
    """A tensor with the negative bit (``z.conj().imag`` of complex z; ``torch._neg_view``)
    holds -value in memory: the launchers read memory as it is, so such calls take the op,
    whose dispatcher materialises them, also after a plan of the same metadata; a
    negative-view ``out`` is refused."""
    torch.manual_seed(5)
    code, x, outputs, available = _case()
    pk.encode(x, code), pk.decode(outputs, pk.encode(x, code), available, code)  # plans kept
    items_of_one = torch.randn(5, 3, 1, dtype=torch.cfloat).conj().imag  # public, read in place
    assert items_of_one.is_neg()
    torch.testing.assert_close(pk.encode(items_of_one, code).double(), reference.encode(items_of_one, code))
    for _ in range(2):  # the second call: a plan of x's metadata exists
        neg_x = torch._neg_view(-x)
        torch.testing.assert_close(pk.encode(neg_x, code), pk.encode(x, code))
        parity = pk.encode(x, code)
        y, ok = pk.decode(torch._neg_view(-outputs), torch._neg_view(-parity), available, code)
        assert bool(ok.all())
        torch.testing.assert_close(y, x, rtol=1e-4, atol=1e-4)
    images = torch.randn(2, 4, 3, 6, 6)
    concat = pk.ConcatCode(4)
    torch.testing.assert_close(pk.encode(torch._neg_view(-images), concat), pk.encode(images, concat))
    with pytest.raises(ValueError, match="out: expected a plain tensor, got a negative view"):
        pk.encode(x, code, out=torch._neg_view(torch.empty(5, 2, 7)))
