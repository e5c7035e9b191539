"""The benchmark's outputs: a table, a JSON file, a PNG plot."""

from __future__ import annotations

import json
import os
import platform
import time
from typing import List, Optional

import torch

HEADER = (f"{'op':<7}{'code':<34}{'shape':<20}{'dtype':<9}{'device':<7}{'ours GB/s':>10}{'% copy':>8}"
          f"{'x eager':>8}{'(max)':>7}{'x compile':>10}{'cuda C++ GB/s':>14}")
LEGEND = ("ours GB/s: into a reused out= buffer, as the copy; % copy: against copy_ of the input's bytes "
          "in the same run;\nx eager / x compile: ours with a fresh output against the same math in torch "
          "eager / torch.compile (fresh outputs too);\n(max): the x eager of a kernel moving these bytes at "
          "the copy's bandwidth into a fresh output (paying what ours paid for one beyond out=):\n"
          "under 2, the >= 2x eager target is out of reach on these bytes.")


def gbps(row: dict, impl: str) -> float:
    seconds = row["seconds"].get(impl)
    nbytes = row["copy_bytes"] if impl == "copy" else row["bytes"]
    return nbytes / seconds / 1e9 if seconds else float("nan")


def ratios(row: dict) -> dict:
    """The figures of one table row."""
    def over(a, b):
        return row["seconds"][b] / row["seconds"][a] if a in row["seconds"] and b in row["seconds"] else None

    eager_vs_copy = None
    seconds = row["seconds"]
    if {"eager", "copy", "ours", "ours_out"} <= set(seconds):
        # a kernel at the copy's bandwidth, plus what a fresh output cost ours beyond out=
        # (allocation, first-touch page faults): the x eager no implementation could beat
        fresh_output = max(0.0, seconds["ours"] - seconds["ours_out"])
        at_copy_speed = seconds["copy"] * row["bytes"] / row["copy_bytes"] + fresh_output
        eager_vs_copy = seconds["eager"] / at_copy_speed
    return {"ours_gbps": gbps(row, "ours_out"), "copy_fraction": gbps(row, "ours_out") / gbps(row, "copy"),
            "x_eager": over("ours", "eager"), "x_eager_at_copy_speed": eager_vs_copy,
            "x_compile": over("ours", "compile"),
            "cuda_gbps": gbps(row, "cuda_out") if "cuda_out" in row["seconds"] else None}


def line(row: dict) -> str:
    r = ratios(row)

    def fmt(v, spec):
        return format(v, spec) if v is not None else format("-", spec[0] + spec[1:].split(".")[0])

    return (f"{row['op']:<7}{row['code']:<34}{row['shape']:<20}{row['dtype']:<9}{row['device']:<7}"
            f"{r['ours_gbps']:>10.2f}{100 * r['copy_fraction']:>7.0f}%{fmt(r['x_eager'], '>8.2f')}"
            f"{fmt(r['x_eager_at_copy_speed'], '>7.2f')}"
            f"{fmt(r['x_compile'], '>10.2f')}{fmt(r['cuda_gbps'], '>14.2f')}")


def table(rows: List[dict]) -> str:
    return "\n".join([HEADER] + [line(r) for r in rows] + [LEGEND])


def _first_cpu() -> Optional[dict]:
    """The first processor's fields in /proc/cpuinfo ("model name", "cpu family", ...), or
    None where there is no such file."""
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().split("\n\n")[0].splitlines()
    except OSError:
        return None
    return {key.strip(): value.strip() for key, value in (l.split(":", 1) for l in lines if ":" in l)}


def cpu_kernels() -> str:
    """The instruction set the CPU kernels run here (avx512bf16, avx512, avx2 or generic), and the CPU's
    family / model where /proc/cpuinfo gives them: the same model name can hide different
    cores (an "AMD EPYC" here was Zen 3 one day, Zen 4 the next)."""
    from parity_kernels import _C

    described = _C.cpu_isa()
    fields = _first_cpu() or {}
    family, model = fields.get("cpu family", ""), fields.get("model", "")
    if family and model:
        described += f" (cpu family {family}, model {model})"
    return described


def machine(device: str) -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d"), "device": device}
    fields = _first_cpu()
    info["cpu"] = platform.processor() if fields is None else fields.get("model name", "")
    info["cpus"] = os.cpu_count()
    info["cpu_kernels"] = cpu_kernels()
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name()
    try:
        import triton

        info["triton"] = triton.__version__
    except ImportError:
        pass
    return info


def write_json(path: str, device: str, rows: List[dict], overhead: dict, quick: bool, cold: bool = False,
               rounds: Optional[int] = None) -> None:
    for row in rows:
        row["gbps"] = {impl: gbps(row, impl) for impl in row["seconds"]}
        row.update(ratios(row))
    with open(path, "w") as f:
        json.dump({"machine": machine(device), "quick": quick, "cold": cold, "rounds": rounds, "cases": rows,
                   "overhead": overhead}, f, indent=1)


def plot(path: str, rows: List[dict]) -> None:
    """GB/s against bytes moved, one line per implementation, the copy ceiling drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ops = sorted({r["op"] for r in rows})
    fig, axes = plt.subplots(1, len(ops), figsize=(6.5 * len(ops), 4.5), squeeze=False)
    styles = {"ours_out": "C0-o", "ours": "C0--.", "cuda_out": "C3-v", "eager": "C1-s", "compile": "C2-^",
              "copy": "k:"}
    for ax, op in zip(axes[0], ops):
        subset = [r for r in rows if r["op"] == op]
        for impl, style in styles.items():
            points = {}
            for r in subset:
                if impl in r["seconds"]:
                    nbytes = r["bytes"]
                    points.setdefault(nbytes, []).append(gbps(r, impl))
            if not points:
                continue
            xs = sorted(points)
            ys = [sorted(points[x])[len(points[x]) // 2] for x in xs]
            label = "copy ceiling (same bytes)" if impl == "copy" else impl
            ax.plot(xs, ys, style, label=label, markersize=3)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("bytes moved per call")
        ax.set_ylabel("GB/s (median per size)")
        ax.set_title(f"{op} on {subset[0]['device']}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
