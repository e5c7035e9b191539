"""Triton kernels: the default CUDA backend, and CPU tensors under TRITON_INTERPRET=1.

Importing this package needs the ``triton`` module; TRITON_INTERPRET must be set before
the first import for the interpreter to take over.
"""

import os

INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"
