"""Triton launches made without ``JITFunction.run`` (parity_kernels/triton/direct.py): a
launch plan's, and the ops' (no plan) from the second with the same launch key.

No GPU here: a stand-in driver (an sm_90 target, a launcher that records its arguments
instead of launching) lets Triton compile the real kernels and call their launchers with
CPU tensors. Each test launches through the JIT and through the direct path on the same
tensors and asserts the launcher got the same call: grid, stream, kernel, metadata and
every argument (tensors as the addresses the launcher reads from them). And that the
direct path steps aside wherever the JIT could pick another kernel. Whether the launches
run right on a device is tests/test_gpu.py's (the same path, on a GPU).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

triton = pytest.importorskip("triton")

from parity_kernels import LinearCode  # noqa: E402
from parity_kernels.backends import layout  # noqa: E402
from parity_kernels.bench.gpu_code import RecordedLaunches as Recorder  # noqa: E402
from parity_kernels.bench.gpu_code import Sm90Recording, recording_sm90  # noqa: E402
from parity_kernels.triton import INTERPRET, combine, concat_downsample, direct  # noqa: E402

pytestmark = pytest.mark.skipif(INTERPRET, reason="compiled kernels only (the interpreter has no launcher)")

needs_direct = pytest.mark.skipif(direct.knobs is None, reason="Triton before 3.4: every launch goes through the JIT")

DEVICE = -1  # the stand-in's device: CPU tensors report -1, so no device switch is needed


@pytest.fixture
def recording(monkeypatch):
    # two configs each (blocks 512 and 1024; 1 x 64 and 1 x 128), so an autotuned launch
    # compiles two kernels, not dozens; the stand-in picks the second
    tuned = combine._combine_tuned.configs
    monkeypatch.setattr(combine._combine_tuned, "configs", [tuned[2], tuned[4]])
    tuned = concat_downsample._concat_tuned.configs
    monkeypatch.setattr(concat_downsample._concat_tuned, "configs", [tuned[0], tuned[3]])
    launch = direct.launch
    monkeypatch.setattr(direct, "launch", lambda *a: DIRECT.append(launch(*a)) or DIRECT[-1])
    DIRECT.clear()
    with recording_sm90() as stand_in:
        assert stand_in.device == DEVICE
        yield stand_in


DIRECT: list = []  # what each direct.launch returned (True: it launched), in a recording test


def went_direct() -> bool:
    """Whether the last launch was a direct one."""
    return bool(DIRECT) and DIRECT[-1]


def addresses(call: tuple) -> tuple:
    """A launcher call with its hooks and launch metadata left out, tensors as addresses."""
    kept = call[:6] + call[9:]
    return tuple(a.data_ptr() if isinstance(a, torch.Tensor) else a for a in kept)


def through_jit(monkeypatch, replay, *arguments) -> tuple:
    """The launcher call the JIT makes for ``replay(*arguments)`` (the direct path off)."""
    with monkeypatch.context() as m:
        m.setattr(direct, "launch", lambda *a: False)
        replay(*arguments)
    return Recorder.calls[-1]


def launched_directly(replay, *arguments) -> tuple:
    before = len(Recorder.calls)
    replay(*arguments)
    assert len(Recorder.calls) == before + 1
    assert went_direct(), "went through the JIT"
    call = Recorder.calls[-1]
    assert call[6:9] == (None, None, None), "passed launch metadata or hooks"
    return call


def combine_case(kind: str, item=(3, 8, 8), groups=3, k=4, r=2, dtype=torch.float32):
    """(state, tensors a replay takes, a function giving fresh tensors of the same metadata)."""
    code = LinearCode.cauchy(k, r)

    def tensors():
        x = torch.randn(groups, k, *item).to(dtype)
        out = torch.empty(groups, r if kind != "pattern" else k, *item, dtype=dtype)
        if kind == "encode":
            return out, x, None, None, None
        if kind == "gathered":
            return out, torch.randn(groups * k, *item).to(dtype), torch.randperm(groups * k).view(groups, k), None, None
        available = torch.ones(groups, k + r, dtype=torch.bool)
        available[:, 1] = False
        table, ok_table = code.decode_table(torch.device("cpu"), torch.float32)
        patterns = (available, ok_table, torch.empty(groups, dtype=torch.bool))
        return out, x, None, torch.randn(groups, r, *item).to(dtype), patterns

    out, inputs, index, extra, patterns = tensors()
    coeffs = code.decode_table(torch.device("cpu"), torch.float32)[0] if kind == "pattern" else torch.randn(r, k)
    o = layout.combine_operands(out, inputs, coeffs, index, extra)
    return combine.plan_state(o, patterns is not None), tensors


@needs_direct
@pytest.mark.parametrize("kind", ["encode", "gathered", "pattern"])
def test_combine_launches_as_the_jit(recording, monkeypatch, kind):
    state, tensors = combine_case(kind)
    combine.replay_combine(state, *tensors())  # the JIT's, remembered
    assert state.compiled, "the first launch kept nothing"
    fresh = tensors()
    direct_call = launched_directly(combine.replay_combine, state, *fresh)
    assert addresses(direct_call) == addresses(through_jit(monkeypatch, combine.replay_combine, state, *fresh))


@needs_direct
@pytest.mark.parametrize("gathered", [False, True])
def test_concat_launches_as_the_jit(recording, monkeypatch, gathered):
    def tensors():
        out = torch.empty(2, 1, 3, 32, 32)
        if gathered:
            return out, torch.randn(8, 3, 32, 32), torch.randperm(8).view(2, 4)
        return out, torch.randn(2, 4, 3, 32, 32), None

    out, images, index = tensors()
    state = concat_downsample.concat_plan_state(layout.concat_operands(out, images, index))
    concat_downsample.replay_concat(state, out, images, index)
    fresh = tensors()
    direct_call = launched_directly(concat_downsample.replay_concat, state, *fresh)
    assert addresses(direct_call) == addresses(through_jit(monkeypatch, concat_downsample.replay_concat, state, *fresh))


@needs_direct
def test_autotuned_launch_uses_the_chosen_config(recording, monkeypatch):
    """An autotuned kernel's grid depends on the config the tuning chose (here the second
    one tried, whose block differs from the first's)."""
    state, tensors = combine_case("encode", item=(1 << 17,), groups=4)
    assert state.kernel is combine._combine_tuned
    combine.replay_combine(state, *tensors())  # tunes (two configs), then launches the chosen one
    chosen = combine._combine_tuned.configs[1]
    assert combine._combine_tuned.best_config is chosen and chosen.kwargs["BLOCK"] == 1024
    fresh = tensors()
    direct_call = launched_directly(combine.replay_combine, state, *fresh)
    assert direct_call[0] == 4 * triton.cdiv(1 << 17, chosen.kwargs["BLOCK"])
    assert addresses(direct_call) == addresses(through_jit(monkeypatch, combine.replay_combine, state, *fresh))


@needs_direct
def test_autotuned_concat_launch(recording, monkeypatch):
    def tensors():
        return torch.empty(8, 1, 3, 224, 224), torch.randn(8, 4, 3, 224, 224), None

    out, images, index = tensors()
    state = concat_downsample.concat_plan_state(layout.concat_operands(out, images, index))
    assert state.kernel is concat_downsample._concat_tuned
    concat_downsample.replay_concat(state, out, images, index)
    chosen = concat_downsample._concat_tuned.configs[1].kwargs
    assert (chosen["BLOCK_Y"], chosen["BLOCK_X"]) == (1, 128)
    fresh = tensors()
    direct_call = launched_directly(concat_downsample.replay_concat, state, *fresh)
    assert direct_call[:3] == (8 * 3 * 224, triton.cdiv(224, 128), 1)
    assert addresses(direct_call) == addresses(through_jit(monkeypatch, concat_downsample.replay_concat, state, *fresh))


@needs_direct
def test_a_pointer_aligned_otherwise_goes_through_the_jit(recording, monkeypatch):
    """Same metadata (a plan's key) but 4 bytes into the storage: the JIT compiles another
    kernel for it (no 16-byte alignment assumed), and the direct path must not launch the
    first one."""
    state, tensors = combine_case("encode", item=(16,))
    out, x, _, _, _ = tensors()
    combine.replay_combine(state, out, x, None, None, None)
    shifted = torch.randn(x.numel() + 1)[1:].view(x.shape)
    assert shifted.stride() == x.stride() and shifted.data_ptr() % 16 != 0
    compiled_kernels = combine._combine_kernel.device_caches[DEVICE][0]  # the JIT's kernel cache
    before = len(compiled_kernels)
    combine.replay_combine(state, out, shifted, None, None, None)
    call = Recorder.calls[-1]
    assert not went_direct(), "launched directly"
    assert len(compiled_kernels) == before + 1
    assert addresses(call) == addresses(through_jit(monkeypatch, combine.replay_combine, state, out, shifted, None,
                                                    None, None))


@needs_direct
def test_launch_hooks_and_another_device_go_through_the_jit(recording):
    state, tensors = combine_case("encode")
    combine.replay_combine(state, *tensors())
    hooks, hook = direct.knobs.runtime, print  # a profiler's; the stand-in launcher never calls it
    if hasattr(hooks.launch_enter_hook, "add"):  # Triton 3.5 on: a chain
        hooks.launch_enter_hook.add(hook)
        remove = lambda: hooks.launch_enter_hook.remove(hook)  # noqa: E731
    else:  # 3.4: one hook or None
        hooks.launch_enter_hook, remove = hook, lambda: setattr(hooks, "launch_enter_hook", None)
    try:
        combine.replay_combine(state, *tensors())
    finally:
        remove()
    assert not went_direct(), "launched directly under a launch hook"
    recording.device = DEVICE - 1  # the current device changed: the kernel kept was another device's
    assert not direct.launch(state.compiled, recording.device, (16,) * 8, ())
    recording.device = DEVICE
    launched_directly(combine.replay_combine, state, *tensors())


def test_aligned():
    assert direct.aligned((0, 16, 4, 33)) == (True, True, False, False)


@needs_direct
def test_calls_without_a_plan_launch_directly_from_their_second(recording, monkeypatch):
    """Launches outside a plan (the ops' kernels under torch.compile or autograd, a call's
    checked route): through the JIT once per launch key, then directly, as the JIT would
    launch them; another number of groups (same kernel arguments, another grid) is another
    key."""
    monkeypatch.setattr(direct, "_BY_KEY", {})
    coeffs = torch.randn(2, 4)

    def combine_into(groups):
        out, x = torch.empty(groups, 2, 64), torch.randn(groups, 4, 64)
        combine.combine_into(out, x, coeffs)
        return out, x

    combine_into(3)
    assert not went_direct()
    out, x = combine_into(3)
    assert went_direct()
    direct_call = Recorder.calls[-1]
    with direct.jit_only():
        combine.combine_into(out, x, coeffs)
    assert addresses(direct_call) == addresses(Recorder.calls[-1])
    combine_into(5)
    assert not went_direct() and Recorder.calls[-1][0] == 5 * direct_call[0] // 3

    def concat_into(images):
        out = torch.empty(images.shape[0], 1, 3, 32, 32)
        concat_downsample.concat_downsample_into(out, images, None)
        return out

    concat_into(torch.randn(2, 4, 3, 32, 32))
    assert not went_direct()
    images = torch.randn(2, 4, 3, 32, 32)
    out = concat_into(images)
    assert went_direct()
    direct_call = Recorder.calls[-1]
    with direct.jit_only():
        concat_downsample.concat_downsample_into(out, images, None)
    assert addresses(direct_call) == addresses(Recorder.calls[-1])
    assert len(direct._BY_KEY) == 3


def test_calls_without_a_plan_keep_nothing_while_direct_launches_are_off(recording, monkeypatch):
    monkeypatch.setattr(direct, "_BY_KEY", {})
    out, x, coeffs = torch.empty(3, 2, 64), torch.randn(3, 4, 64), torch.randn(2, 4)
    with direct.jit_only():
        for _ in range(2):
            combine.combine_into(out, x, coeffs)
            assert not went_direct()
    assert direct._BY_KEY == {}


def test_host_time_tool_restores_what_it_changes():
    """``python -m parity_kernels.bench.triton_host`` (timings are bench/RESULTS.md's, not asserted)."""
    from parity_kernels.backends import dispatch
    from parity_kernels.bench import triton_host

    rows = triton_host.run(rounds=1, number=3, repeat=1)
    assert [mode for mode, _ in rows] == ["JIT", "direct"]
    assert all(set(times) == {"x.sum(1)", "encode out=", "decode out=", "ConcatCode encode out=", "op combine_out"} and
               all(t > 0 for t in times.values()) for _, times in rows)
    assert direct.ENABLED and direct._BY_KEY == {}
    assert dispatch.backend_for("cpu").name == "cpu"
    assert driver_is_restored()


def driver_is_restored() -> bool:
    from triton.runtime import driver

    active = vars(driver).get("_active", vars(driver).get("active"))  # Triton 3.5 on / 3.4
    return not isinstance(active, Sm90Recording)


@pytest.mark.skipif(direct.knobs is not None, reason="Triton 3.4 on launches plans directly")
def test_before_triton_3_4_plans_launch_through_the_jit(recording):
    state, tensors = combine_case("encode")
    for _ in range(3):
        combine.replay_combine(state, *tensors())
    assert not state.compiled and len(Recorder.calls) == 3


@needs_direct
def test_jit_only_and_the_switch_that_turns_direct_launches_off(recording):
    """``jit_only()`` for a block (host-time comparisons); PARITY_KERNELS_TRITON_DIRECT=0 for
    the process (a way out should a Triton version launch differently)."""
    state, tensors = combine_case("encode")
    for _ in range(2):
        combine.replay_combine(state, *tensors())
    with direct.jit_only():
        combine.replay_combine(state, *tensors())
        assert not went_direct()
    launched_directly(combine.replay_combine, state, *tensors())
    code = "from parity_kernels.triton import direct; print(direct.ENABLED)"
    for value, enabled in (("0", "False"), ("1", "True")):
        env = dict(os.environ, PARITY_KERNELS_TRITON_DIRECT=value)
        env.pop("TRITON_INTERPRET", None)
        ran = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
        assert ran.stdout.strip() == enabled, ran.stderr[-2000:]


@needs_direct
def test_a_plan_launches_directly_from_its_first_replay(recording):
    """The call that makes a plan launched through the JIT (its checked route); the plan's
    launches share what that launch kept (the same launch key): the next call is direct."""
    import parity_kernels as pk
    from parity_kernels.bench.triton_host import triton_on_cpu_tensors

    code, concat = pk.LinearCode.cauchy(4, 2), pk.ConcatCode(4)
    x, out = torch.randn(16, 4, 8), torch.empty(16, 2, 8)
    images, tiled = torch.randn(2, 4, 3, 32, 32), torch.empty(2, 1, 3, 32, 32)
    with triton_on_cpu_tensors():
        for call in (lambda: pk.encode(x, code, out=out), lambda: pk.encode(images, concat, out=tiled)):
            call()
            assert not went_direct()
            call()
            assert went_direct()
        assert len(code._plans) == 1 and len(concat._plans) == 1


def test_recording_leaves_the_autotuners_as_they_were(monkeypatch):
    """Configs chosen on the stand-in's made-up timings must not outlive it (a real GPU's
    launches in the same process would use them)."""
    tuned = combine._combine_tuned.configs
    monkeypatch.setattr(combine._combine_tuned, "configs", [tuned[2], tuned[4]])
    before = dict(combine._combine_tuned.cache)
    with recording_sm90():
        state, tensors = combine_case("encode", item=(1 << 17,), groups=4)
        combine.replay_combine(state, *tensors())
        assert len(combine._combine_tuned.cache) == len(before) + 1
    assert combine._combine_tuned.cache == before
