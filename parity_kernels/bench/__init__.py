"""``parity-kernels bench``: encode/decode bandwidth beside torch eager, torch.compile and a
plain copy of the same bytes, plus the overhead beside a ResNet forward pass.

cases.py (what is measured), timing.py (how), overhead.py (the ResNet comparison),
report.py (table, JSON, plot), cli.py (the command).
"""
