"""``parity-kernels bench``: run the cases, print a progress bar and the table, write
JSON / PNG on request, and compare encode + decode with a ResNet-50 forward."""

from __future__ import annotations

import sys
import time

import torch

from . import cases as case_lib
from . import overhead, report
from .timing import FLUSH_BYTES, cache_flusher, default_rounds, time_impls


def _progress(done: int, total: int, label: str, start: float) -> None:
    width = 30
    filled = width * done // max(total, 1)
    elapsed = time.time() - start
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {elapsed:5.0f}s {label[:60]:<60}")
    sys.stderr.flush()


def wants_compile(case: case_lib.Case, quick: bool) -> bool:
    """torch.compile costs seconds per shape: compile the large cases and one serving batch."""
    if len(case.item) == 1 and case.item[0] * case.groups * case.code.k * 4 >= 32 * 2**20:
        return True
    serving_groups = 16 if quick else 256
    return case.item == case_lib.IMAGE and case.groups == serving_groups and case.code.k == 4 \
        and case.dtype in (torch.float32, torch.float16)


def run(device: str, quick: bool, json_path=None, plot_path=None, with_overhead: bool = True,
        only=None, cold: bool = False, rounds=None) -> list:
    """Time every case (``only``: those whose name contains it), print the table, write
    JSON / PNG when asked; returns the rows. ``cold``: on CPU, caches flushed before every
    timed call (``timing.cache_flusher``). ``rounds``: timed rounds a case (``time_impls``)."""
    cuda = device.startswith("cuda")
    flush = cache_flusher() if cold and not cuda else None
    selected = [case for case in case_lib.all_cases(device, quick) if only is None or only in case.name]
    if not selected:
        raise SystemExit(f"parity-kernels bench: no case name contains {only!r}")
    rows, start = [], time.time()
    for i, case in enumerate(selected):
        _progress(i, len(selected), case.name, start)
        case_lib.build(case, compile_eager=wants_compile(case, quick))
        seconds = time_impls(device, case.impls, quick, rounds=rounds, flush=flush)
        rows.append({"op": case.op, "code": repr(case.code), "shape": case.shape,
                     "dtype": str(case.dtype).replace("torch.", ""), "device": device,
                     "bytes": case.nbytes, "copy_bytes": case.copy_bytes, "seconds": seconds})
        case.impls.clear()
    _progress(len(selected), len(selected), "overhead beside ResNet-50" if with_overhead else "done", start)
    over = {}
    if with_overhead:
        over = overhead.measure(device, groups=16 if cuda else 1, k=4,
                                dtype=torch.float16 if cuda else torch.float32, quick=quick)
    host = overhead.host_overhead(device)
    sys.stderr.write("\n")
    print(report.table(rows))
    print("\nhost time per call on tiny tensors (us): " + ", ".join(f"{k} {v:.1f}" for k, v in host.items())
          + "; target <= 15 us")
    if over:
        print(f"\nencode + decode ({over['k']} images x {over['groups']} groups, SumCode, {over['dtype']}): "
              f"{over['encode_decode_s'] * 1e3:.3f} ms = {over['percent']:.2f} % of a ResNet-50 forward on "
              f"the same images ({over['forward_s'] * 1e3:.1f} ms) on {device}; target <= 1 % on GPU.")
    if flush is not None:
        print(f"cold: {FLUSH_BYTES >> 20} MB read before every timed call (inputs and outputs from memory)")
    rounds_used = rounds or default_rounds(quick)
    print(f"{len(rows)} cases in {time.time() - start:.0f} s"
          + ("" if cuda else f", {rounds_used} interleaved rounds a case; CPU kernels: {report.cpu_kernels()}"))
    if json_path:
        report.write_json(json_path, device, rows, dict(over, host_us=host), quick, cold=flush is not None,
                          rounds=rounds_used)
    if plot_path:
        report.plot(plot_path, rows)
    return rows
