"""The benchmark cases: each op and code at serving shapes and at large sizes.

A case builds its tensors on the device and offers implementations as zero-argument
callables: ``ours`` (a fresh output, as users call it), ``ours_out`` (into a reused out=
buffer), ``eager`` (the same math in plain torch), ``compile`` (torch.compile of the eager
code, where asked), ``copy`` (copy_ of the input's bytes into a reused buffer: the
bandwidth ceiling) and, on CUDA where the extension was built, ``cuda_out`` (``ours_out``
with the CUDA C++ backend, a ``timing.WithBackend``). Bytes = every input read once +
every output written once; decode reads only the available outputs it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, Tuple

import torch

import parity_kernels as pk
from parity_kernels.backends import dispatch, eager

from .timing import WithBackend

IMAGE = (3, 224, 224)
DTYPES = (torch.float32, torch.float16, torch.bfloat16)


@dataclass
class Case:
    op: str
    code: pk.Code
    groups: int
    item: Tuple[int, ...]
    dtype: torch.dtype
    device: str
    nbytes: int = 0
    copy_bytes: int = 0
    impls: Dict[str, Callable] = field(default_factory=dict)

    @property
    def shape(self) -> str:
        return f"{self.groups}x{self.code.k}x" + "x".join(map(str, self.item))

    @property
    def name(self) -> str:
        return f"{self.op} {self.code!r} {self.shape} {str(self.dtype).replace('torch.', '')}"


def eager_encode(x: torch.Tensor, code: pk.Code) -> torch.Tensor:
    """What a user writes in torch: x.sum(1) for the sum code, one einsum for the other
    linear codes, per-tile adaptive pooling for ConcatCode."""
    if isinstance(code, pk.ConcatCode):
        return eager.concat_downsample(x, None)
    if isinstance(code, pk.SumCode):
        return x.sum(1, keepdim=True)
    weights = code.encode_matrix(x.device, torch.float32).to(x.dtype)
    return torch.einsum("jk,gk...->gj...", weights, x)


def eager_decode(outputs, coded, available, code):
    """Decode with torch ops: the same coefficients, missing slots zeroed, one einsum."""
    coeffs, ok = code.decode_coefficients(available)
    sources = coded if outputs is None else torch.cat([outputs, coded], dim=1)
    mask = available.reshape(tuple(available.shape) + (1,) * (sources.dim() - 2))
    sources = torch.where(mask, sources, torch.zeros((), dtype=sources.dtype, device=sources.device))
    return torch.einsum("gjs,gs...->gj...", coeffs.to(sources.dtype), sources), ok


def _random_erasures(code: pk.Code, groups: int, device: str, gen: torch.Generator) -> torch.Tensor:
    """Each group loses as many outputs as the code can rebuild, at random places."""
    lose = code.num_coded - code.k if not code.systematic else code.num_coded
    scores = torch.rand(groups, code.num_sources, generator=gen)
    if code.systematic:
        scores[:, code.k:] += 1.0  # lose data outputs, as ParM's degraded mode
        lose = min(lose, code.k)
    available = torch.ones(groups, code.num_sources, dtype=torch.bool)
    available.scatter_(1, scores.argsort(1)[:, :lose], False)
    return available.to(device)


def build(case: Case, compile_eager: bool) -> Case:
    """Make the tensors (random, never zeros) and the implementations of one case."""
    gen = torch.Generator().manual_seed(0)
    code, k = case.code, case.code.k
    x = torch.randn((case.groups, k) + case.item, generator=gen).to(device=case.device, dtype=case.dtype)
    size = x.element_size()
    copy_dst = torch.empty_like(x)
    case.copy_bytes = 2 * x.numel() * size
    case.impls["copy"] = lambda: copy_dst.copy_(x)
    row = x[0, 0].numel()
    if case.op == "encode":
        out = pk.encode(x, code)
        case.nbytes = (x.numel() + out.numel()) * size
        case.impls["ours"] = lambda: pk.encode(x, code)
        case.impls["ours_out"] = lambda: pk.encode(x, code, out=out)
        baseline = lambda: eager_encode(x, code)  # noqa: E731
    else:
        coded = pk.encode(x, code)
        available = _random_erasures(code, case.groups, case.device, gen)
        outputs = x if code.systematic else None
        used = available.sum().item()  # sources read
        case.nbytes = (used * row + case.groups * k * row) * size
        y, _ = pk.decode(outputs, coded, available, code)
        case.impls["ours"] = lambda: pk.decode(outputs, coded, available, code)
        case.impls["ours_out"] = lambda: pk.decode(outputs, coded, available, code, out=y)
        baseline = lambda: eager_decode(outputs, coded, available, code)  # noqa: E731
    if case.device.startswith("cuda") and dispatch.cuda_extension_built():
        case.impls["cuda_out"] = WithBackend("cuda", case.impls["ours_out"])
    case.impls["eager"] = baseline
    if compile_eager:
        case.impls["compile"] = torch.compile(baseline, dynamic=False)
    return case


def serving_cases(device: str, quick: bool) -> Iterator[Case]:
    """k = 2, 4, 8 images 3x224x224 and feature vectors of 1k-64k; 1, 16, 256 groups."""
    ks = (4,) if quick else (2, 4, 8)
    group_counts = (1, 16) if quick else (1, 16, 256)
    dtypes = (torch.float32,) if quick else DTYPES
    items = [IMAGE, (1024,), (65536,)] if not quick else [IMAGE, (4096,)]
    for k in ks:
        codes = [pk.SumCode(k), pk.LinearCode.cauchy(k, 2), pk.BerrutCode(k, k + 2)]
        for groups in group_counts:
            for dtype in dtypes:
                for item in items:
                    for code in codes + ([pk.ConcatCode(k)] if item == IMAGE else []):
                        for op in ("encode", "decode"):
                            if op == "decode" and isinstance(code, pk.ConcatCode):
                                continue  # decodes exactly as SumCode
                            yield Case(op, code, groups, item, dtype, device)


def large_cases(device: str, quick: bool) -> Iterator[Case]:
    """64 MB and 256 MB of input (k = 4, 16 groups of feature rows)."""
    sizes = (64,) if quick and not device.startswith("cuda") else (64, 256)
    for megabytes in sizes:
        for dtype in (torch.float32,) if quick else (torch.float32, torch.bfloat16):
            numel = megabytes * 2**20 // (16 * 4 * torch.empty((), dtype=dtype).element_size())
            for code in (pk.SumCode(4), pk.LinearCode.cauchy(4, 2)):
                for op in ("encode", "decode"):
                    yield Case(op, code, 16, (numel,), dtype, device)


def all_cases(device: str, quick: bool) -> list:
    return list(serving_cases(device, quick)) + list(large_cases(device, quick))
