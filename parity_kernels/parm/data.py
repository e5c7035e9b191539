"""Real data with no downloads.

* scikit-learn's bundled handwritten digits (UCI ML hand-written digits, 1797 8x8 images,
  shipped inside scikit-learn, BSD-3-Clause package; data from the UCI repository, CC BY 4.0).
* MNIST-1D generated locally by its package's own generator (``mnist1d``, Apache-2.0,
  Greydanus 2020): 5000 sequences of 40 points, nothing fetched.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Dataset:
    """Inputs (N, *S) float32 and labels (N,) int64 for train, validation and test."""

    name: str
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor
    num_classes: int = 10


def _split(name, x, y, seed, fractions=(0.6, 0.2)):
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    x, y = x[order], y[order]
    a = int(fractions[0] * len(y))
    b = a + int(fractions[1] * len(y))
    return Dataset(name, x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:])


def digits(seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 digits as (N, 1, 8, 8) images in [0, 1]; 60/20/20 split."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(bunch.target, dtype=torch.int64)
    return _split("digits", x, y, seed)


def mnist1d(seed: int = 0, num_samples: int = 5000) -> Dataset:
    """MNIST-1D from its generator as (N, 1, 40) sequences; its train split is cut 75/25
    into train and validation, its test split kept."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = num_samples
    args.seed = seed + 42
    raw = make_dataset(args)
    x = torch.tensor(raw["x"], dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(raw["y"], dtype=torch.int64)
    cut = int(0.75 * len(y))
    return Dataset("mnist1d", x[:cut], y[:cut], x[cut:], y[cut:],
                   torch.tensor(raw["x_test"], dtype=torch.float32).unsqueeze(1),
                   torch.tensor(raw["y_test"], dtype=torch.int64))
