"""Shared by the benchmark suites: bytes moved per case, and a ratio table at the end.

Each benchmark sets ``benchmark.extra_info`` = {"case": ..., "impl": ..., "bytes": ...}.
After the run, the table gives per case: GB/s of each implementation (bytes = every
input read once + every output written once), ours / eager, ours / compile and ours as a
fraction of the plain-copy bandwidth measured in the same run.
"""

from __future__ import annotations

from collections import defaultdict

_results = []


def record(benchmark, case: str, impl: str, nbytes: int) -> None:
    benchmark.extra_info.update({"case": case, "impl": impl, "bytes": nbytes})
    _results.append(benchmark)


IMPLS = ("ours", "ours_alloc", "eager", "compile", "copy", "clone")


def pytest_terminal_summary(terminalreporter):
    table = defaultdict(dict)
    for bench in _results:
        stats = getattr(bench, "stats", None)
        if stats is None or not getattr(stats, "stats", None):
            continue
        info = bench.extra_info
        table[info["case"]][info["impl"]] = info["bytes"] / stats.stats.median / 1e9
    if not table:
        return
    write = terminalreporter.write_line
    write("")
    write("GB/s by median time (bytes = inputs read once + outputs written once).")
    write("ours: into a reused out= buffer; ours_alloc: a fresh output each call (as eager, clone);")
    write("copy: copy_ into a reused buffer; clone: a copy into a fresh buffer.")
    write(f"{'case':<34}" + "".join(f"{i:>11}" for i in IMPLS)
          + f"{'alloc/eager':>12}{'ours/copy':>10}{'alloc/clone':>12}")
    for case, row in sorted(table.items()):
        def ratio(a, b):
            return f"{row[a] / row[b]:.2f}" if row.get(a) and row.get(b) else "-"

        cells = "".join(f"{row[i]:>11.2f}" if i in row else f"{'-':>11}" for i in IMPLS)
        write(f"{case:<34}{cells}{ratio('ours_alloc', 'eager'):>12}{ratio('ours', 'copy'):>10}"
              f"{ratio('ours_alloc', 'clone'):>12}")
