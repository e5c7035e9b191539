"""Interleaved CPU timing of bench/cases.py: each round runs every implementation once, so
all of them see the same machine load; medians of the rounds give the GB/s and ratios.

    .venv/bin/python bench/cpu_ratios.py [--rounds 30] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from cases import cpu_cases, ratio_table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    cases = cpu_cases()
    times = defaultdict(list)
    for _, _, fn, _ in cases:  # warm up
        fn(), fn()
    for _ in range(args.rounds):
        for case, impl, fn, _ in cases:
            start = time.perf_counter()
            fn()
            times[(case, impl)].append(time.perf_counter() - start)
    gbps = defaultdict(dict)
    for case, impl, _, nbytes in cases:
        gbps[case][impl] = nbytes / statistics.median(times[(case, impl)]) / 1e9
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print("\n".join(ratio_table(gbps)))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": platform.platform(), "threads": torch.get_num_threads(),
                                               "gbps": gbps}, indent=1))


if __name__ == "__main__":
    main()
