"""ParM's training and evaluation half, on the public API only: datasets bundled or
generated locally, small deployed models, parity-model training, degraded-mode accuracy.
"""

from .data import Dataset, digits, mnist1d
from .evaluate import accuracy, berrut_degraded_accuracy, default_accuracy, degraded_accuracy, overall_accuracy
from .models import digits_cnn, mnist1d_cnn
from .train import ParityModel, train_classifier, train_parity_model

__all__ = [
    "Dataset", "digits", "mnist1d", "digits_cnn", "mnist1d_cnn", "train_classifier", "train_parity_model",
    "ParityModel", "accuracy", "degraded_accuracy", "berrut_degraded_accuracy", "default_accuracy",
    "overall_accuracy",
]
