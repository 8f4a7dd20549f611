"""Dynamic (ODE) states of a module as a flat vector, for filters and Jacobians."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp


def build_dynamic_state_utils(module) -> tuple[Callable, Callable, Callable, Callable]:
    """Return ``remove_observables, add_observables, flatten, unflatten`` for `module`.

    * ``remove_observables(all_states)`` drops membrane currents, branch-point
      voltages and the NaN padding of mechanism states that exist only in some
      compartments; what remains are the true ODE states.
    * ``add_observables(dynamic_states, all_params, delta_t)`` re-derives them.
    * ``flatten`` / ``unflatten`` convert between that dict and a flat vector
      (key order: ``v``, then mechanism states in insertion order; within a key,
      compartments in increasing global index).
    """
    from sim.core.convert import sim_state
    from sim.core.engine import engine_for

    compiled = module.compiled()
    engine = engine_for(compiled, "bwd_euler", "jaxley.dhs")
    keys = tuple(compiled.state_keys)
    present = {key: compiled.presence(key) for key in keys}
    ncomp = compiled.ncomp
    sizes = [len(present[k]) for k in keys]
    splits = [int(x) for x in jnp.cumsum(jnp.asarray(sizes))[:-1]]

    def remove_observables(all_states: dict) -> dict:
        return {k: jnp.asarray(all_states[k])[present[k]] for k in keys}

    @jax.jit
    def _with_observables(dynamic_states: dict, all_params: dict) -> dict:
        full = {}
        for k in keys:
            vals = jnp.asarray(dynamic_states[k])
            if len(present[k]) == ncomp:
                full[k] = vals[:ncomp]
            else:
                full[k] = jnp.full(ncomp, jnp.nan, vals.dtype).at[present[k]].set(vals)
        params = engine.step_params(all_params, 0.025)
        return engine.user_states(sim_state(compiled, full), params)

    def add_observables(dynamic_states: dict, all_params: dict, delta_t: float = 0.025) -> dict:
        return _with_observables(dynamic_states, all_params)

    def flatten(dynamic_states: dict) -> jnp.ndarray:
        return jnp.concatenate([jnp.asarray(dynamic_states[k]).reshape(-1) for k in keys])

    def unflatten(*args) -> dict:
        if len(args) != 1:
            raise TypeError("unflatten takes exactly one flat state vector.")
        parts = jnp.split(jnp.asarray(args[0]), splits)
        return dict(zip(keys, parts))

    return remove_observables, add_observables, flatten, unflatten
