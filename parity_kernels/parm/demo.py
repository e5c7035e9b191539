"""``parity-kernels demo``: ParM end to end on real data, on the CPU by default.

Trains a deployed model per dataset (scikit-learn's digits, MNIST-1D), parity models for
k = 2 and 4 (SumCode; ConcatCode on the digit images), and prints degraded-mode accuracy
beside the baselines (most frequent class; BerrutCode with the deployed model, no
training), a Cauchy code with two trained parity models (r = 2), and the overall accuracy
when 5 % of predictions are unavailable.
"""

from __future__ import annotations

import json
import time
from typing import List, Optional

import torch

import parity_kernels as pk

from . import data as datasets
from . import evaluate, models, train

UNAVAILABLE = 0.05
COLUMNS = ["dataset", "k", "deployed acc", "default", "Berrut (no training)", "ParM Sum", "ParM Concat",
           "ParM Cauchy r=2", f"overall acc at {UNAVAILABLE:.0%} unavailable"]


def _budget(quick: bool) -> dict:
    if quick:
        return {"deployed": {"digits": 6, "mnist1d": 8}, "parity": 6, "mnist1d_samples": 2000}
    return {"deployed": {"digits": 20, "mnist1d": 40}, "parity": 30, "mnist1d_samples": 5000}


def run(quick: bool = False, json_path: Optional[str] = None, plot_path: Optional[str] = None,
        seed: int = 0, progress: bool = True) -> List[dict]:
    """Train, evaluate, print the table; optionally write JSON and a PNG bar chart."""
    budget = _budget(quick)
    start = time.time()
    rows = []
    for name in ("digits", "mnist1d"):
        data = datasets.digits(seed) if name == "digits" else datasets.mnist1d(seed, budget["mnist1d_samples"])
        architecture = models.digits_cnn if name == "digits" else models.mnist1d_cnn
        torch.manual_seed(seed)  # the deployed model's initialisation
        deployed = train.train_classifier(architecture(), data, epochs=budget["deployed"][name], seed=seed,
                                          progress=progress)
        deployed_acc = evaluate.accuracy(deployed, data.x_test, data.y_test)
        for k in (2, 4):
            row = {"dataset": name, "k": k, "deployed acc": deployed_acc,
                   "default": evaluate.default_accuracy(data.y_train, data.y_test),
                   "Berrut (no training)": evaluate.berrut_degraded_accuracy(deployed, k, data.x_test, data.y_test)}
            codes = {"ParM Sum": pk.SumCode(k)}
            if data.x_train.dim() == 4:  # images: ParM's tiling encoder too
                codes["ParM Concat"] = pk.ConcatCode(k)
            for label, code in codes.items():
                parity = train.train_parity_model(deployed, data, code, epochs=budget["parity"], batch_groups=16,
                                                  seed=seed, progress=progress)
                row[label] = evaluate.degraded_accuracy(deployed, parity.model, code, data.x_test, data.y_test)
            row["ParM Concat"] = row.get("ParM Concat")
            cauchy = pk.LinearCode.cauchy(k, 2)  # two parity models, one per row; decode uses both
            pair = [train.train_parity_model(deployed, data, cauchy, row=j, epochs=budget["parity"], batch_groups=16,
                                             seed=seed + j, progress=progress).model for j in range(2)]
            row["ParM Cauchy r=2"] = evaluate.degraded_accuracy(deployed, pair, cauchy, data.x_test, data.y_test)
            row[COLUMNS[-1]] = evaluate.overall_accuracy(deployed_acc, row["ParM Sum"], UNAVAILABLE)
            rows.append(row)
    seconds = time.time() - start
    print(table(rows))
    print(f"\ndegraded-mode accuracy: each of the k outputs of a coding group lost in turn and rebuilt "
          f"(never the parity); seed {seed}; {seconds:.0f} s on {torch.get_num_threads()} CPU threads.")
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"rows": rows, "seed": seed, "quick": quick, "seconds": seconds,
                       "torch": torch.__version__}, f, indent=1)
    if plot_path:
        plot(rows, plot_path)
    return rows


def table(rows: List[dict]) -> str:
    """A markdown table of the rows."""
    def cell(value):
        return "—" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(row[c]) for c in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def plot(rows: List[dict], path: str) -> None:
    """Bar chart of degraded-mode accuracy per method and k, one panel per dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({r["dataset"] for r in rows})
    methods = ["default", "Berrut (no training)", "ParM Sum", "ParM Concat", "ParM Cauchy r=2"]
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.8), squeeze=False)
    for ax, name in zip(axes[0], names):
        subset = [r for r in rows if r["dataset"] == name]
        width = 0.8 / len(methods)
        for m, method in enumerate(methods):
            xs = [i + m * width for i in range(len(subset))]
            ys = [r[method] if r[method] is not None else 0.0 for r in subset]
            ax.bar(xs, ys, width, label=method)
        ax.axhline(subset[0]["deployed acc"], color="k", linestyle=":", label="deployed (no loss)")
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(subset))])
        ax.set_xticklabels([f"k = {r['k']}" for r in subset])
        ax.set_ylim(0, 1)
        ax.set_ylabel("degraded-mode accuracy")
        ax.set_title(name)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
