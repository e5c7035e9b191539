"""A/B the CPU kernels of another revision against this checkout in `parity-kernels bench`.

    .venv/bin/python bench/ab_builds.py REV --cases "16x8x3x224x224 float32" [--runs 4]
        [--rounds 11] [--isa avx2] [--keep]

Checks REV out in a git worktree, builds its extension there (in place, no CUDA), then runs
``python -m parity_kernels bench --device cpu --no-overhead`` from inside each checkout in
turn, REV first, ``--runs`` times, and prints per case the median % of a copy of each build
beside every run's figure. This checkout's extension must be built (``make venv`` does it).

Each run imports the package of the checkout it runs in: ``python -m`` puts the working
directory first on ``sys.path``, ahead of ``PYTHONPATH`` (so a ``PYTHONPATH`` pointing at
another checkout times this one); the script checks which package each checkout imports
before timing. This VM's ratios move 10-25 points between runs of unchanged code: read the
medians of 4 or more alternating runs, never one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def case_name(case: dict) -> str:
    """A bench case's row name, as ``--cases`` matches it: "op code shape dtype"."""
    return f"{case['op']} {case['code']} {case['shape']} {case['dtype']}"


def summarize(runs: dict[str, list[list[dict]]]) -> list[tuple[str, dict[str, list[float]]]]:
    """runs: build label -> the bench's JSON cases of each run. Returns, per case name in the
    order first seen, each label's % of a copy in every run (an empty list where a build did
    not run the case)."""
    table: dict[str, dict[str, list[float]]] = {}
    for label, label_runs in runs.items():
        for cases in label_runs:
            for case in cases:
                row = table.setdefault(case_name(case), {name: [] for name in runs})
                row[label].append(100.0 * case["copy_fraction"])
    return list(table.items())


def format_summary(summary: list[tuple[str, dict[str, list[float]]]], labels: list[str]) -> str:
    """One line per case: its name, then per label the median % of a copy and, in
    parentheses, every run's ("-" where the label did not run the case)."""
    header = "% of a copy, median (runs)"
    width = max([len(name) for name, _ in summary] + [len(header)])
    cells = {name: [] for name, _ in summary}
    for name, by_label in summary:
        for label in labels:
            values = by_label[label]
            runs = ", ".join(f"{v:.0f}" for v in values)
            cells[name].append(f"{statistics.median(values):.1f} ({runs})" if values else "-")
    widths = [max([len(label)] + [len(cells[name][i]) for name, _ in summary]) for i, label in enumerate(labels)]
    lines = [f"{header:{width}}  " + "  ".join(f"{l:>{w}}" for l, w in zip(labels, widths))]
    for name, _ in summary:
        lines.append(f"{name:{width}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(cells[name], widths)))
    return "\n".join(lines)


def _run(args: list[str], cwd: Path, env: dict | None = None) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"ab_builds: {' '.join(args)} (in {cwd}) failed:\n{result.stderr[-3000:]}")
    return result.stdout


def imported_from(checkout: Path, python: str, env: dict) -> Path:
    """The directory of the parity_kernels package that ``python -m`` imports in checkout."""
    out = _run([python, "-c", "import parity_kernels; print(parity_kernels.__file__)"], checkout, env)
    return Path(out.strip()).resolve().parent


def run_bench(checkout: Path, python: str, cases: str, rounds: int, env: dict) -> list[dict]:
    """One bench run from inside checkout: its JSON cases."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run.json"
        _run([python, "-m", "parity_kernels", "bench", "--device", "cpu", "--no-overhead", "--rounds", str(rounds),
              "--cases", cases, "--json", str(out)], checkout, env)
        return json.loads(out.read_text())["cases"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rev", help="the revision to compare with this checkout (a commit, branch or tag)")
    parser.add_argument("--cases", required=True, help="the bench's --cases: the rows whose name contains it")
    parser.add_argument("--runs", type=int, default=4, help="alternating runs of each build (default 4)")
    parser.add_argument("--rounds", type=int, default=11, help="the bench's --rounds (default 11)")
    parser.add_argument("--isa", choices=["generic", "avx2", "avx512", "avx512bf16"],
                        help="cap both builds' instruction set (PARITY_KERNELS_CPU_ISA)")
    parser.add_argument("--keep", action="store_true", help="leave the worktree in place")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.rounds < 1:
        parser.error("--runs and --rounds: expected 1 or more")
    python = sys.executable
    commit = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{args.rev}^{{commit}}"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    if not commit:
        parser.error(f"rev: {args.rev!r} is not a commit of {ROOT}")
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if args.isa:
        env["PARITY_KERNELS_CPU_ISA"] = args.isa
    worktree = Path(tempfile.mkdtemp(prefix="pk-ab-"))
    _run(["git", "worktree", "add", "--detach", "--force", str(worktree), commit], ROOT)
    try:
        print(f"building {args.rev} ({commit[:10]}) in {worktree}", file=sys.stderr)
        _run([python, "setup.py", "build_ext", "--inplace"], worktree, dict(env, PARITY_KERNELS_NO_CUDA="1"))
        checkouts = {args.rev: worktree, "this checkout": ROOT}
        for label, path in checkouts.items():
            package = imported_from(path, python, env)
            if package != (path / "parity_kernels").resolve():
                raise SystemExit(f"ab_builds: {label} imports {package}, not its own package")
        runs: dict[str, list[list[dict]]] = {label: [] for label in checkouts}
        for i in range(args.runs):
            for label, path in checkouts.items():
                print(f"run {i + 1}/{args.runs}: {label}", file=sys.stderr)
                runs[label].append(run_bench(path, python, args.cases, args.rounds, env))
        print(format_summary(summarize(runs), list(checkouts)))
    finally:
        if args.keep:
            print(f"worktree kept: {worktree}", file=sys.stderr)
        else:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
