"""ParM training and evaluation on real data (scikit-learn's digits), tiny seeded budgets."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import parity_kernels as pk
from parity_kernels import parm


@pytest.fixture(scope="module")
def digits_deployed():
    data = parm.digits(seed=0)
    torch.manual_seed(0)
    deployed = parm.train_classifier(parm.digits_cnn(), data, epochs=8, seed=0)
    return data, deployed


def test_deployed_model_learns(digits_deployed):
    data, deployed = digits_deployed
    assert parm.accuracy(deployed, data.x_test, data.y_test) > 0.85


def test_parity_model_beats_the_default_prediction_for_k2(digits_deployed):
    data, deployed = digits_deployed
    code = pk.SumCode(2)
    # Digits' 1078 training images make few steps per epoch: small batches of groups.
    trained = parm.train_parity_model(deployed, data, code, epochs=15, batch_groups=16, seed=0, progress=False)
    degraded = parm.degraded_accuracy(deployed, trained.model, code, data.x_test, data.y_test)
    default = parm.default_accuracy(data.y_train, data.y_test)
    untrained = parm.degraded_accuracy(deployed, parm.train.fresh_copy(deployed), code, data.x_test, data.y_test)
    assert degraded > default + 0.6, (degraded, default)
    assert degraded > untrained + 0.5, (degraded, untrained)
    assert len(trained.history) == 15 and trained.best_val_reconstruction == max(
        h["val_reconstruction"] for h in trained.history)


def test_training_is_deterministic_under_a_seed(digits_deployed):
    data, deployed = digits_deployed
    classifiers = []
    for _ in range(2):
        torch.manual_seed(5)
        classifiers.append(parm.train_classifier(parm.digits_cnn(), data, epochs=1, seed=5))
    for a, b in zip(classifiers[0].parameters(), classifiers[1].parameters()):
        assert torch.equal(a, b)
    runs = [parm.train_parity_model(deployed, data, pk.ConcatCode(2), epochs=2, seed=3, progress=False)
            for _ in range(2)]
    for a, b in zip(runs[0].model.parameters(), runs[1].model.parameters()):
        assert torch.equal(a, b)


def test_checkpoint_round_trip(digits_deployed, tmp_path):
    data, deployed = digits_deployed
    code = pk.SumCode(2)
    trained = parm.train_parity_model(deployed, data, code, epochs=1, seed=1, progress=False)
    path = tmp_path / "parity.pt"
    trained.save(str(path))
    loaded = parm.ParityModel.load(str(path), parm.digits_cnn(), code)
    queries = pk.encode(data.x_test[:8].view(4, 2, 1, 8, 8), code)[:, 0]
    with torch.no_grad():
        assert torch.equal(loaded.model(queries), trained.model(queries))
    assert loaded.history == trained.history
    with pytest.raises(ValueError, match="code: the checkpoint is for SumCode"):
        parm.ParityModel.load(str(path), parm.digits_cnn(), pk.SumCode(3))


def test_mismatched_parity_model_is_refused(digits_deployed):
    data, deployed = digits_deployed
    wrong = nn.Sequential(nn.Flatten(), nn.Linear(64, 5))
    with pytest.raises(ValueError, match=r"parity_model: output shape \(5,\) does not match the deployed model's \(10,\)"):
        parm.train_parity_model(deployed, data, pk.SumCode(2), parity_model=wrong, epochs=1, progress=False)
    with pytest.raises(ValueError, match="code: parity models serve systematic codes"):
        parm.train_parity_model(deployed, data, pk.BerrutCode(2, 3), epochs=1, progress=False)


def test_two_parity_models_for_a_two_row_code(digits_deployed):
    data, deployed = digits_deployed
    code = pk.LinearCode.cauchy(2, 2)
    pair = [parm.train_parity_model(deployed, data, code, row=j, epochs=3, batch_groups=16, seed=j, progress=False)
            for j in range(2)]
    assert all(p.best_val_reconstruction == max(h["val_reconstruction"] for h in p.history) for p in pair)
    accuracy = parm.degraded_accuracy(deployed, [p.model for p in pair], code, data.x_test, data.y_test)
    assert accuracy > parm.default_accuracy(data.y_train, data.y_test)
    with pytest.raises(ValueError, match="parity_models: expected 2"):
        parm.degraded_accuracy(deployed, pair[0].model, code, data.x_test, data.y_test)
    with pytest.raises(ValueError, match="row: expected 0 <= row < 2"):
        parm.train_parity_model(deployed, data, code, row=2, epochs=1, progress=False)


def test_baselines_and_overall_accuracy(digits_deployed):
    data, deployed = digits_deployed
    berrut = parm.berrut_degraded_accuracy(deployed, 2, data.x_test, data.y_test)
    assert 0.0 <= berrut <= 1.0
    assert parm.overall_accuracy(0.9, 0.5, 0.05) == pytest.approx(0.9 * 0.95 + 0.5 * 0.05)


def test_mnist1d_is_generated_locally():
    data = parm.mnist1d(num_samples=500)
    assert data.x_train.shape[1:] == (1, 40) and len(data.y_train) + len(data.y_val) == 400
    assert parm.mnist1d_cnn()(data.x_test[:3]).shape == (3, 10)


def test_demo_quick_prints_the_table_and_writes_json_and_plot(tmp_path, capsys):
    from parity_kernels.__main__ import main

    out_json, out_png = tmp_path / "demo.json", tmp_path / "demo.png"
    assert main(["demo", "--quick", "--json", str(out_json), "--plot", str(out_png)]) == 0
    printed = capsys.readouterr().out
    assert "| dataset | k | deployed acc | default | Berrut (no training) | ParM Sum | ParM Concat |" in printed
    import json

    rows = json.loads(out_json.read_text())["rows"]
    assert [(r["dataset"], r["k"]) for r in rows] == [("digits", 2), ("digits", 4), ("mnist1d", 2), ("mnist1d", 4)]
    assert rows[0]["ParM Sum"] > rows[0]["default"] + 0.3
    assert rows[2]["ParM Concat"] is None  # sequences: no image tiling
    assert all(0.0 <= r["ParM Cauchy r=2"] <= 1.0 for r in rows)
    assert out_png.read_bytes()[:4] == b"\x89PNG"
