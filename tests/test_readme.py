"""Every python block of the README runs as written, in order, in one namespace."""

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 5
    torch._dynamo.reset()
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
