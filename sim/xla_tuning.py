"""XLA-CPU's small-loop path for the simulation's time loop, set at ``import sim``.

XLA's CPU runtime runs a compiled ``while`` loop kernel by kernel (one "thunk"
dispatch per fused kernel per iteration) unless the loop is *small*: then the
whole loop is compiled into one function. "Small" is a budget on the bytes one
iteration touches, 1 KiB by default. A one-compartment simulation's forward loop
fits under it, but its ``jacfwd`` (three tangents: 38 kernels per step) and
reverse-mode loops do not, and on such tiny arrays the dispatch of each kernel
costs more than its arithmetic: ``jacfwd`` took 5.9x and ``grad`` 4.7x the
forward's time. With a 64 KiB budget they take 1.6x and 2.0x (the speed
benchmark, 2026-12-08); its larger models (a 64-cell network and up) ran as fast
with it as without.

The budget is an XLA option read once, when JAX starts its CPU backend, and
applies to the whole process. So :func:`apply` adds it to ``XLA_FLAGS`` only when

* ``SIM_XLA_SMALL_LOOP_BYTES`` is not ``0`` (it may also give another budget),
* ``XLA_FLAGS`` sets no ``xla_backend_extra_options`` of its own (yours win), and
* JAX has not started a backend yet (after that the option could not take effect).

:data:`status` says which of these happened. Set the flag yourself, before JAX
starts, to choose the budget in a process that imports ``sim`` late:
``XLA_FLAGS=--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=65536``.
"""

from __future__ import annotations

import os

__all__ = ["DEFAULT_BYTES", "ENV", "OPTION", "apply", "status"]

#: Per-iteration byte budget under which XLA-CPU compiles a loop as one function.
DEFAULT_BYTES = 65536
#: Environment variable choosing the budget (``0`` leaves XLA's default).
ENV = "SIM_XLA_SMALL_LOOP_BYTES"
#: The XLA backend option that holds the budget.
OPTION = "xla_cpu_small_while_loop_byte_threshold"

#: What :func:`apply` did: ``"applied"``, ``"disabled"``, ``"user flags"`` or
#: ``"backend already started"`` (``None`` before it ran).
status: str | None = None


def _budget() -> int:
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return DEFAULT_BYTES
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(
            f"{ENV}={raw!r} is not an integer; give a byte budget such as {DEFAULT_BYTES}, "
            "or 0 to leave XLA's default."
        ) from None
    if value < 0:
        raise ValueError(f"{ENV}={value} is negative; give a byte budget >= 0 (0 disables).")
    return value


def apply() -> str:
    """Add the small-loop budget to ``XLA_FLAGS`` where it can take effect; see the module."""
    global status
    budget = _budget()
    flags = os.environ.get("XLA_FLAGS", "")
    if budget == 0:
        status = "disabled"
    elif "xla_backend_extra_options" in flags:
        status = "user flags"
    elif _backend_started():
        status = "backend already started"
    else:
        extra = f"--xla_backend_extra_options={OPTION}={budget}"
        os.environ["XLA_FLAGS"] = f"{flags} {extra}".strip()
        status = "applied"
    return status


def _backend_started() -> bool:
    try:
        from jax._src import xla_bridge
    except ImportError:  # pragma: no cover - a JAX without the private module
        return True  # cannot tell: do not touch the flags
    started = getattr(xla_bridge, "backends_are_initialized", None)
    return True if started is None else bool(started())


apply()  # at import: sim/__init__.py imports this module first
