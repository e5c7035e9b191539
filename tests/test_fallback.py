"""Without the C++ extension the ops run in pure PyTorch after a one-time warning."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import torch

import parity_kernels as pk
from parity_kernels import reference
from parity_kernels.backends import eager

from conftest import assert_matches


def test_eager_kernels_match_reference_and_skip_unread_nan():
    x = torch.randn(3, 4, 6)
    x[1, 2] = float("nan")
    coeffs = torch.randn(3, 2, 5)
    coeffs[1, :, 2] = 0.0
    extra = torch.randn(3, 1, 6)
    got = eager.combine(x, coeffs, None, extra)
    scale = reference.combine(x.double().abs().nan_to_num(), coeffs.abs(), None, extra.abs())
    assert_matches(got, reference.combine(x, coeffs, None, extra), scale, torch.float32)
    images = torch.randn(2, 3, 2, 7, 9)
    got = eager.concat_downsample(images, None)
    assert_matches(got, reference.concat_downsample(images), reference.concat_downsample(images.abs()), torch.float32)


def test_missing_extension_warns_once_and_still_computes():
    script = textwrap.dedent(
        """
        import sys, warnings
        sys.modules["parity_kernels._C"] = None  # as if the extension had not been built
        warnings.simplefilter("always")
        with warnings.catch_warnings(record=True) as caught:
            import torch, parity_kernels as pk
            from parity_kernels import reference
            assert not pk.HAS_CPU_EXTENSION
            x = torch.randn(2, 3, 5)
            for _ in range(3):
                p = pk.encode(x, pk.SumCode(3))
            y, ok = pk.decode(x, p, torch.ones(2, 4, dtype=torch.bool), pk.SumCode(3))
        assert torch.allclose(p.double(), reference.encode(x, pk.SumCode(3)), atol=1e-5)
        assert torch.equal(y, x) and ok.all()
        fallback = [w for w in caught if "using the pure-PyTorch kernels" in str(w.message)]
        assert len(fallback) == 1, [str(w.message) for w in caught]
        print("OK")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("OK")


def test_extension_is_built_here():
    assert pk.HAS_CPU_EXTENSION
