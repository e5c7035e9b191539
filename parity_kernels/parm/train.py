"""Training: deployed classifiers, and parity models (ParM).

A parity model learns Fp(encode(x_1..x_k)) ~ sum_i W[row, i] F(x_i) (the sum of the
deployed model's logits for SumCode and ConcatCode): no labels, MSE by default, Adam
(lr 1e-3, weight decay 1e-5), fresh random coding groups every epoch, the deployed
outputs computed once on the training inputs, and the checkpoint kept with the best
reconstruction top-1 on the validation split (rebuilt argmax == deployed argmax).
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Union

import torch
from torch import Tensor, nn

import parity_kernels as pk

from .data import Dataset
from .evaluate import coding_groups, degraded_accuracy, outputs_of


def _seeded(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _progress(label: str, epoch: int, epochs: int, note: str, enabled: bool) -> None:
    if enabled:
        done = 20 * (epoch + 1) // epochs
        sys.stderr.write(f"\r{label} [{'#' * done}{'.' * (20 - done)}] epoch {epoch + 1}/{epochs} {note}   ")
        if epoch + 1 == epochs:
            sys.stderr.write("\n")
        sys.stderr.flush()


def train_classifier(model: nn.Module, data: Dataset, epochs: int = 20, batch_size: int = 64, lr: float = 1e-3,
                     seed: int = 0, progress: bool = False) -> nn.Module:
    """Cross-entropy training of a deployed model on data's training split.

    Batches are drawn from ``seed``; the model's initialisation is the caller's (seed torch
    before building it, as the demo does, for a run that repeats exactly).
    """
    gen = _seeded(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(data.y_train), generator=gen)
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            loss = nn.functional.cross_entropy(model(data.x_train[batch]), data.y_train[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
        _progress(f"deployed {data.name}", epoch, epochs, "", progress)
    return model.eval()


def fresh_copy(model: nn.Module) -> nn.Module:
    """The same architecture, parameters freshly initialised."""
    clone = copy.deepcopy(model)
    for module in clone.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return clone


@dataclass
class ParityModel:
    """A trained parity model for ``code`` (row ``row`` of its encoder) and its history."""

    model: nn.Module
    code: pk.Code
    row: int = 0
    best_val_reconstruction: float = 0.0
    history: List[dict] = field(default_factory=list)

    def save(self, path: str) -> None:
        torch.save({"state_dict": self.model.state_dict(), "code": repr(self.code), "row": self.row,
                    "best_val_reconstruction": self.best_val_reconstruction, "history": self.history}, path)

    @classmethod
    def load(cls, path: str, model: nn.Module, code: pk.Code) -> "ParityModel":
        """Load a checkpoint into ``model`` (the same architecture) for ``code``."""
        saved = torch.load(path, weights_only=True)
        if saved["code"] != repr(code):
            raise ValueError(f"code: the checkpoint is for {saved['code']}, got {code!r}")
        model.load_state_dict(saved["state_dict"])
        return cls(model.eval(), code, saved["row"], saved["best_val_reconstruction"], saved["history"])


def train_parity_model(
    deployed: nn.Module,
    data: Dataset,
    code: pk.Code,
    parity_model: Optional[nn.Module] = None,
    epochs: int = 20,
    batch_groups: Optional[int] = None,
    lr: float = 1e-3,
    weight_decay: float = 1e-5,
    loss: Union[str, Callable[[Tensor, Tensor], Tensor]] = "mse",
    row: int = 0,
    seed: int = 0,
    progress: bool = True,
) -> ParityModel:
    """Train a parity model for ``code`` (systematic: SumCode, ConcatCode, LinearCode row
    ``row``); the deployed architecture, freshly initialised, unless one is given.

    batch_groups defaults to ParM's 64 coding groups a batch for k = 2, 32 for k >= 3;
    small datasets (digits) train better with fewer (16), for more steps an epoch.
    """
    if not code.systematic:
        raise ValueError(f"code: parity models serve systematic codes, got {code!r}")
    if not 0 <= row < code.num_coded:
        raise ValueError(f"row: expected 0 <= row < {code.num_coded}, got {row}")
    gen = _seeded(seed)
    deployed.eval()
    model = parity_model if parity_model is not None else fresh_copy(deployed)
    weights = code.encode_matrix(dtype=torch.float32)[row]  # (k,)
    outputs = outputs_of(deployed, data.x_train)  # deployed logits, once, on un-augmented inputs
    with torch.no_grad():
        probe = model.eval()(pk.encode(data.x_train[: code.k].unsqueeze(0), code)[:, row])
    if probe.shape[1:] != outputs.shape[1:]:
        raise ValueError(f"parity_model: output shape {tuple(probe.shape[1:])} does not match the deployed "
                         f"model's {tuple(outputs.shape[1:])}")
    criterion = nn.functional.mse_loss if loss == "mse" else loss
    if not callable(criterion):
        raise ValueError(f"loss: expected 'mse' or a callable, got {loss!r}")
    batch = batch_groups or (64 if code.k == 2 else 32)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    val_reference = outputs_of(deployed, data.x_val).argmax(-1)
    # Validation rebuilds from this row's parity alone: the one-row code it was trained for.
    row_code = code if code.num_coded == 1 else pk.LinearCode(code.encode_matrix()[row:row + 1])
    result = ParityModel(model, code, row, best_val_reconstruction=-1.0)
    best_state = None
    for epoch in range(epochs):
        model.train()
        groups = coding_groups(len(data.y_train), code.k, int(torch.randint(0, 2**31, (1,), generator=gen)))
        total = 0.0
        for start in range(0, len(groups), batch):
            idx = groups[start:start + batch]
            queries = pk.encode(data.x_train, code, groups=idx)[:, row]
            target = (weights[None, :, None] * outputs[idx]).sum(1)
            step_loss = criterion(model(queries), target)
            opt.zero_grad()
            step_loss.backward()
            opt.step()
            total += float(step_loss.detach()) * len(idx)
        val = degraded_accuracy(deployed, model, row_code, data.x_val, data.y_val, seed=epoch,
                                reference=val_reference)
        result.history.append({"epoch": epoch + 1, "loss": total / max(len(groups), 1), "val_reconstruction": val})
        if val > result.best_val_reconstruction or best_state is None:
            result.best_val_reconstruction = val
            best_state = copy.deepcopy(model.state_dict())
        _progress(f"parity {code!r} {data.name}", epoch, epochs, f"val reconstruction {val:.3f}", progress)
    model.load_state_dict(best_state)
    model.eval()
    return result
