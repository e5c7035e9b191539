"""``parity-kernels serve-sim``: tail latency of ParM against the setups it competes with.

At one query rate and under the same injected faults (heavy-tailed slow batches on every
instance, a background job on one deployed instance for a while, one deployed instance
down for a while and back), it serves a stream of real queries (scikit-learn's digits,
test split; a small CNN as the deployed model, parity models trained for it) with:

- (a) ``m`` deployed instances, no redundancy;
- (b) ``m + m/k`` deployed instances, no redundancy (the same resources as ParM);
- (c) ParM, SumCode(k), on ``m`` deployed + ``m/k`` parity instances, decoding as soon
  as k of a group's k + 1 outputs are in; (c') the same, decoding only once the 95th
  percentile of observed latency has passed (fewer approximate answers);
- (d) hedged requests on ``m + m/k`` deployed instances, hedges capped at 1/k of the load;

for k = 2 and 4, and prints p50 / p99 / p99.9 latency and the accuracy of the answers.
Instances emulate a model's inference time (``ServiceTime``): the digits CNN itself takes
microseconds. Instances run locally (``--backend local``) or as Ray Serve deployments
(``--backend ray``, a local Ray started on loopback).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Dict, List, Optional, Tuple

import torch

import parity_kernels as pk

from .baselines import HedgedFrontend, UncodedFrontend
from .faults import FaultScenario, ServiceTime
from .frontend import CodedFrontend, Frontend, Timeouts
from .instance import Instance
from .latency import nearest_rank
from .local import LocalInstance


@dataclass
class SimConfig:
    """Everything a run depends on (written to the JSON).

    Durations are given for ``time_scale`` 1 and multiplied by it (the rate divided by
    it): Ray Serve's per-request cost on a small machine needs slower, longer-running
    "models" for the same instance utilisation.
    """

    backend: str = "local"
    m: int = 4
    ks: Tuple[int, ...] = (2, 4)
    queries: int = 6000
    rate: float = 120.0  # queries per second at time_scale 1, Poisson arrivals
    time_scale: float = 1.0
    service_base_s: float = 0.02
    service_per_item_s: float = 0.002
    service_jitter: float = 0.1
    max_batch: int = 8
    batch_wait_s: float = 0.002
    group_wait_s: float = 0.02
    slow_probability: float = 0.02
    slow_scale_s: float = 0.05
    slow_shape: float = 1.5
    load_factor: float = 3.0
    deadline_variant: bool = True  # also run ParM with decode only after p95, (c')
    deployed_epochs: int = 20
    parity_epochs: int = 30
    seed: int = 0

    @classmethod
    def for_backend(cls, backend: str, quick: bool) -> "SimConfig":
        """The defaults: Ray runs 4x slower models at a quarter of the rate."""
        config = cls(backend=backend)
        if backend == "ray":
            config = replace(config, time_scale=4.0, queries=2000)
        if quick:
            config = replace(config, queries=800 if backend == "local" else 250, deployed_epochs=6,
                             parity_epochs=8, deadline_variant=backend == "local")
        return config

    @property
    def arrival_rate(self) -> float:
        return self.rate / self.time_scale

    @property
    def duration_s(self) -> float:
        return self.queries / self.arrival_rate

    def service(self) -> ServiceTime:
        t = self.time_scale
        return ServiceTime(self.service_base_s * t, self.service_per_item_s * t, self.service_jitter)

    def timeouts(self) -> Timeouts:
        d = Timeouts()
        t = self.time_scale
        return Timeouts(d.retry_percentile, d.retry_factor, d.retry_floor_s * t, d.probe_interval_s * t,
                        d.default_latency_s * t)

    def scenario(self) -> FaultScenario:
        """The faults of every setup: windows placed by the run's length."""
        t = self.duration_s
        return FaultScenario(
            slow_probability=self.slow_probability, slow_scale_s=self.slow_scale_s * self.time_scale,
            slow_shape=self.slow_shape, loaded=(0,), load_windows=((0.2 * t, 0.45 * t),),
            load_factor=self.load_factor, failed=(1,), outages=((0.6 * t, 0.75 * t),), seed=self.seed,
        )


@dataclass
class Setup:
    name: str
    kind: str  # 'uncoded', 'parm', 'hedged'
    k: int
    deployed: int
    parity: int = 0
    policy: str = "first-k"  # ParM's decode policy


def setups(config: SimConfig) -> List[Setup]:
    m = config.m
    rows = [Setup(f"(a) {m} deployed, no redundancy", "uncoded", 0, m)]
    for k in config.ks:
        if m % k:
            raise ValueError(f"m: {m} is not a multiple of k = {k}")
        extra = m // k
        rows += [
            Setup(f"(b) k={k}: {m + extra} deployed, no redundancy", "uncoded", k, m + extra),
            Setup(f"(c) k={k}: ParM SumCode, {m} deployed + {extra} parity", "parm", k, m, extra),
        ]
        if config.deadline_variant:
            rows.append(Setup(f"(c') k={k}: same, decode only after p95", "parm", k, m, extra, "deadline"))
        rows += [
            Setup(f"(d) k={k}: hedged at p95, {m + extra} deployed, cap 1/{k}", "hedged", k, m + extra),
        ]
    return rows


@dataclass
class Models:
    deployed: torch.nn.Module
    parity: Dict[int, torch.nn.Module]
    x_test: torch.Tensor
    y_test: torch.Tensor
    deployed_accuracy: float
    notes: List[str] = field(default_factory=list)


def train_models(config: SimConfig, progress: bool) -> Models:
    """The digits CNN and a SumCode(k) parity model per k (``parity_kernels.parm``)."""
    from ..parm import data as datasets
    from ..parm import evaluate, models, train

    torch.manual_seed(config.seed)
    data = datasets.digits(config.seed)
    deployed = train.train_classifier(models.digits_cnn(), data, epochs=config.deployed_epochs, seed=config.seed,
                                      progress=progress)
    parity = {}
    for k in config.ks:
        trained = train.train_parity_model(deployed, data, pk.SumCode(k), epochs=config.parity_epochs,
                                           batch_groups=16, seed=config.seed, progress=progress)
        parity[k] = trained.model.eval()
    return Models(deployed.eval(), parity, data.x_test, data.y_test,
                  evaluate.accuracy(deployed, data.x_test, data.y_test))


# ------------------------------------------------------------------------ instances


class LocalPool:
    """Fresh local instances for each setup."""

    def __init__(self, models: Models, config: SimConfig) -> None:
        self.models, self.config = models, config

    def instances(self, setup: Setup) -> Tuple[List[Instance], List[Instance]]:
        c = self.config
        make = lambda model, name: LocalInstance(model, name, service=c.service(), max_batch=c.max_batch,  # noqa: E731
                                                 batch_wait_s=c.batch_wait_s * c.time_scale)
        deployed = [make(self.models.deployed, f"deployed-{i}") for i in range(setup.deployed)]
        parity = [make(self.models.parity[setup.k], f"parity{setup.k}-{i}") for i in range(setup.parity)]
        return deployed, parity

    def close(self) -> None:
        pass


class RayPool:
    """Ray Serve instances deployed once: the most deployed instances any setup uses and
    the parity instances of every k; each setup takes what it needs and resets faults."""

    def __init__(self, models: Models, config: SimConfig) -> None:
        from . import ray_serve

        self.ray_serve = ray_serve
        ray_serve.start_local_ray()
        most = max(s.deployed for s in setups(config))
        names = [f"deployed-{i}" for i in range(most)]
        chosen = [models.deployed] * most
        for k in config.ks:
            names += [f"parity{k}-{i}" for i in range(config.m // k)]
            chosen += [models.parity[k]] * (config.m // k)
        handles = ray_serve.deploy(chosen, names, service=config.service(), max_batch=config.max_batch,
                                   batch_wait_s=config.batch_wait_s * config.time_scale)
        self.by_name = dict(zip(names, handles))

    def instances(self, setup: Setup) -> Tuple[List[Instance], List[Instance]]:
        deployed = [self.by_name[f"deployed-{i}"] for i in range(setup.deployed)]
        parity = [self.by_name[f"parity{setup.k}-{i}"] for i in range(setup.parity)]
        return deployed, parity

    def close(self) -> None:
        self.ray_serve.stop_ray()


# --------------------------------------------------------------------------- a run


def _frontend(setup: Setup, deployed, parity, config: SimConfig) -> Frontend:
    timeouts = config.timeouts()
    if setup.kind == "uncoded":
        return UncodedFrontend(deployed, timeouts=timeouts)
    if setup.kind == "hedged":
        return HedgedFrontend(deployed, hedge_percentile=95.0, max_extra_load=1.0 / setup.k, timeouts=timeouts)
    return CodedFrontend(deployed, [parity], pk.SumCode(setup.k), policy=setup.policy,
                         group_wait_s=config.group_wait_s * config.time_scale, timeouts=timeouts)


async def _serve(setup: Setup, pool, models: Models, config: SimConfig, tick) -> dict:
    deployed, parity = pool.instances(setup)
    scenario = config.scenario()
    frontend = _frontend(setup, deployed, parity, config)
    await frontend.warm_up(models.x_test[0])
    epoch = time.time()
    await asyncio.gather(*[inst.set_faults(scenario.plan(i, "deployed"), epoch) for i, inst in enumerate(deployed)],
                         *[inst.set_faults(scenario.plan(i, "parity"), epoch) for i, inst in enumerate(parity)])
    rng = random.Random(config.seed)
    picks = [rng.randrange(len(models.y_test)) for _ in range(config.queries)]
    loop = asyncio.get_running_loop()
    start = loop.time()
    due = 0.0
    tasks = []
    for n, i in enumerate(picks):
        due += rng.expovariate(config.arrival_rate)
        wait = start + due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        tasks.append(loop.create_task(frontend.infer(models.x_test[i])))
        if n % 50 == 0:
            tick(n / config.queries)
    answers = await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    counts = dict(frontend.metrics.counts)
    await frontend.close()
    if isinstance(pool, LocalPool):
        for inst in deployed + parity:
            await inst.close()
    latencies = [a.latency_s for a in answers]
    ordered = sorted(latencies)
    correct = [int(a.output.argmax()) == int(models.y_test[i]) for a, i in zip(answers, picks)]
    rebuilt = [c for a, c in zip(answers, correct) if a.reconstructed]
    extra = counts.get("coded_queries", 0) + counts.get("hedges", 0)
    return {
        "setup": setup.name, "kind": setup.kind, "policy": setup.policy, "k": setup.k, "deployed": setup.deployed, "parity": setup.parity,
        "instances": setup.deployed + setup.parity, "queries": len(answers), "seconds": elapsed,
        "p50_ms": 1e3 * nearest_rank(ordered, 50), "p99_ms": 1e3 * nearest_rank(ordered, 99),
        "p999_ms": 1e3 * nearest_rank(ordered, 99.9), "max_ms": 1e3 * ordered[-1],
        "accuracy": sum(correct) / len(correct), "reconstructed": len(rebuilt),
        "reconstructed_accuracy": (sum(rebuilt) / len(rebuilt)) if rebuilt else None,
        "extra_load": extra / len(answers), "metrics": counts, "latencies_ms": [1e3 * v for v in latencies],
    }


def _progress(done: float, label: str, start: float) -> None:
    width = 30
    filled = int(width * min(max(done, 0.0), 1.0))
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done:4.0%} {time.time() - start:5.0f}s {label[:70]:<70}")
    sys.stderr.flush()


def run(config: SimConfig, json_path: Optional[str] = None, plot_path: Optional[str] = None,
        progress: bool = True) -> List[dict]:
    """Train, serve every setup, print the table; optionally write JSON and a CDF plot."""
    start = time.time()
    chosen = setups(config)
    show = (lambda done, label: _progress(done, label, start)) if progress else (lambda done, label: None)
    show(0.0, "training the deployed and parity models")
    models = train_models(config, progress=False)
    show(0.0, f"starting {config.backend} instances")
    pool = RayPool(models, config) if config.backend == "ray" else LocalPool(models, config)
    rows = []
    try:
        for n, setup in enumerate(chosen):
            tick = lambda f, n=n, name=setup.name: show((n + f) / len(chosen), name)  # noqa: E731
            rows.append(asyncio.run(_serve(setup, pool, models, config, tick)))
    finally:
        pool.close()
    show(1.0, "done")
    if progress:
        sys.stderr.write("\n")
    print(table(rows, config, models))
    print(f"{len(rows)} setups in {time.time() - start:.0f} s")
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"config": _config_dict(config), "machine": _machine(), "deployed_accuracy":
                       models.deployed_accuracy, "rows": rows}, f, indent=1)
    if plot_path:
        plot(rows, plot_path)
    return rows


def _config_dict(config: SimConfig) -> dict:
    d = asdict(config)
    d["scenario"] = asdict(config.scenario())
    return d


def _machine() -> dict:
    return {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}


def table(rows: List[dict], config: SimConfig, models: Models) -> str:
    head = f"{'setup':52s} {'inst':>4s} {'extra':>6s} {'p50 ms':>8s} {'p99 ms':>8s} {'p99.9 ms':>9s} " \
           f"{'acc':>6s} {'decoded':>8s} {'dec acc':>7s}"
    lines = [f"serve-sim: {config.backend} instances, {config.queries} queries at {config.arrival_rate:.0f}/s "
             f"(time scale {config.time_scale:g}: service {1e3 * config.service().base_s:.0f} ms a batch + "
             f"{1e3 * config.service().per_item_s:.0f} ms a query), "
             f"deployed model accuracy {models.deployed_accuracy:.3f}", head]
    for r in rows:
        dec = f"{r['reconstructed_accuracy']:.3f}" if r["reconstructed_accuracy"] is not None else "-"
        lines.append(f"{r['setup']:52s} {r['instances']:4d} {r['extra_load']:6.2f} {r['p50_ms']:8.1f} "
                     f"{r['p99_ms']:8.1f} {r['p999_ms']:9.1f} {r['accuracy']:6.3f} {r['reconstructed']:8d} {dec:>7s}")
    lines.append("extra: coded queries or hedges sent per query; decoded: answers rebuilt by decode; "
                 "dec acc: their accuracy against the labels.")
    for k in config.ks:
        base = next((r for r in rows if r["kind"] == "uncoded" and r["k"] == k), None)
        parm = next((r for r in rows if r["kind"] == "parm" and r["k"] == k), None)  # (c)
        if base and parm:
            gap_base, gap_parm = base["p999_ms"] - base["p50_ms"], parm["p999_ms"] - parm["p50_ms"]
            lines.append(f"k={k}: ParM p99.9 {parm['p999_ms']:.1f} ms vs equal resources {base['p999_ms']:.1f} ms "
                         f"({parm['p999_ms'] / base['p999_ms']:.2f}x); p99.9 - p50 gap {gap_parm:.1f} vs "
                         f"{gap_base:.1f} ms ({gap_base / gap_parm:.2f}x smaller; the ParM paper: up to 3.5x)")
    return "\n".join(lines)


def plot(rows: List[dict], path: str) -> None:
    """Latency CDF per setup: the whole distribution, and the tail from p99 on."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    fig, (whole, tail) = plt.subplots(1, 2, figsize=(13, 5))
    colours = {"uncoded": "tab:orange", "parm": "tab:green", "parm-deadline": "tab:olive", "hedged": "tab:purple"}
    for r in rows:
        values = sorted(r["latencies_ms"])
        fractions = [(i + 1) / len(values) for i in range(len(values))]
        kind = r["kind"] + ("-deadline" if r.get("policy") == "deadline" else "")
        colour = "black" if r["k"] == 0 else colours[kind]
        style = "-" if r["k"] in (0, 2) else "--"
        for ax in (whole, tail):
            ax.plot(values, fractions, style, color=colour, label=r["setup"])
    for ax in (whole, tail):
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(ScalarFormatter())
        ax.tick_params(axis="x", which="minor", labelsize=7)
        ax.grid(True, which="both", alpha=0.3)
    whole.set_xlabel("latency (ms)")
    whole.set_ylabel("fraction of queries answered")
    tail.set_ylim(0.99, 1.0005)
    tail.set_xlabel("latency (ms)")
    tail.set_title("tail (p99 and up)")
    whole.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main_args(backend: str, quick: bool, queries: Optional[int], rate: Optional[float]) -> SimConfig:
    """The config the CLI asks for (``rate`` in queries per second as served)."""
    if backend not in ("local", "ray"):
        raise ValueError(f"backend: expected 'local' or 'ray', got {backend!r}")
    config = SimConfig.for_backend(backend, quick)
    if queries is not None:
        config = replace(config, queries=queries)
    if rate is not None:
        config = replace(config, rate=rate * config.time_scale)
    return config
