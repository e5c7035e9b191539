"""A launch plan's Triton kernel launched again without ``JITFunction.run``.

``kernel[grid](...)`` binds and specialises every argument, builds the cache key, looks the
compiled kernel up, checks the kernel's globals and reads knobs on every call: 25-40 us of
Python a launch with Triton 3.6 and 3.9 (a stand-in driver on this project's CPU machine:
``python -m parity_kernels.bench.triton_host``), several times the rest of a planned call. Within one launch plan
(``plans``) every argument but the pointers is fixed by the plan's metadata, and what the
JIT makes of a pointer is its dtype (fixed too) and whether it is 16-byte aligned. So the
plan's first launch goes through the JIT and ``remember`` keeps what it launched
(``Compiled``); later launches call that kernel's launcher directly (``launch``) when the
JIT would choose the same kernel: the same current device, every pointer aligned as then,
and no launch hooks (profilers such as proton add them: those launches go through the JIT,
which reports them). Knobs that change compilation (``knobs.runtime.debug``, instrumentation)
are read at the plan's first launch. What was launched is kept per launch key
(``cell_for``), in a cell that plans and launches without a plan (the ops' kernels, called
by torch.compile'd code or under autograd; a call's checked route) share: the latter work
their arguments out anew each call, but skip the JIT from the second launch with the key.

Pointers reach the launcher as integers (it takes them as ints or as tensors; ints skip a
``data_ptr()`` call and a driver pointer query each), with every other argument as the JIT
passes it. What must stay true of Triton for this to hold: the launcher call
``run(grid_x, grid_y, grid_z, stream, function, packed_metadata, launch_metadata,
enter_hook, exit_hook, *arguments)`` that ``JITFunction.run`` makes, every argument
constexprs included (Triton 3.4 to 3.9; 3.3 passed the hooks from elsewhere, 3.1-3.2 left
the constexprs out, so before 3.4 every launch goes through the JIT).
tests/test_triton_direct.py records both launches through a stand-in driver and compares
them; the GPU tests run this path on a device. ``PARITY_KERNELS_TRITON_DIRECT=0`` (read at
import) sends every launch through the JIT; ``jit_only()`` does for a block.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator, NamedTuple, Optional

from triton.runtime import driver

from . import INTERPRET

try:  # Triton 3.4 on: launch hooks in knobs, and JITFunction.run's launcher call as below
    from triton import knobs
except ImportError:  # before 3.4 the call passed other arguments: every launch goes through the JIT
    knobs = None


ENABLED = os.environ.get("PARITY_KERNELS_TRITON_DIRECT", "1") != "0"


@contextlib.contextmanager
def jit_only() -> Iterator[None]:
    """Within the block every Triton launch goes through the JIT and plans keep nothing new
    (as ``PARITY_KERNELS_TRITON_DIRECT=0`` does for the process): for comparisons."""
    global ENABLED
    saved, ENABLED = ENABLED, False
    try:
        yield
    finally:
        ENABLED = saved


class Compiled(NamedTuple):
    """What ``JITFunction.run`` launched for a plan: enough to launch it again."""

    launcher: object  # CompiledKernel.run: the kernel's launcher
    function: object  # CompiledKernel.function: the loaded kernel's handle
    metadata: object  # CompiledKernel.packed_metadata
    grid: tuple  # (x, y, z)
    device: int  # the current device it was launched on (the JIT's kernel cache and stream)
    aligned: tuple  # per pointer: 16-byte aligned then (the JIT's only pointer specialisation)
    constants: tuple  # the constexpr arguments' values, in the kernel's order, after the others


# What the JIT launched, per launch key (everything its choice depends on but the pointers'
# alignment, which ``launch`` checks), for plans and launches without a plan alike; emptied
# when full (plans keep their cells).
_BY_KEY: dict = {}
MAX_KEYS = 256


def cell_for(key: tuple) -> Optional[list]:
    """The cell kept for launches under ``key``: a new empty one the first time
    (``remember`` fills it); None under the interpreter or while direct launches are off."""
    if INTERPRET or not ENABLED or knobs is None:
        return None
    cell = _BY_KEY.get(key)
    if cell is None:
        if len(_BY_KEY) >= MAX_KEYS:
            _BY_KEY.clear()
        cell = _BY_KEY[key] = []
    return cell


def _quiet(hook) -> bool:
    """True for no launch hook: None (Triton 3.4's default), or an empty ``HookChain`` (3.5 on)."""
    return not getattr(hook, "calls", hook)


def aligned(pointers: tuple) -> tuple:
    """Per pointer, whether it is 16-byte aligned."""
    return tuple([p & 15 == 0 for p in pointers])


def remember(cell: Optional[list], compiled, jit_kernel, grid, arguments: tuple, constants: dict,
             pointers: tuple) -> None:
    """Keep in ``cell`` (a one-slot list, ``cell_for``'s or a plan's own; None: keep nothing) what
    ``jit_kernel[grid](*arguments, **constants)`` just launched: ``compiled``, its return
    value (a ``CompiledKernel``). ``grid`` as passed (a tuple, or a function of the
    launch's arguments: an autotuned kernel's grid is computed for the constexprs the
    kernel was compiled with, i.e. the config it ran); ``pointers``: the pointer
    arguments' addresses. Nothing is kept under the interpreter, when nothing was launched
    (no compiled kernel, or one compiled but never loaded: a warm-up), or when the kernel's
    constexprs cannot be read or differ from ``constants``."""
    if cell is None or not ENABLED or INTERPRET or knobs is None or getattr(compiled, "function", None) is None:
        return
    names = jit_kernel.arg_names  # a JITFunction's or an Autotuner's (its kernel's)
    values = _compiled_constants(compiled, names)
    if values is None or any(values.get(name, value) != value for name, value in constants.items() if name in names):
        return
    tail = names[len(arguments):]
    if any(name not in values for name in tail):
        return
    if callable(grid):
        grid = grid(values)
    grid = tuple(grid) + (1,) * (3 - len(grid))
    cell[:] = [Compiled(compiled.run, compiled.function, compiled.packed_metadata, grid,
                        driver.active.get_current_device(), aligned(pointers), tuple(values[name] for name in tail))]


def _compiled_constants(compiled, names) -> Optional[dict]:
    """{parameter name: value} of the constexprs ``compiled`` was compiled with (its source's
    ``constants``, keyed by (index,) in Triton 3.4 to 3.9, or by name), None where absent."""
    constants = getattr(getattr(compiled, "src", None), "constants", None)
    if not isinstance(constants, dict):
        return None
    values = {}
    for key, value in constants.items():
        if isinstance(key, str):
            values[key] = value
        elif isinstance(key, tuple) and len(key) == 1 and isinstance(key[0], int) and key[0] < len(names):
            values[names[key[0]]] = value
    return values


def launch(cell: Optional[list], device: int, pointers: tuple, arguments: tuple) -> bool:
    """Launch the kernel ``cell`` keeps (``remember``) on ``arguments`` (``pointers``, the
    pointer arguments, as integers) on the current ``device`` and return True, or return
    False where the JIT might choose another kernel (nothing kept, another current device,
    a pointer aligned otherwise, launch hooks, ``jit_only``): the caller then launches
    through the JIT."""
    if not cell or not ENABLED:
        return False
    c: Compiled = cell[0]
    runtime = knobs.runtime
    if not (_quiet(runtime.launch_enter_hook) and _quiet(runtime.launch_exit_hook)):
        return False
    if device != c.device or aligned(pointers) != c.aligned:
        return False
    x, y, z = c.grid
    c.launcher(x, y, z, driver.active.get_current_stream(device), c.function, c.metadata, None, None, None,
               *arguments, *c.constants)
    return True
