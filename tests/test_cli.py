"""The command line refuses a device it cannot run on before doing any work."""

import pytest
import torch

from parity_kernels.__main__ import main


@pytest.mark.parametrize("command", [["bench", "--quick", "--no-overhead"], ["walkthrough", "--groups", "2"]])
@pytest.mark.parametrize("device", ["gpu", "mps", "cuda:x"])
def test_unknown_device_is_a_usage_error(command, device, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(command + ["--device", device])
    assert exit_.value.code == 2
    assert f"--device: expected cpu, cuda or cuda:N, got '{device}'" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
@pytest.mark.parametrize("command", [["bench", "--quick", "--no-overhead"], ["walkthrough", "--groups", "2"]])
def test_cuda_without_a_cuda_device_is_a_usage_error(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(command + ["--device", "cuda"])
    assert exit_.value.code == 2
    assert "no CUDA device here" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_index_past_the_devices_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["walkthrough", "--groups", "2", "--device", f"cuda:{torch.cuda.device_count()}"])
    assert exit_.value.code == 2
    assert "CUDA device(s)" in capsys.readouterr().err


def test_cpu_device_runs(capsys):
    assert main(["walkthrough", "--groups", "2", "--device", "cpu"]) == 0
    assert "on cpu" in capsys.readouterr().out
