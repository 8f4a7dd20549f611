"""Stages 3 and 5 of the step: mechanism state updates (with the new voltage) and clamps."""

from __future__ import annotations

from functools import partial
from typing import cast

import jax
import jax.numpy as jnp

from sim.core.compiled import CompiledModule
from sim.core.currents import MembraneTerms, as_site_array, edge_states, mechanism_states
from sim.core.mechanism import PresynapticKernel
from sim.core.sites import PresynapticSites
from sim.core.state import Drive, SimState, StepInputs, StepParams

__all__ = ["update_mechanisms", "update_synapses", "clamp_states"]


def update_mechanisms(
    model: CompiledModule,
    state: SimState,
    params: StepParams,
    v_new: jax.Array,
    terms: MembraneTerms,
    dt,
) -> tuple[tuple[jax.Array, ...], jax.Array]:
    """Stage 3: advance every mechanism's states over ``dt`` with the new voltage.

    Kernels read the states at the start of the step (and the currents of stage
    1, keyed by current name); a state declared by several mechanisms is
    written by the last one, as in insertion order. A kernel may also return
    ``"v"`` (point neurons: threshold/reset or explicitly integrated dynamics),
    which replaces the new voltage of its compartments. Returns the new states
    and the (possibly replaced) voltages.
    """
    new = list(state.states)
    v_out = v_new
    for k, mech in enumerate(model.mechanisms):
        states = mechanism_states(mech, state, terms.by_name, model.current_names)
        v = mech.index.gather(v_new)
        # Rematerialised under reverse mode: the backward pass recomputes the
        # kernel from its inputs instead of storing its intermediates (less memory
        # traffic, and XLA then emits one vectorised adjoint instead of copies).
        try:
            update = jax.checkpoint(mech.kernel.update_states)
            out = update(states, dt, v, params.mechanisms[k]) or {}
        except NotImplementedError:
            if mech.owned:
                raise
            out = {}  # a stateless foreign channel without update_states
        owned = {view.key: view for view in mech.owned}
        for key, value in out.items():
            if key == "v":
                value = as_site_array(value, v, f"{mech.name}.update_states['v']")
                v_out = value if mech.index.is_full else v_out.at[mech.index.positions].set(value)
                continue
            view = owned.get(key)
            if view is None:
                raise ValueError(
                    f"{mech.name}.update_states returned {key!r}, which is not one of its "
                    f"states {sorted(owned)}; declare it in channel_states."
                )
            value = as_site_array(value, v, f"{mech.name}.update_states[{key!r}]")
            slot = new[view.slot]
            new[view.slot] = (
                value if view.index.is_full else slot.at[view.index.positions].set(value)
            )
    return tuple(new), v_out


def update_synapses(
    model: CompiledModule, state: SimState, params: StepParams, v_new: jax.Array, dt
) -> tuple[jax.Array, ...]:
    """Stage 3 for edges: advance every synapse's states with the new voltages."""
    new = list(state.edge_states)
    for k, mech in enumerate(model.edge_mechanisms):
        if not mech.state_keys:
            continue
        site_params = params.edge_sites[k] if params.edge_sites else None
        v_post = mech.post.gather(v_new)
        if site_params is not None and mech.sites is not None:
            kernel = cast(PresynapticKernel, mech.kernel)
            update = jax.checkpoint(partial(_shared_update, kernel, mech.sites))
            out = update(edge_states(mech, state), dt, v_new, v_post, params.edges[k], site_params)
        else:
            update = jax.checkpoint(mech.kernel.update_states)
            out = update(
                edge_states(mech, state), dt, mech.pre.gather(v_new), v_post, params.edges[k]
            )
        out = out or {}
        slots = dict(zip(mech.state_keys, mech.state_slots))
        for key, value in out.items():
            if key not in slots:
                raise ValueError(
                    f"{mech.name}.update_states returned {key!r}, which is not one of its "
                    f"states {sorted(slots)}; declare it in synapse_states."
                )
            new[slots[key]] = as_site_array(value, v_post, f"{mech.name}.update_states")
    return tuple(new)


def _shared_update(
    kernel: PresynapticKernel,
    sites: PresynapticSites,
    states,
    dt,
    v,
    v_post,
    params,
    site_params,
):
    """``update_states`` with the presynaptic terms evaluated once per presynaptic site."""
    terms = kernel.presynaptic_terms(dt, sites.sites.gather(v), site_params)
    return kernel.update_from_presynaptic(states, sites.to_edges(tuple(terms)), dt, v_post, params)


def clamp_states(states: tuple[jax.Array, ...], drive: Drive, inputs: StepInputs):
    """Stage 5: overwrite clamped mechanism states with their prescribed values."""
    if not drive.state_clamp_slots:
        return states
    new = list(states)
    for slot, pos, val in zip(drive.state_clamp_slots, drive.state_clamp_pos, inputs.state_clamp):
        new[slot] = new[slot].at[pos].set(jnp.asarray(val, new[slot].dtype))
    return tuple(new)
