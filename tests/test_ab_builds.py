"""bench/ab_builds.py: its summary of alternating bench runs, and its refusals. (Building
another revision and timing it takes minutes: not run here.)"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ab():
    spec = importlib.util.spec_from_file_location("ab_builds", ROOT / "bench" / "ab_builds.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _case(op, dtype, fraction):
    return {"op": op, "code": "SumCode(k=2)", "shape": "16x2x3x224x224", "dtype": dtype, "copy_fraction": fraction}


def test_summary_has_each_build_median_and_runs(ab):
    runs = {
        "old": [[_case("encode", "float32", 0.5), _case("decode", "float32", 1.0)], [_case("encode", "float32", 0.7)],
                [_case("encode", "float32", 0.9)]],
        "this checkout": [[_case("encode", "float32", 1.2)], [_case("encode", "float32", 1.0)],
                          [_case("encode", "float16", 0.8)]],
    }
    summary = ab.summarize(runs)
    assert [name for name, _ in summary] == ["encode SumCode(k=2) 16x2x3x224x224 float32",
                                             "decode SumCode(k=2) 16x2x3x224x224 float32",
                                             "encode SumCode(k=2) 16x2x3x224x224 float16"]
    assert summary[0][1] == {"old": pytest.approx([50, 70, 90]), "this checkout": pytest.approx([120, 100])}
    assert summary[1][1]["this checkout"] == [] and summary[2][1]["old"] == []
    lines = ab.format_summary(summary, list(runs)).splitlines()
    assert lines[0].split()[-3:] == ["old", "this", "checkout"]
    assert lines[1].endswith("70.0 (50, 70, 90)  110.0 (120, 100)")
    assert lines[2].endswith("100.0 (100)                 -")
    assert lines[3].split()[-3:] == ["-", "80.0", "(80)"]


def _worktrees():
    return subprocess.run(["git", "worktree", "list"], cwd=ROOT, capture_output=True, text=True).stdout


@pytest.mark.parametrize("argv, message", [
    (["no-such-revision-42", "--cases", "x"], "is not a commit"),
    (["HEAD", "--cases", "x", "--runs", "0"], "expected 1 or more"),
])
def test_refuses_before_making_a_worktree(ab, capsys, argv, message):
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    before = _worktrees()
    with pytest.raises(SystemExit) as exit_info:
        ab.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert _worktrees() == before
