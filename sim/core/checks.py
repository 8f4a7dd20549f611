"""Run-time checks of a simulation: blow-ups, NaN/inf, out-of-range traced parameters.

:func:`find_problems` runs inside the jitted time loop and condenses what went
wrong into a few arrays (:class:`Problems`); :func:`describe_problems` turns them
into messages naming the recording or compartment, the step and the value.
:func:`report_from_device` emits them through ``jax.debug.callback``, which works
under ``jit``, ``vmap`` and ``grad`` alike.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax import custom_batching, lax

from sim.config import SimulationError, SimulationWarning
from sim.core.compiled import CompiledModule

__all__ = [
    "Problems",
    "find_problems",
    "describe_problems",
    "has_problem",
    "report",
    "report_from_device",
]

#: Compartment properties that must be strictly positive.
POSITIVE_GEOMETRY = ("radius", "length", "axial_resistivity", "capacitance")


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Problems:
    """First problem of each kind (``any_*`` False when there is none)."""

    any_rec: jax.Array
    rec_row: jax.Array
    rec_step: jax.Array
    rec_value: jax.Array
    any_final: jax.Array
    final_comp: jax.Array
    final_value: jax.Array
    any_param: jax.Array  # (n_checked,)
    param_comp: jax.Array
    param_value: jax.Array


def checked_keys(model: CompiledModule) -> list[tuple[str, float, float, bool]]:
    """``(key, low, high, strict_low)`` of every bounded parameter/state of the model."""
    out = [(k, 0.0, math.inf, True) for k in POSITIVE_GEOMETRY]
    for mech in [*model.mechanisms, *model.edge_mechanisms]:
        kernel = mech.kernel
        for table in (getattr(kernel, "param_bounds", None), getattr(kernel, "state_bounds", None)):
            for key, (low, high) in (table or {}).items():
                out.append((key, float(low), float(high), False))
    return out


def find_problems(
    model: CompiledModule,
    recs: jax.Array,
    final_v: jax.Array,
    tables: dict[str, jax.Array],
    bound: float,
) -> Problems:
    """Condense the checks of one simulation.

    ``recs`` are the recordings time-major, ``(T + 1, n_rec)``, as
    :func:`sim.core.simulate.simulate` returns them: reading them before the
    transpose to ``integrate``'s ``(n_rec, T + 1)`` lets XLA skip that copy when
    a caller uses only part of the output.
    """
    is_v = np.asarray([s == "v" for s in model.rec_states], dtype=bool)
    bad = ~jnp.isfinite(recs) | (is_v[None, :] & (jnp.abs(recs) > bound))
    if recs.size:
        # The first bad step as a min-reduction of step indices: one fused pass
        # over the recordings (an argmax is a two-operand reduce that XLA's CPU
        # backend does not vectorise).
        num_steps = recs.shape[0]
        steps = jnp.arange(num_steps, dtype=jnp.int32)
        first = jnp.min(jnp.where(bad, steps[:, None], num_steps))
        any_rec = first < num_steps
        step = jnp.minimum(first, num_steps - 1)
        row = jnp.argmax(bad[step])
        value = recs[step, row]
    else:
        any_rec, step, row = jnp.zeros((), bool), jnp.int32(0), jnp.int32(0)
        value = jnp.zeros((), final_v.dtype)
    bad_v = ~jnp.isfinite(final_v) | (jnp.abs(final_v) > bound)
    comp_int = jnp.argmax(bad_v)
    final_comp = jnp.asarray(model.order[: model.ncomp])[comp_int]
    any_p, p_comp, p_val = [], [], []
    for key, low, high, strict in checked_keys(model):
        x = jnp.asarray(tables[key])
        out = (x <= low if strict else x < low) | (x > high)
        out = out & ~jnp.isnan(x)  # NaN marks compartments without the mechanism
        k = jnp.argmax(out)
        any_p.append(out.any())
        p_comp.append(k)
        p_val.append(x[k])
    return Problems(
        any_rec=any_rec,
        rec_row=row,
        rec_step=step,
        rec_value=value,
        any_final=bad_v.any(),
        final_comp=final_comp,
        final_value=final_v[comp_int],
        any_param=jnp.stack(any_p),
        param_comp=jnp.stack(p_comp),
        param_value=jnp.stack(p_val),
    )


def _what(value: float, bound: float) -> str:
    if np.isnan(value):
        return "NaN"
    if np.isinf(value):
        return "inf"
    return f"{value:.4g} mV (beyond ±{bound:g} mV)"


def describe_problems(model: CompiledModule, problems, bound: float) -> list[str]:
    """Messages for the problems of one simulation (concrete values)."""
    p = jax.tree_util.tree_map(np.asarray, problems)
    out = []
    for (key, low, high, strict), bad, comp, value in zip(
        checked_keys(model), p.any_param, p.param_comp, p.param_value
    ):
        if bad:
            rng = f"> {low:g}" if strict and math.isinf(high) else f"in [{low:g}, {high:g}]"
            out.append(
                f"parameter {key!r} is {float(value):.4g} in compartment {int(comp)} but must "
                f"be {rng} (a non-physical value, e.g. from data_set inside jit)."
            )
    if p.any_rec:
        row, step = int(p.rec_row), int(p.rec_step)
        out.append(
            f"The simulation blew up ({_what(float(p.rec_value), bound)}): recording {row} "
            f"({model.rec_states[row]!r} in compartment {int(model.rec_inds[row])}) first at "
            f"step {step}. Usually delta_t is too large for the solver (try "
            "solver='bwd_euler' or a smaller delta_t) or a parameter is out of range."
        )
    elif p.any_final:
        out.append(
            f"The simulation blew up: the final voltage of compartment {int(p.final_comp)} is "
            f"{_what(float(p.final_value), bound)} (it is not recorded, so the first step is "
            "unknown). Try a smaller delta_t or check the parameters."
        )
    return out


def report(model: CompiledModule, problems, bound: float, mode: str, stacklevel: int = 3):
    """Warn about (or raise for) the problems of possibly batched simulations."""
    p = jax.tree_util.tree_map(np.asarray, problems)
    batch = p.any_rec.shape
    for idx in np.ndindex(*batch) if batch else [()]:
        one = jax.tree_util.tree_map(lambda x, idx=idx: x[idx], p)
        messages = describe_problems(model, one, bound)
        if not messages:
            continue
        where = f" (batch element {idx})" if batch else ""
        text = " ".join(messages) + where
        if mode == "raise":
            raise SimulationError(text)
        warnings.warn(text, SimulationWarning, stacklevel=stacklevel)
        return  # one warning per call is enough


def has_problem(problems: Problems) -> jax.Array:
    """One scalar flag: does any (possibly batched) simulation have a problem?"""
    return jnp.any(problems.any_rec) | jnp.any(problems.any_final) | jnp.any(problems.any_param)


def report_from_device(model: CompiledModule, problems: Problems, bound: float) -> None:
    """Warn from inside traced code (``jax.debug.callback``), once per call.

    Under ``vmap``, ``jax.debug.callback`` alone is unrolled over the batch (one
    callback per element in the compiled program: a vmap over 256 parameter values
    compiled for a minute and ran 7x slower). A custom batching rule passes the
    whole batch to a single callback instead (:func:`report` handles batches), also
    under nested ``vmap``; a custom JVP makes it transparent to ``grad``/``jvp``.
    """

    def callback(p):
        report(model, p, bound, "warn", stacklevel=2)

    def call(p):
        jax.debug.callback(callback, p)
        return jnp.zeros((), jnp.float32)

    @custom_batching.custom_vmap
    def emit(p):
        # The host round trip (~0.5 ms: longer than a whole 50 ms simulation of a
        # compartment) is taken only when something is wrong; every element of a
        # batch is inspected by one flag.
        return lax.cond(has_problem(p), call, lambda _: jnp.zeros((), jnp.float32), p)

    @emit.def_vmap
    def _emit_batched(axis_size, in_batched, p):
        (batched,) = in_batched
        p = jax.tree_util.tree_map(
            lambda x, b: x if b else jnp.broadcast_to(x, (axis_size, *jnp.shape(x))), p, batched
        )
        return jnp.broadcast_to(emit(p), (axis_size,)), True

    @jax.custom_jvp
    def emit_differentiable(p):
        return emit(p)

    @emit_differentiable.defjvp
    def _emit_jvp(primals, tangents):
        out = emit(*primals)
        return out, jnp.zeros_like(out)

    emit_differentiable(jax.lax.stop_gradient(problems))
