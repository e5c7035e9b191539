"""Command line: ``python -m parity_kernels demo|bench`` (also the ``parity-kernels`` script)."""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="parity-kernels", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="encode, drop outputs, decode: error per code")
    demo.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    demo.add_argument("--groups", type=int, default=256, help="coding groups (default 256)")
    demo.add_argument("--seed", type=int, default=0)
    bench = sub.add_parser("bench", help="encode/decode bandwidth beside eager, compile and a copy")
    bench.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    bench.add_argument("--quick", action="store_true", help="a small subset (under 2 minutes on a CPU)")
    bench.add_argument("--json", default=None, metavar="PATH", help="write every figure and the machine")
    bench.add_argument("--plot", default=None, metavar="PATH", help="write a PNG of GB/s against bytes")
    bench.add_argument("--no-overhead", action="store_true", help="skip the ResNet-50 comparison")
    args = parser.parse_args(argv)
    if args.command == "bench":
        import torch

        from .bench import cli

        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        cli.run(device, args.quick, args.json, args.plot, with_overhead=not args.no_overhead)
    if args.command == "demo":
        from . import demo as demo_module

        demo_module.run(device=args.device, groups=args.groups, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
