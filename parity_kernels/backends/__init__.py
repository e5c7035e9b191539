"""Per-device kernels of the parity_kernels ops (bitsandbytes-style registration).

``eager``: pure PyTorch, any device (the default kernel); ``cpu``: the C++ extension.
"""
