"""The pure simulation step and state initialisation.

``Stepper(compiled, solver=..., voltage_solver=...)`` is built once per model;
calling it is a pure function ``(states, params, externals, external_inds, dt) ->
states``. The order of operations follows NEURON's fixed step: the voltage is
advanced with mechanism states frozen (membrane currents linearised around the
old voltage), then mechanism states are advanced with the *new* voltage.
"""

from __future__ import annotations

import jax.numpy as jnp

from sim.core.compiled import CompiledModule
from sim.core.membrane import (
    membrane_currents,
    observable_currents,
    update_mechanism_states,
)
from sim.core.voltage import GraphOps, MembraneTerms, scheme_from_name
from sim.solvers.tree import solver_from_name


class Stepper:
    """One integration step of a compiled module (pure, jittable, differentiable)."""

    def __init__(self, compiled: CompiledModule, *, solver: str, voltage_solver: str):
        self.compiled = compiled
        scheme = scheme_from_name(solver)
        tree = solver_from_name(voltage_solver, compiled.graph.parent)
        self.scheme = scheme(compiled.graph, tree)
        self.ops = GraphOps(compiled.graph)
        self.solver = solver

    # ------------------------------------------------------------------ pieces
    def _injected_current(self, externals: dict, external_inds: dict, dtype):
        i_ext = jnp.zeros(self.compiled.ncomp, dtype)
        if "i" in externals and jnp.size(externals["i"]) > 0:
            i_ext = i_ext.at[external_inds["i"]].add(externals["i"].astype(dtype))
        return i_ext

    def with_observables(self, states: dict, params: dict) -> dict:
        """Fill in branch-point voltages and membrane currents from the dynamic states."""
        n = self.compiled.ncomp
        out = dict(states)
        v_comp = states["v"][:n]
        v_bp = self.ops.branchpoint_voltages(v_comp, params["axial_conductances"][0])
        out["v"] = jnp.concatenate([v_comp, v_bp])
        out.update(observable_currents(self.compiled, out, params))
        return out

    # ------------------------------------------------------------------ step
    def __call__(self, states: dict, params: dict, externals: dict, external_inds: dict, delta_t):
        externals, external_inds = _order_inputs(externals, external_inds)
        n = self.compiled.ncomp
        v = states["v"]
        i_mem, g_mem = membrane_currents(self.compiled, states, params)
        clamp_inds = clamp_vals = None
        if "v" in externals and jnp.size(externals["v"]) > 0:
            clamp_inds, clamp_vals = external_inds["v"], externals["v"].astype(v.dtype)
        terms = MembraneTerms(
            i_mem=i_mem,
            g_mem=g_mem,
            i_ext=self._injected_current(externals, external_inds, v.dtype),
            clamp_inds=clamp_inds,
            clamp_vals=clamp_vals,
        )
        v_new = self.scheme(v, terms, params, delta_t)
        new_states = update_mechanism_states(self.compiled, states, params, v_new[:n], delta_t)
        new_states["v"] = v_new
        for key, vals in externals.items():
            if key in ("i", "v") or jnp.size(vals) == 0:
                continue
            new_states[key] = (
                new_states[key].at[external_inds[key]].set(vals.astype(new_states[key].dtype))
            )
        new_states.update(observable_currents(self.compiled, new_states, params))
        return new_states


def _order_inputs(externals: dict, external_inds: dict) -> tuple[dict, dict]:
    """Accept (externals, external_inds) in either order (the seed docs disagree)."""
    if externals is None:
        externals = {}
    if external_inds is None:
        external_inds = {}
    values = [v for v in externals.values() if jnp.size(v)]
    inds = [v for v in external_inds.values() if jnp.size(v)]
    if values and inds:
        v_int = all(jnp.issubdtype(jnp.asarray(x).dtype, jnp.integer) for x in values)
        i_float = all(jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating) for x in inds)
        if v_int and i_float:
            externals, external_inds = external_inds, externals
    for key in externals:
        if key not in external_inds:
            raise ValueError(f"External input {key!r} has no entry in external_inds.")
    return externals, external_inds


def initial_states(stepper: Stepper, comp_states: dict, params: dict) -> dict:
    """Full state dict (with branch points and currents) from compartment states."""
    n = stepper.compiled.ncomp
    states = {k: jnp.asarray(v) for k, v in comp_states.items()}
    states["v"] = states["v"][:n]
    return stepper.with_observables(states, params)
