"""Triton kernels: the default CUDA backend, and CPU tensors under TRITON_INTERPRET=1.

Importing this package needs the ``triton`` module; TRITON_INTERPRET must be set before
the first import for the interpreter to take over.
"""

import os

INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"


# Launch arithmetic in plain Python: triton.next_power_of_2 and triton.cdiv are
# constexpr_functions, whose calls from Python cost ~5 us each (Triton 3.6 and 3.9), and a
# launch made four to six of them.
def next_power_of_2(n: int) -> int:
    """The smallest power of two >= n, for n >= 1 (triton.next_power_of_2's value)."""
    return 1 << (n - 1).bit_length() if n > 1 else 1


def cdiv(a: int, b: int) -> int:
    """a / b rounded up, for a >= 0, b > 0 (triton.cdiv's value)."""
    return -(-a // b)
