"""`parity-kernels bench --quick --json --plot` runs here and writes what it promises.

No timing is asserted (timings live in bench/RESULTS.md): only that every case was
measured with every implementation and the outputs are complete.
"""

from __future__ import annotations

import json

import pytest

from conftest import run_cli


def test_bench_quick_writes_json_and_plot(tmp_path):
    out_json, out_png = tmp_path / "out.json", tmp_path / "out.png"
    stdout = run_cli("bench", "--quick", "--device", "cpu", "--json", str(out_json), "--plot", str(out_png))
    assert "ours GB/s" in stdout and "ResNet-50" in stdout
    report = json.loads(out_json.read_text())
    assert report["machine"]["device"] == "cpu" and report["machine"]["torch"]
    assert report["machine"]["cpu_kernels"].split()[0] in ("avx512bf16", "avx512", "avx2", "generic")
    assert "CPU kernels: " + report["machine"]["cpu_kernels"] in stdout
    cases = report["cases"]
    assert len(cases) >= 20
    assert {c["op"] for c in cases} == {"encode", "decode"}
    for case in cases:
        assert {"ours", "ours_out", "eager", "copy"} <= set(case["seconds"]), case["code"]
        assert all(seconds > 0 for seconds in case["seconds"].values())
        assert case["bytes"] > 0 and 0 < case["copy_fraction"]
        # eager against a kernel at the copy's bandwidth paying ours' fresh-output cost
        seconds = case["seconds"]
        at_copy_speed = (seconds["copy"] * case["bytes"] / case["copy_bytes"]
                         + max(0.0, seconds["ours"] - seconds["ours_out"]))
        assert case["x_eager_at_copy_speed"] == pytest.approx(seconds["eager"] / at_copy_speed)
    assert any("compile" in c["seconds"] for c in cases)
    assert report["rounds"] == 7  # --quick's default
    assert 0 < report["overhead"]["percent"]
    assert set(report["overhead"]["host_us"]) == {"torch x.sum(1)", "encode", "encode out=", "decode"}
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_cases_filter_and_rounds(tmp_path):
    out_json = tmp_path / "one.json"
    stdout = run_cli("bench", "--quick", "--device", "cpu", "--no-overhead", "--cases", "decode SumCode(k=4) 1x4x4096",
                     "--rounds", "3", "--json", str(out_json))
    assert "1 cases in" in stdout and "3 interleaved rounds a case" in stdout
    report = json.loads(out_json.read_text())
    assert report["rounds"] == 3
    assert [(c["op"], c["code"], c["shape"]) for c in report["cases"]] == [("decode", "SumCode(k=4)", "1x4x4096")]


def test_time_impls_rounds(monkeypatch):
    """CPU: warm-up, then exactly ``rounds`` timed calls of each implementation; CUDA:
    do_bench's time scaled by rounds over the default; fewer than one round refused."""
    from parity_kernels.bench import timing

    calls = {"a": 0, "b": 0}
    impls = {name: (lambda name=name: calls.__setitem__(name, calls[name] + 1)) for name in calls}
    timing.time_impls("cpu", impls, quick=True, rounds=4)
    assert calls == {"a": 2 + 4, "b": 2 + 4}
    seen = []
    monkeypatch.setattr(timing, "time_cuda", lambda impls, rep_ms: seen.append(rep_ms) or {})
    timing.time_impls("cuda", impls, quick=False)
    timing.time_impls("cuda", impls, quick=False, rounds=30)
    timing.time_impls("cuda", impls, quick=True, rounds=7)
    assert seen == [40, 80, 20]
    with pytest.raises(ValueError, match="rounds"):
        timing.time_impls("cpu", impls, quick=True, rounds=0)


def test_bench_cold_flushes_before_every_timed_call(tmp_path):
    out_json = tmp_path / "cold.json"
    stdout = run_cli("bench", "--quick", "--device", "cpu", "--no-overhead", "--cold", "--cases",
                     "encode SumCode(k=4) 1x4x4096", "--json", str(out_json))
    assert "cold: 64 MB read before every timed call" in stdout
    report = json.loads(out_json.read_text())
    assert report["cold"] is True and len(report["cases"]) == 1


def test_time_cpu_flushes_untimed_before_each_call(monkeypatch):
    """The flush runs once before every timed call (not during warm-up) and its time is
    not counted (a fake clock: each call takes 1, each flush 100)."""
    import types

    from parity_kernels.bench import timing

    clock, events = [0.0], []

    def call(name):
        events.append(name)
        clock[0] += 1.0

    def flush():
        events.append("flush")
        clock[0] += 100.0

    monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    seconds = timing.time_cpu({"a": lambda: call("a"), "b": lambda: call("b")}, rounds=3, warmup=1, flush=flush)
    assert events == ["a", "b"] + ["flush", "a", "flush", "b"] * 3
    assert seconds == {"a": 1.0, "b": 1.0}


def test_with_backend_chosen_per_call_and_once_around_do_bench(monkeypatch):
    """A ``WithBackend`` (the "cuda C++" column, host times) runs under its backend: per call
    when called, and on CUDA with the choice made once outside do_bench's timed calls, so
    the switch costs no host time there; other implementations keep the default."""
    import triton.testing

    import parity_kernels as pk
    from parity_kernels.bench import timing

    default = pk.get_backend()
    seen = []
    plain = lambda: seen.append(("plain", pk.get_backend()))  # noqa: E731
    inner = lambda: seen.append(("inner", pk.get_backend()))  # noqa: E731
    wrapped = timing.WithBackend("cuda", inner)
    wrapped()
    assert seen == [("inner", "cuda")] and pk.get_backend() == default

    seen.clear()
    timed = []

    def fake_do_bench(fn, warmup, rep, return_mode):
        timed.append((fn, pk.get_backend()))
        fn()
        return 2.0  # ms

    monkeypatch.setattr(triton.testing, "do_bench", fake_do_bench)
    result = timing.time_cuda({"ours": plain, "cuda_out": wrapped}, rep_ms=5)
    assert result == {"ours": 2e-3, "cuda_out": 2e-3}
    assert timed == [(plain, default), (inner, "cuda")]  # the inner function itself, backend already chosen
    assert seen == [("plain", default)] * 2 + [("inner", "cuda")] * 2
    assert pk.get_backend() == default
