"""The time loop: a scan of the step, with recordings and gradient checkpointing.

Each iteration evaluates the stage-1 currents of the current state once; they
drive the step *and* are what is recorded for that state, so recorded currents
cost nothing extra. The recordings of the final state are taken after the loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from sim.core.compiled import CompiledModule
from sim.core.currents import MembraneTerms
from sim.core.state import Drive, SimState, StepInputs, StepParams
from sim.core.step import Step

__all__ = ["simulate", "recorder", "checkpointed_scan", "default_checkpoint_lengths"]


def recorder(model: CompiledModule) -> Callable[[SimState, MembraneTerms], jax.Array]:
    """The function gathering the recorded values of a state, shape ``(n_recordings,)``."""
    spec = model.recordings
    identity = bool(np.all(spec.order == np.arange(spec.order.size)))

    def record(state: SimState, terms: MembraneTerms) -> jax.Array:
        parts = []
        for (kind, slot), positions in zip(spec.sources, spec.positions):
            if kind == "v":
                source = state.v
            elif kind == "state":
                source = state.states[slot]
            else:
                source = terms.by_name[slot]
            parts.append(source[positions])
        if not parts:
            return jnp.zeros((0,), state.v.dtype)
        out = jnp.concatenate(parts)
        return out if identity else out[spec.order]

    return record


def default_checkpoint_lengths(num_steps: int) -> tuple[int, ...]:
    """Two levels of ``~sqrt(num_steps)`` for long simulations, none for short ones.

    Under reverse-mode differentiation this stores ``O(sqrt(T))`` states instead of
    the residuals of all ``T`` steps, at the price of one extra forward pass; a
    plain forward simulation is unaffected.
    """
    if num_steps <= 1000:
        return (num_steps,)
    inner = int(math.ceil(math.sqrt(num_steps)))
    return (int(math.ceil(num_steps / inner)), inner)


def checkpointed_scan(f, init, xs, *, length: int, lengths: Sequence[int] | None = None):
    """``lax.scan(f, init, xs)`` over exactly ``length`` steps, checkpointed by ``lengths``.

    ``lengths = (a, b, ...)`` nests scans: the outer one stores only the carries at
    chunk boundaries (chunks of ``b * ...`` steps, recomputed on the backward pass).
    The product may exceed ``length``: the outer level then runs fewer chunks and
    a remainder scan covers the rest, so no padding steps are ever simulated.
    """
    levels = [int(n) for n in (lengths or (length,))]
    if any(n < 1 for n in levels):
        raise ValueError(f"checkpoint lengths must be positive integers, got {levels}.")
    if len(levels) == 1 or length == 0:
        return lax.scan(f, init, xs, length=length)
    inner = math.prod(levels[1:])
    chunks, rest = divmod(length, inner)

    @jax.checkpoint
    def chunk(carry, x_chunk):
        return checkpointed_scan(f, carry, x_chunk, length=inner, lengths=levels[1:])

    head = jax.tree_util.tree_map(lambda x: x[: chunks * inner], xs)
    head = jax.tree_util.tree_map(lambda x: x.reshape(chunks, inner, *x.shape[1:]), head)
    carry, ys = lax.scan(chunk, init, head, length=chunks)
    ys = jax.tree_util.tree_map(lambda y: y.reshape(chunks * inner, *y.shape[2:]), ys)
    if rest:
        tail = jax.tree_util.tree_map(lambda x: x[chunks * inner :], xs)
        carry, ys_tail = checkpointed_scan(f, carry, tail, length=rest, lengths=levels[1:])
        ys = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), ys, ys_tail)
    return carry, ys


def simulate(
    step: Step,
    state: SimState,
    params: StepParams,
    drive: Drive,
    inputs: StepInputs,
    dt,
    *,
    num_steps: int,
    checkpoint_lengths: Sequence[int] | None = None,
) -> tuple[SimState, MembraneTerms, jax.Array]:
    """Run ``num_steps`` steps; inputs are time-major (``(num_steps, n)`` leaves).

    Returns the final state, its stage-1 terms and the recordings, shape
    ``(num_steps + 1, n_recordings)`` (the initial state first).
    """
    record = recorder(step.model)

    def body(carry: SimState, x: StepInputs):
        terms = step.currents(carry, params)
        return step.advance(carry, params, terms, drive, x, dt), record(carry, terms)

    final, recs = checkpointed_scan(
        body, state, inputs, length=num_steps, lengths=checkpoint_lengths
    )
    terms = step.currents(final, params)
    recs = jnp.concatenate([recs, record(final, terms)[None]])
    return final, terms, recs
