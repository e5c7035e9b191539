"""The CPU benchmark cases, shared by the pytest-benchmark suite and the interleaved ratio run.

Each case is (case name, implementation, zero-argument callable, bytes moved), bytes =
every input read once + every output written once. Implementations:
ours (into a reused out= buffer), ours_alloc (fresh output each call, as eager and clone),
eager (what a user writes in torch), copy (copy_ into a reused buffer: the bandwidth
ceiling), clone (a copy into a fresh buffer).
"""

from __future__ import annotations

import torch

import parity_kernels as pk

K = 4
GROUPS = 16
NUMEL = 64 * 2**20 // (4 * GROUPS * K)  # 64 MB of float32 input in all
IMPLS = ("ours", "ours_alloc", "eager", "copy", "clone")


def _eager_encode(x, code):
    """What a user writes in torch: x.sum(1) for the sum code, else one einsum."""
    if isinstance(code, pk.SumCode):
        return x.sum(1, keepdim=True)
    return torch.einsum("jk,gkn->gjn", code.encode_matrix(dtype=torch.float32), x)


def _eager_decode(outputs, coded, available, code):
    """The same decode coefficients, applied with torch ops (missing slots zeroed first)."""
    coeffs, ok = code.decode_coefficients(available)
    sources = torch.cat([outputs, coded], dim=1)
    sources = torch.where(available[:, :, None], sources, 0.0)
    return torch.einsum("gjs,gsn->gjn", coeffs.float(), sources), ok


def _one_lost(code):
    available = torch.ones(GROUPS, code.num_sources, dtype=torch.bool)
    lost = torch.randint(0, K, (GROUPS,), generator=torch.Generator().manual_seed(1))
    available[torch.arange(GROUPS), lost] = False  # one random data output per group
    return available


def cpu_cases():
    """Every (case, impl, fn, nbytes) of the k = 4, 64 MB float32 suite."""
    x = torch.randn(GROUPS, K, NUMEL, generator=torch.Generator().manual_seed(0))
    copy_dst = torch.empty_like(x)
    cases = []
    for name, code in {"sum": pk.SumCode(K), "cauchy_r2": pk.LinearCode.cauchy(K, 2)}.items():
        enc = f"encode {name} k=4 64MB fp32"
        enc_out = pk.encode(x, code)
        enc_bytes = x.numel() * 4 * (1 + code.num_coded / K)
        cases += [
            (enc, "ours", lambda x=x, c=code, o=enc_out: pk.encode(x, c, out=o), enc_bytes),
            (enc, "ours_alloc", lambda x=x, c=code: pk.encode(x, c), enc_bytes),
            (enc, "eager", lambda x=x, c=code: _eager_encode(x, c), enc_bytes),
        ]
        dec = f"decode {name} k=4 64MB fp32"
        coded, available, dec_out = enc_out.clone(), _one_lost(code), torch.empty_like(x)
        # k - 1 available data outputs and every parity read, k outputs written.
        dec_bytes = NUMEL * 4 * GROUPS * ((K - 1) + code.num_coded + K)
        cases += [
            (dec, "ours", lambda c=code, z=coded, a=available, o=dec_out: pk.decode(x, z, a, c, out=o), dec_bytes),
            (dec, "ours_alloc", lambda c=code, z=coded, a=available: pk.decode(x, z, a, c), dec_bytes),
            (dec, "eager", lambda c=code, z=coded, a=available: _eager_decode(x, z, a, c), dec_bytes),
        ]
        for case in (enc, dec):
            cases += [
                (case, "copy", lambda: copy_dst.copy_(x), 2 * x.numel() * 4),
                (case, "clone", x.clone, 2 * x.numel() * 4),
            ]
    return cases


def ratio_table(gbps: dict) -> list[str]:
    """Lines of a table from {case: {impl: GB/s}}."""
    lines = [f"{'case':<30}" + "".join(f"{i:>11}" for i in IMPLS) + f"{'alloc/eager':>12}{'ours/copy':>10}{'alloc/clone':>12}"]
    for case, row in sorted(gbps.items()):
        def ratio(a, b):
            return f"{row[a] / row[b]:.2f}" if row.get(a) and row.get(b) else "-"

        cells = "".join(f"{row[i]:>11.2f}" if i in row else f"{'-':>11}" for i in IMPLS)
        lines.append(f"{case:<30}{cells}{ratio('ours_alloc', 'eager'):>12}{ratio('ours', 'copy'):>10}"
                     f"{ratio('ours_alloc', 'clone'):>12}")
    return lines
