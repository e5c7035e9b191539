"""pytest-benchmark glue: every case records its bytes; a GB/s ratio table ends the run."""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from cases import ratio_table  # noqa: E402

_results = []


def record(benchmark, case: str, impl: str, nbytes: int) -> None:
    benchmark.extra_info.update({"case": case, "impl": impl, "bytes": nbytes})
    _results.append(benchmark)


def pytest_terminal_summary(terminalreporter):
    table = defaultdict(dict)
    for bench in _results:
        stats = getattr(bench, "stats", None)
        if stats is None or not getattr(stats, "stats", None):
            continue
        info = bench.extra_info
        table[info["case"]][info["impl"]] = info["bytes"] / stats.stats.median / 1e9
    if table:
        terminalreporter.write_line("\nGB/s by median time (see bench/cases.py for what each column is).")
        for line in ratio_table(table):
            terminalreporter.write_line(line)
