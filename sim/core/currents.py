"""Stage 1 of the step: membrane currents and their voltage derivative, once per step.

Every mechanism's current is evaluated with the states and voltage at the
start of the step, and linearised in ``v`` by one forward-mode derivative
(``jax.jvp``), which is exact for currents of any form. The same values serve
the voltage solve, the mechanism updates (which may read other mechanisms'
currents, e.g. a pump reading ``i_Ca``) and the recordings, so no current is
computed twice per step.

Each mechanism only sees the compartments it is inserted in, so NaN padding of
absent compartments never enters the arithmetic, nor its gradients.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from sim.core.compiled import CompiledModule
from sim.core.mechanism import CompartmentMechanism, EdgeMechanism
from sim.core.state import SimState, StepParams

__all__ = [
    "MembraneTerms",
    "membrane_currents",
    "mechanism_states",
    "edge_states",
    "synaptic_currents",
    "as_site_array",
]


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class MembraneTerms:
    """Membrane currents of all compartments at the start of a step.

    Attributes:
        i: Total membrane current density (mA/cm², outward positive), ``(ncomp,)``.
        g: Its derivative with respect to the voltage (S/cm²), ``(ncomp,)``.
        by_name: Per current name (``CompiledModule.current_names``), the summed
            current of the mechanisms carrying it, 0 where none does.
        i_point: Total synaptic (point-process) current into each compartment's
            membrane (nA, outward positive), or ``None`` without synapses.
        g_point: Its derivative with respect to the postsynaptic voltage (µS).
        edge_currents: Per synapse type, the current of every edge (nA).
        ion_current: Per ion (``CompiledModule.ions``), the summed pump "current"
            ``-dC/dt`` (mM/ms) over the ion's compartments.
        ion_lin: Its derivative with respect to the concentration (1/ms).
    """

    i: jax.Array
    g: jax.Array
    by_name: tuple[jax.Array, ...]
    i_point: jax.Array | None = None
    g_point: jax.Array | None = None
    edge_currents: tuple[jax.Array, ...] = ()
    ion_current: tuple[jax.Array, ...] = ()
    ion_lin: tuple[jax.Array, ...] = ()


def as_site_array(value, like: jax.Array, what: str) -> jax.Array:
    """``value`` (array or Python number) as an array shaped and typed like ``like``."""
    arr = jnp.asarray(value)
    if not jnp.issubdtype(arr.dtype, jnp.inexact):
        arr = arr.astype(like.dtype)
    try:
        return jnp.broadcast_to(arr, like.shape).astype(like.dtype)
    except ValueError as err:
        raise ValueError(
            f"{what} returned shape {arr.shape}, which does not broadcast to the "
            f"{like.shape[0]} sites it was called for."
        ) from err


def mechanism_states(
    mech: CompartmentMechanism,
    state: SimState,
    currents: tuple[jax.Array, ...] | None = None,
    current_names: tuple[str, ...] = (),
) -> dict[str, jax.Array]:
    """The states a mechanism sees, at its compartments (kernel-facing dict)."""
    out = {view.key: view.index.gather(state.states[view.slot]) for view in mech.owned}
    for view in mech.visible:
        out[view.key] = view.index.gather(state.states[view.slot])
    if currents is not None:
        for name, values in zip(current_names, currents):
            out[name] = mech.index.gather(values)
    return out


def membrane_currents(model: CompiledModule, state: SimState, params: StepParams) -> MembraneTerms:
    """Stage 1: currents of every mechanism at the current states and voltage."""
    n = model.ncomp
    zeros = jnp.zeros(n, state.v.dtype)
    i_total, g_total = zeros, zeros
    by_name = [zeros] * len(model.current_names)
    ion_i = [jnp.zeros_like(state.states[ion.slot]) for ion in model.ions]
    ion_g = list(ion_i)
    pumps = [k for k, mech in enumerate(model.mechanisms) if mech.ion is not None]
    for k, mech in enumerate(model.mechanisms):
        if mech.ion is not None:
            continue  # after the channels, whose currents (e.g. i_Ca) pumps read
        states = mechanism_states(mech, state)
        v = mech.index.gather(state.v)
        kernel, pr = mech.kernel, params.mechanisms[k]

        def current(vv, states=states, kernel=kernel, pr=pr):
            out = kernel.compute_current(states, vv, pr)
            return as_site_array(out, vv, f"{kernel.name}.compute_current")

        @jax.checkpoint  # rematerialised under reverse mode, see update_mechanisms
        def linearised(vv, current=current):
            return jax.jvp(current, (vv,), (jnp.ones_like(vv),))

        i, g = linearised(v)
        i_total = mech.index.add_into(i_total, i)
        g_total = mech.index.add_into(g_total, g)
        c = mech.current_slot
        by_name[c] = mech.index.add_into(by_name[c], i)
    channel_currents = tuple(by_name)
    for k in pumps:
        mech = model.mechanisms[k]
        i, g, (view, j) = _pump_current(mech, state, params.mechanisms[k], channel_currents, model)
        ion_i[j] = view.index.add_into(ion_i[j], i)
        ion_g[j] = view.index.add_into(ion_g[j], g)
        c = mech.current_slot
        by_name[c] = mech.index.add_into(by_name[c], i)
    if not model.edge_mechanisms:
        return MembraneTerms(
            i=i_total,
            g=g_total,
            by_name=tuple(by_name),
            ion_current=tuple(ion_i),
            ion_lin=tuple(ion_g),
        )
    i_point, g_point, edge_currents = synaptic_currents(model, state, params)
    return MembraneTerms(
        i=i_total,
        g=g_total,
        by_name=tuple(by_name),
        i_point=i_point,
        g_point=g_point,
        edge_currents=edge_currents,
        ion_current=tuple(ion_i),
        ion_lin=tuple(ion_g),
    )


def _pump_current(
    mech: CompartmentMechanism,
    state: SimState,
    params: dict,
    currents: tuple[jax.Array, ...],
    model: CompiledModule,
):
    """A pump's ``-dC/dt`` at its compartments, its derivative in the concentration,
    and the ion it changes (view and position in ``model.ions``).

    The pump sees the channels' currents of this evaluation by name (``i_Ca`` of
    ``CaL``/``CaT``), as NEURON's ``cad`` reads ``ica`` from the same current pass.
    """
    if mech.ion is None:
        raise TypeError(f"{mech.kernel.name} is not a pump (it changes no ion).")
    view, _ = mech.ion
    states = mechanism_states(mech, state, currents, model.current_names)
    conc = view.index.gather(state.states[view.slot])
    kernel = mech.kernel

    @jax.checkpoint
    def linearised(c):
        def current(cc):
            out = kernel.compute_current(states, cc, params)
            return as_site_array(out, cc, f"{kernel.name}.compute_current")

        return jax.jvp(current, (c,), (jnp.ones_like(c),))

    i, g = linearised(conc)
    return i, g, mech.ion


def edge_states(mech: EdgeMechanism, state: SimState) -> dict[str, jax.Array]:
    """The states of one synapse type, over its edges (kernel-facing dict)."""
    return {key: state.edge_states[k] for key, k in zip(mech.state_keys, mech.state_slots)}


def synaptic_currents(
    model: CompiledModule, state: SimState, params: StepParams
) -> tuple[jax.Array, jax.Array, tuple[jax.Array, ...]]:
    """Synaptic currents per edge and their sums (and derivatives) per compartment.

    The (current, conductance) pairs of every edge of every synapse type are added
    into the compartments with one scatter (one kernel launch per step, however
    many synapse types there are).
    """
    per_edge, pairs, positions = [], [], []
    for k, mech in enumerate(model.edge_mechanisms):
        states, pr, kernel = edge_states(mech, state), params.edges[k], mech.kernel
        v_pre = mech.pre.gather(state.v)

        @jax.checkpoint
        def linearised(v_post, states=states, pr=pr, kernel=kernel, v_pre=v_pre):
            def current(vv):
                out = kernel.compute_current(states, v_pre, vv, pr)
                return as_site_array(out, vv, f"{kernel.name}.compute_current")

            return jax.jvp(current, (v_post,), (jnp.ones_like(v_post),))

        i, g = linearised(mech.post.gather(state.v))
        per_edge.append(i)
        pairs.append(jnp.stack([i, g], axis=1))
        positions.append(mech.post.positions)
    summed = (
        jnp.zeros((model.ncomp, 2), state.v.dtype)
        .at[np.concatenate(positions)]
        .add(jnp.concatenate(pairs))
    )
    return summed[:, 0], summed[:, 1], tuple(per_edge)
