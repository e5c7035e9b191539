"""`parity-kernels serve-sim` runs every setup and writes what it promises.

No latency is asserted (timings live in bench/RESULTS.md): only that every setup ran,
answered every query exactly once, and the table, JSON and plot are complete.
"""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

pytest.importorskip("prometheus_client", reason="the 'serving' extra is not installed")
pytest.importorskip("sklearn", reason="the 'parm' extra is not installed")

from parity_kernels.serving import experiment  # noqa: E402


def test_setups_cover_the_comparison():
    config = experiment.SimConfig.for_backend("local", quick=True)
    names = [s.name for s in experiment.setups(config)]
    assert names[0].startswith("(a) 4 deployed")
    for k, extra in ((2, 2), (4, 1)):
        chosen = [s for s in experiment.setups(config) if s.k == k]
        assert {s.kind for s in chosen} == {"uncoded", "parm", "hedged"}
        assert all(s.deployed + s.parity == 4 + extra for s in chosen)  # equal resources
    ray = experiment.SimConfig.for_backend("ray", quick=True)
    assert ray.arrival_rate * ray.time_scale == config.arrival_rate and ray.service().base_s == 4 * config.service().base_s


def test_serve_sim_quick_writes_table_json_and_plot(tmp_path):
    out_json, out_png = tmp_path / "sim.json", tmp_path / "sim.png"
    stdout = run_cli("serve-sim", "--quick", "--queries", "120", "--json", str(out_json), "--plot", str(out_png))
    assert "p99.9 ms" in stdout and "ParM p99.9" in stdout
    report = json.loads(out_json.read_text())
    rows = report["rows"]
    assert len(rows) == len(experiment.setups(experiment.SimConfig.for_backend("local", quick=True)))
    for row in rows:
        assert row["queries"] == 120 and row["metrics"]["answers"] == 120, row["setup"]
        assert 0 < row["p50_ms"] <= row["p99_ms"] <= row["p999_ms"] <= row["max_ms"]
        assert 0 <= row["accuracy"] <= 1 and len(row["latencies_ms"]) == 120
        if row["kind"] == "parm":
            assert row["metrics"]["coded_queries"] > 0
    assert report["config"]["scenario"]["outages"] and report["machine"]["torch"]
    assert out_png.stat().st_size > 10_000
