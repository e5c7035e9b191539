"""Encode + decode time beside the inference they protect: a ResNet-50 built in code
(random weights, nothing downloaded), forward on the same coding groups' images."""

from __future__ import annotations

from typing import Dict

import torch
from torch import nn

import parity_kernels as pk
from parity_kernels.backends import dispatch

from .timing import Within, WithBackend, time_impls, unwrapped


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        width = planes
        self.body = nn.Sequential(
            nn.Conv2d(inplanes, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, planes * 4, 1, bias=False), nn.BatchNorm2d(planes * 4),
        )
        self.shortcut = nn.Identity()
        if stride != 1 or inplanes != planes * 4:
            self.shortcut = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


def resnet50(num_classes: int = 1000) -> nn.Module:
    """ResNet-50 layout (bottlenecks 3, 4, 6, 3), randomly initialised."""
    layers = [nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
              nn.MaxPool2d(3, stride=2, padding=1)]
    inplanes = 64
    for planes, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(blocks):
            layers.append(Bottleneck(inplanes, planes, stride if i == 0 else 1))
            inplanes = planes * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(inplanes, num_classes)]
    return nn.Sequential(*layers)


def measure(device: str, groups: int, k: int, dtype: torch.dtype, quick: bool) -> Dict[str, float]:
    """Seconds of the forward over groups * k images, of encode + decode, and the ratio."""
    torch.manual_seed(0)
    model = resnet50().to(device=device, dtype=dtype).eval()
    code = pk.SumCode(k)
    images = torch.randn(groups, k, 3, 224, 224, device=device, dtype=dtype)
    available = torch.ones(groups, k + 1, dtype=torch.bool, device=device)
    available[:, 0] = False  # one output late in every group
    with torch.inference_mode():
        outputs = model(images.flatten(0, 1)).view(groups, k, -1)
        parity = model(pk.encode(images, code)[:, 0]).view(groups, 1, -1)
        times = time_impls(device, quick=quick, rounds=3 if quick else None, warmup=1 if quick else 2, impls={
            "forward": lambda: model(images.flatten(0, 1)),
            "encode_decode": lambda: (pk.encode(images, code), pk.decode(outputs, parity, available, code)),
        })
    return {"model": "resnet50", "groups": groups, "k": k, "dtype": str(dtype).replace("torch.", ""),
            "forward_s": times["forward"], "encode_decode_s": times["encode_decode"],
            "percent": 100.0 * times["encode_decode"] / times["forward"]}


def host_overhead(device: str, calls: int = 300, rounds: int = 7) -> Dict[str, float]:
    """Microseconds a call on tiny tensors (16 groups x 4 x 8), where the kernel costs
    nothing: torch's x.sum(1) on the same tensor beside encode, encode(out=) and decode
    (on CUDA also with every Triton launch through Triton's JIT: "... (Triton JIT)", the
    default backend's launch plans launching without it otherwise; and with the CUDA C++
    backend, where built: "... (cuda C++)").
    Interleaved rounds of ``calls`` back-to-back calls; the median round per call."""
    import statistics
    import time

    code = pk.SumCode(4)
    x = torch.randn(16, 4, 8, device=device)
    coded = pk.encode(x, code)
    out = torch.empty_like(coded)
    available = torch.ones(16, 5, dtype=torch.bool, device=device)
    available[:, 1] = False
    impls = {
        "torch x.sum(1)": lambda: x.sum(1),
        "encode": lambda: pk.encode(x, code),
        "encode out=": lambda: pk.encode(x, code, out=out),
        "decode": lambda: pk.decode(x, coded, available, code),
    }
    cuda = device.startswith("cuda")
    if cuda and dispatch.backend_for("cuda").name == "triton":  # plans' direct launches against the JIT's
        from ..triton import direct

        for name in ("encode out=", "decode"):
            impls[f"{name} (Triton JIT)"] = Within(direct.jit_only, impls[name])
    if cuda and dispatch.cuda_extension_built():  # the CUDA C++ kernels too
        for name in ("encode", "encode out=", "decode"):
            impls[f"{name} (cuda C++)"] = WithBackend("cuda", impls[name])
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    samples: Dict[str, list] = {name: [] for name in impls}
    for impl in impls.values():
        impl()
    for _ in range(rounds):
        for name, impl in impls.items():
            chosen, fn = unwrapped(impl)
            with chosen:  # outside the timing
                sync()
                start = time.perf_counter()
                for _ in range(calls):
                    fn()
                sync()
                samples[name].append((time.perf_counter() - start) / calls * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}
