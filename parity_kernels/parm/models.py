"""Small deployed models that train in seconds to minutes on a CPU."""

from torch import nn


def digits_cnn(num_classes: int = 10) -> nn.Module:
    """(N, 1, 8, 8) -> (N, num_classes) logits."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, num_classes),
    )


def mnist1d_cnn(num_classes: int = 10) -> nn.Module:
    """(N, 1, 40) -> (N, num_classes) logits."""
    return nn.Sequential(
        nn.Conv1d(1, 32, 5, padding=2), nn.ReLU(),
        nn.Conv1d(32, 32, 3, padding=1, stride=2), nn.ReLU(),
        nn.Conv1d(32, 32, 3, padding=1, stride=2), nn.ReLU(),
        nn.Flatten(), nn.Linear(32 * 10, 64), nn.ReLU(), nn.Linear(64, num_classes),
    )
