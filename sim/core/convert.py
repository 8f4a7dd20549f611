"""Conversions between the seed API's dictionaries and the step's typed pytrees.

The seed API exchanges ``all_states`` and ``all_params``: dicts of arrays over
all compartments in global order (NaN where a mechanism is absent), with
branch-point voltages appended to ``v`` and currents as extra "states". The
step works on :class:`~sim.core.state.SimState` / :class:`StepParams` in the
model's internal order. These functions translate, outside the time loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from sim.core.cable import CableOps
from sim.core.compiled import CompiledModule
from sim.core.currents import MembraneTerms
from sim.core.params import UM2_MA_PER_CM2_TO_NA, diffusive_conductances
from sim.core.state import CableParams, Drive, IonCable, SimState, StepInputs, StepParams

__all__ = [
    "step_params",
    "sim_state",
    "user_states",
    "drive_and_inputs",
    "MECHANISM_GEOMETRY",
]

#: Compartment properties every mechanism receives in ``params`` (besides its own).
MECHANISM_GEOMETRY = ("radius", "length", "area", "capacitance", "axial_resistivity")


def _internal_comps(model: CompiledModule) -> np.ndarray:
    """Global compartment index at every internal compartment position."""
    return model.order[: model.ncomp]


def step_params(
    model: CompiledModule,
    all_params: Mapping[str, jax.Array],
    transition=None,
    *,
    shared_sites: Sequence[bool] | None = None,
) -> StepParams:
    """Gather ``all_params`` (global order) into the step's parameters.

    ``shared_sites`` says, per synapse type, whether its presynaptic terms may be
    evaluated once per presynaptic compartment (see :mod:`sim.core.sites`; the
    caller vouches that the site values hold for ``all_params``). None: nowhere.
    """
    oc = _internal_comps(model)
    g_axial = jnp.asarray(all_params["axial_conductances"]).reshape(-1)[model.order]
    cable = CableParams(
        cap=jnp.asarray(all_params["cap"])[oc],
        area=jnp.asarray(all_params["area"])[oc] * UM2_MA_PER_CM2_TO_NA,
        g_axial=g_axial,
        g_sum=CableOps(model.internal).neighbour_sum(g_axial),
    )
    mechanisms = []
    for mech in model.mechanisms:
        keys = dict.fromkeys(mech.param_keys + MECHANISM_GEOMETRY)
        mechanisms.append({k: jnp.asarray(all_params[k])[mech.comps] for k in keys})
    edges = tuple(
        {k: jnp.asarray(all_params[k]) for k in mech.param_keys} for mech in model.edge_mechanisms
    )
    share = shared_sites if shared_sites is not None else (False,) * len(edges)
    if len(share) != len(edges):
        raise ValueError(f"shared_sites needs {len(edges)} entries, got {len(share)}.")
    edge_sites = tuple(
        mech.sites.site_params(p) if (on and mech.sites is not None) else None
        for mech, p, on in zip(model.edge_mechanisms, edges, share)
    )
    ions = tuple(
        _ion_cable(model, all_params, ion.key) if ion.diffused else None for ion in model.ions
    )
    return StepParams(
        cable=cable,
        mechanisms=tuple(mechanisms),
        edges=edges,
        edge_sites=edge_sites,
        ions=ions,
        transition=transition,
    )


def _ion_cable(model: CompiledModule, all_params: Mapping[str, jax.Array], key: str) -> IonCable:
    """Volumes and diffusive conductances of one diffused ion (internal order)."""
    oc = _internal_comps(model)
    p = {k: jnp.asarray(v) for k, v in all_params.items() if jnp.ndim(v) == 1}
    volume = jnp.pi * p["radius"] ** 2 * p["length"]
    g = diffusive_conductances(model.graph, p, key)[model.order]
    return IonCable(volume=volume[oc], g_axial=g, g_sum=CableOps(model.internal).neighbour_sum(g))


def sim_state(model: CompiledModule, all_states: Mapping[str, jax.Array]) -> SimState:
    """Dynamic states (global-order dicts, with or without observables) to a SimState."""
    v = jnp.asarray(all_states["v"])[_internal_comps(model)]
    states = tuple(jnp.asarray(all_states[slot.key])[slot.comps] for slot in model.state_slots)
    edge_states = tuple(jnp.asarray(all_states[key]) for key in model.edge_state_keys)
    return SimState(v=v, states=states, edge_states=edge_states)


def user_states(
    model: CompiledModule, state: SimState, terms: MembraneTerms, g_axial: jax.Array
) -> dict[str, jax.Array]:
    """A SimState (and its stage-1 currents) as the seed API's ``all_states`` dict."""
    n = model.ncomp
    pc = model.position[:n]
    v_bp = CableOps(model.internal).branchpoint_values(state.v, g_axial)
    out = {"v": jnp.concatenate([state.v[pc], v_bp])}
    for slot, values in zip(model.state_slots, state.states):
        out[slot.key] = jnp.full(n, jnp.nan, values.dtype).at[slot.comps].set(values)
    for name, index, values in zip(model.current_names, model.current_index, terms.by_name):
        present = np.zeros(n, dtype=bool)
        present[index.positions] = True
        out[name] = jnp.where(present, values, jnp.nan)[pc]
    for key, values in zip(model.edge_state_keys, state.edge_states):
        out[key] = values
    for mech, current in zip(model.edge_mechanisms, terms.edge_currents):
        out[mech.current_name] = current
    return out


def _packed_lookup(model: CompiledModule, key: str) -> np.ndarray:
    """Global compartment index -> position within the packed array of ``key`` (-1: absent)."""
    slot = model.state_slots[model.slot_of(key)]
    table = np.full(model.ncomp, -1, dtype=np.int64)
    table[slot.comps] = np.arange(len(slot.comps))
    return table


def drive_and_inputs(
    model: CompiledModule,
    inputs: Mapping[str, jax.Array],
    inds: Mapping[str, jax.Array],
    *,
    num_steps: int | None = None,
) -> tuple[Drive, StepInputs]:
    """Time-major external inputs (``(T, n)`` per key) to a Drive and stacked StepInputs.

    ``"i"`` holds injected currents (nA), ``"v"`` voltage clamps, any other key a
    clamp of that mechanism state; ``inds`` gives the global compartment index of
    every column.
    """
    position = jnp.asarray(model.position[: model.ncomp])
    if num_steps is not None:
        steps = num_steps
    else:
        steps = next(iter(inputs.values())).shape[0] if inputs else 0

    def column(key: str):
        if key in inputs:
            return jnp.asarray(inputs[key]), jnp.asarray(inds[key], dtype=jnp.int32)
        return jnp.zeros((steps, 0)), jnp.zeros((0,), jnp.int32)

    stim, stim_inds = column("i")
    v_clamp, v_inds = column("v")
    slots, positions, values = [], [], []
    for key in inputs:
        if key in ("i", "v"):
            continue
        vals, key_inds = column(key)
        slots.append(model.slot_of(key))
        positions.append(jnp.asarray(_packed_lookup(model, key))[key_inds])
        values.append(vals)
    drive = Drive(
        stim_pos=position[stim_inds],
        v_clamp_pos=position[v_inds],
        state_clamp_pos=tuple(positions),
        state_clamp_slots=tuple(slots),
    )
    return drive, StepInputs(stim=stim, v_clamp=v_clamp, state_clamp=tuple(values))
