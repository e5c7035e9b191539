"""Command line: ``python -m parity_kernels demo`` (also the ``parity-kernels`` script)."""

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
    args = parser.parse_args(argv)
    if args.command == "demo":
        from . import demo as demo_module

        demo_module.run(device=args.device, groups=args.groups, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
