"""Membrane mechanisms inside the step: currents, their voltage derivative, gate updates.

Each mechanism only ever sees the compartments it is inserted in (gathered by
static index arrays), so NaN padding of absent compartments never enters the
arithmetic, nor its gradients.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from sim.core.compiled import CompiledModule, MechanismSlot

GEOMETRY_FOR_MECHANISMS = ("radius", "length", "area", "capacitance", "axial_resistivity")


def _gather(table: dict, comps) -> dict:
    if comps is None:
        return dict(table)
    return {k: v[comps] for k, v in table.items()}


def mechanism_inputs(slot: MechanismSlot, states: dict, params: dict, ncomp: int):
    """States (without branch points) and params restricted to the slot's compartments."""
    comp_states = {k: v[:ncomp] if k == "v" else v for k, v in states.items()}
    keys = set(slot.mechanism.channel_params) | set(GEOMETRY_FOR_MECHANISMS)
    comp_params = {k: params[k] for k in keys if k in params}
    return _gather(comp_states, slot.comps), _gather(comp_params, slot.comps)


def _scatter_add(total, comps, values):
    if comps is None:
        return total + values
    return total.at[comps].add(values)


def membrane_currents(compiled: CompiledModule, states: dict, params: dict):
    """Total membrane current density (mA/cm²) and its derivative w.r.t. v (S/cm²)."""
    ncomp = compiled.ncomp
    dtype = states["v"].dtype
    i_total = jnp.zeros(ncomp, dtype)
    g_total = jnp.zeros(ncomp, dtype)
    for slot in compiled.mechanisms:
        st, pr = mechanism_inputs(slot, states, params, ncomp)
        v = st["v"]

        def current(vv, st=st, pr=pr, mech=slot.mechanism):
            return jnp.broadcast_to(mech.compute_current(st, vv, pr), vv.shape)

        i, g = jax.jvp(current, (v,), (jnp.ones_like(v),))
        i_total = _scatter_add(i_total, slot.comps, i)
        g_total = _scatter_add(g_total, slot.comps, g)
    return i_total, g_total


def update_mechanism_states(
    compiled: CompiledModule, states: dict, params: dict, v_new, delta_t
) -> dict:
    """Advance every mechanism's states by one step, using the new voltage."""
    ncomp = compiled.ncomp
    out = dict(states)
    for slot in compiled.mechanisms:
        st, pr = mechanism_inputs(slot, states, params, ncomp)
        v = v_new if slot.comps is None else v_new[slot.comps]
        new = slot.mechanism.update_states(st, delta_t, v, pr) or {}
        for key, val in new.items():
            val = jnp.broadcast_to(val, v.shape).astype(out[key].dtype)
            out[key] = val if slot.comps is None else out[key].at[slot.comps].set(val)
    return out


def observable_currents(compiled: CompiledModule, states: dict, params: dict) -> dict:
    """Membrane current of every current name (mA/cm²), NaN where no mechanism carries it."""
    ncomp = compiled.ncomp
    dtype = states["v"].dtype
    totals = {n: jnp.zeros(ncomp, dtype) for n in compiled.current_names}
    for slot in compiled.mechanisms:
        st, pr = mechanism_inputs(slot, states, params, ncomp)
        i = jnp.broadcast_to(slot.mechanism.compute_current(st, st["v"], pr), st["v"].shape)
        name = slot.mechanism.current_name
        totals[name] = _scatter_add(totals[name], slot.comps, i)
    out = {}
    for name, total in totals.items():
        present = jnp.zeros(ncomp, bool).at[compiled.current_comps[name]].set(True)
        out[name] = jnp.where(present, total, jnp.nan)
    return out
