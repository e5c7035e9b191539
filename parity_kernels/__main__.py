"""Command line: ``python -m parity_kernels demo|walkthrough|bench|serve-sim`` (also the ``parity-kernels`` script)."""

from __future__ import annotations

import argparse
import sys


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _chosen_device(parser: argparse.ArgumentParser, option) -> str:
    """``--device`` checked before any work: "cpu", "cuda" or "cuda:N" where torch has that
    device (else the parser's usage error, exit status 2); None: cuda if present, else cpu."""
    import torch

    if option is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(option)
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        parser.error(f"--device: expected cpu, cuda or cuda:N, got {option!r}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            parser.error(f"--device {option}: no CUDA device here (torch {torch.__version__}: "
                         "torch.cuda.is_available() is False)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            parser.error(f"--device {option}: torch sees {torch.cuda.device_count()} CUDA device(s)")
    return option


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="parity-kernels", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="ParM end to end: train parity models, degraded-mode accuracy table")
    demo.add_argument("--quick", action="store_true", help="small training budgets (about a minute)")
    demo.add_argument("--json", default=None, metavar="PATH", help="write the figures")
    demo.add_argument("--plot", default=None, metavar="PATH", help="write a PNG bar chart (default parm-demo.png)")
    demo.add_argument("--seed", type=int, default=0)
    walk = sub.add_parser("walkthrough", help="encode, drop outputs, decode: reconstruction error per code")
    walk.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    walk.add_argument("--groups", type=int, default=256, help="coding groups (default 256)")
    walk.add_argument("--seed", type=int, default=0)
    bench = sub.add_parser("bench", help="encode/decode bandwidth beside eager, compile and a copy")
    bench.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    bench.add_argument("--quick", action="store_true", help="a small subset (under 2 minutes on a CPU)")
    bench.add_argument("--json", default=None, metavar="PATH", help="write every figure and the machine")
    bench.add_argument("--plot", default=None, metavar="PATH", help="write a PNG of GB/s against bytes")
    bench.add_argument("--no-overhead", action="store_true", help="skip the ResNet-50 comparison")
    bench.add_argument("--cases", default=None, metavar="TEXT",
                       help='only the cases whose name contains TEXT, e.g. "encode ConcatCode(k=8) 16x"')
    bench.add_argument("--cold", action="store_true",
                       help="CPU: flush the caches before every timed call (64 MB read), so every "
                            "implementation reads from memory, as do_bench flushes the L2 on CUDA")
    bench.add_argument("--rounds", type=_positive_int, default=None, metavar="N",
                       help="timed rounds a case: CPU, interleaved calls of every implementation "
                            "(default 7 with --quick, else 15); CUDA, do_bench's time scaled alike. "
                            "More rounds, steadier medians on a noisy machine")
    sim = sub.add_parser("serve-sim", help="tail latency of ParM vs equal resources and hedging, faults injected")
    sim.add_argument("--backend", default="local", choices=("local", "ray"), help="local threads or Ray Serve")
    sim.add_argument("--quick", action="store_true", help="a short run (under 2 minutes on a CPU)")
    sim.add_argument("--queries", type=int, default=None, help="queries per setup")
    sim.add_argument("--rate", type=float, default=None, help="queries per second (Poisson arrivals)")
    sim.add_argument("--json", default=None, metavar="PATH", help="write every figure and the configuration")
    sim.add_argument("--plot", default=None, metavar="PATH", help="write a PNG of the latency CDF per setup")
    args = parser.parse_args(argv)
    if args.command == "serve-sim":
        from .serving import experiment

        experiment.run(experiment.main_args(args.backend, args.quick, args.queries, args.rate), args.json, args.plot)
    if args.command == "bench":
        from .bench import cli

        device = _chosen_device(parser, args.device)
        cli.run(device, args.quick, args.json, args.plot, with_overhead=not args.no_overhead, only=args.cases,
                cold=args.cold, rounds=args.rounds)
    if args.command == "demo":
        from .parm import demo as parm_demo

        parm_demo.run(quick=args.quick, json_path=args.json, plot_path=args.plot or "parm-demo.png", seed=args.seed)
    if args.command == "walkthrough":
        from . import walkthrough

        walkthrough.run(device=_chosen_device(parser, args.device), groups=args.groups, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
