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
    assert 0 < report["overhead"]["percent"]
    assert set(report["overhead"]["host_us"]) == {"torch x.sum(1)", "encode", "encode out=", "decode"}
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_cases_filter(tmp_path):
    out_json = tmp_path / "one.json"
    run_cli("bench", "--quick", "--device", "cpu", "--no-overhead", "--cases", "decode SumCode(k=4) 1x4x4096",
            "--json", str(out_json))
    cases = json.loads(out_json.read_text())["cases"]
    assert [(c["op"], c["code"], c["shape"]) for c in cases] == [("decode", "SumCode(k=4)", "1x4x4096")]


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
