"""GPU bandwidth of encode/decode: Triton and CUDA C++ backends beside torch eager,
torch.compile of the eager code, and a device copy of the same bytes, in one run.

    python3 bench/gpu_bandwidth.py [--quick] [--json PATH]

Timing: triton.testing.do_bench (CUDA events, L2 flushed before every repetition,
median). Bytes = every input read once + every output written once; the copy moves
the input's bytes (read + write). Cases: serving shapes (k = 2, 4, 8 images of
3x224x224; 1, 16, 256 groups; fp16, bf16, fp32) and large feature rows (64 MB, 256 MB,
1 GB of input). Targets (DESIGN §5): >= 90 % of copy bandwidth at >= 64 MB, >= 1.5x
eager, >= 1.0x torch.compile.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch
from triton.testing import do_bench

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import parity_kernels as pk  # noqa: E402

IMAGE = (3, 224, 224)


def eager_encode(x, code):
    """What a user writes in torch for the same encode."""
    if isinstance(code, pk.SumCode):
        return x.sum(1, keepdim=True)
    return torch.einsum("jk,gk...->gj...", code.encode_matrix(x.device, x.dtype), x)


def eager_decode(outputs, coded, available, code):
    """Decode with torch ops: same coefficients, missing slots zeroed, one einsum."""
    coeffs, ok = code.decode_coefficients(available)
    sources = torch.cat([outputs, coded], dim=1)
    mask = available.reshape(available.shape + (1,) * (sources.dim() - 2))
    sources = torch.where(mask, sources, torch.zeros((), dtype=sources.dtype, device=sources.device))
    return torch.einsum("gjs,gs...->gj...", coeffs.to(sources.dtype), sources), ok


def cases(quick: bool):
    dtypes = [torch.float16, torch.bfloat16, torch.float32]
    serving = [(k, g, d) for k in (2, 4, 8) for g in (1, 16, 256) for d in dtypes]
    if quick:
        serving = [(4, g, d) for g in (1, 256) for d in (torch.float16, torch.float32)]
    for k, groups, dtype in serving:
        yield "serving", k, groups, IMAGE, dtype
    large = [(64, torch.float32), (256, torch.float32), (256, torch.bfloat16), (1024, torch.float32)]
    if quick:
        large = [(64, torch.float32), (256, torch.float32)]
    for megabytes, dtype in large:
        numel = megabytes * 2**20 // (4 * 16 * torch.tensor([], dtype=dtype).element_size())
        yield "large", 4, 16, (numel,), dtype


def measure(fn):
    return do_bench(fn, warmup=10, rep=40, return_mode="median")


def run(quick: bool):
    rows = []
    compiled_cache = {}
    for kind, k, groups, item, dtype in cases(quick):
        x = torch.randn((groups, k) + item, device="cuda", dtype=dtype)
        copy_dst = torch.empty_like(x)
        copy_ms = measure(lambda: copy_dst.copy_(x))
        in_bytes = x.numel() * x.element_size()
        ops = [("encode", pk.SumCode(k)), ("encode", pk.LinearCode.cauchy(k, 2)), ("decode", pk.SumCode(k))]
        if kind == "serving" and k in (2, 4):
            ops.append(("encode", pk.ConcatCode(k)))
        for op, code in ops:
            if op == "encode":
                out_elems = groups * code.num_coded * x[0, 0].numel()
                nbytes = in_bytes + out_elems * x.element_size()

                def ours(c=code):
                    return pk.encode(x, c)

                def eager(c=code):
                    return eager_encode(x, c)
            else:
                coded = pk.encode(x, code)
                available = torch.ones(groups, code.num_sources, dtype=torch.bool, device="cuda")
                lost = torch.randint(0, k, (groups,), device="cuda")
                available[torch.arange(groups, device="cuda"), lost] = False
                nbytes = in_bytes * (k - 1) // k + coded.numel() * coded.element_size() + in_bytes

                def ours(c=code, z=coded, a=available):
                    return pk.decode(x, z, a, c)

                def eager(c=code, z=coded, a=available):
                    return eager_decode(x, z, a, c)
            figures = {}
            for backend in ("triton", "cuda"):
                pk.set_backend(backend)
                ours()  # autotune / pattern tables outside the timing
                figures[backend] = measure(ours)
            pk.set_backend("triton")
            if not isinstance(code, pk.ConcatCode):
                figures["eager"] = measure(eager)
                if kind == "large" or (k == 4 and groups == 256):
                    key = (op, type(code).__name__, code.num_coded)
                    compiled = compiled_cache.setdefault(key, torch.compile(eager, dynamic=False))
                    compiled()
                    figures["compile"] = measure(compiled)
            row = {
                "kind": kind, "op": op, "code": repr(code), "k": k, "groups": groups, "item": list(item),
                "dtype": str(dtype).replace("torch.", ""), "bytes": nbytes, "copy_bytes": 2 * in_bytes,
                "ms": figures, "copy_ms": copy_ms,
            }
            row["gbps"] = {name: nbytes / ms / 1e6 for name, ms in figures.items()}
            row["copy_gbps"] = 2 * in_bytes / copy_ms / 1e6
            rows.append(row)
            print(_line(row), flush=True)
    return rows


HEADER = (f"{'op':<7}{'code':<30}{'shape':<22}{'dtype':<9}{'MB':>8}{'triton':>9}{'cuda':>9}{'copy':>9}"
          f"{'%copy':>7}{'x eager':>8}{'x comp.':>8}   (GB/s)")


def _line(row):
    g = row["gbps"]
    shape = f"{row['groups']}x{row['k']}x" + "x".join(map(str, row["item"]))
    best = max(g["triton"], g["cuda"])
    eager = f"{g['triton'] / g['eager']:.2f}" if "eager" in g else "-"
    comp = f"{g['triton'] / g['compile']:.2f}" if "compile" in g else "-"
    return (f"{row['op']:<7}{row['code']:<30}{shape:<22}{row['dtype']:<9}{row['bytes'] / 1e6:>8.1f}"
            f"{g['triton']:>9.0f}{g['cuda']:>9.0f}{row['copy_gbps']:>9.0f}{100 * best / row['copy_gbps']:>6.0f}%"
            f"{eager:>8}{comp:>8}")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    start = time.time()
    print(torch.cuda.get_device_name(), "torch", torch.__version__)
    print(HEADER)
    rows = run(args.quick)
    print(f"\n{len(rows)} cases in {time.time() - start:.0f} s. Table again:")
    print(HEADER)
    for row in rows:
        print(_line(row))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "device": torch.cuda.get_device_name(), "torch": torch.__version__, "host": platform.node(),
            "date": time.strftime("%Y-%m-%d"), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
