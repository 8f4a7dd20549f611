"""Dynamic (ODE) states of a module as a flat vector, for filters and Jacobians."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np


def build_dynamic_state_utils(module) -> tuple[Callable, Callable, Callable, Callable]:
    """Return ``remove_observables, add_observables, flatten, unflatten`` for `module`.

    * ``remove_observables(all_states)`` drops membrane currents, branch-point
      voltages and the NaN padding of mechanism states that exist only in some
      compartments; what remains are the true ODE states.
    * ``add_observables(dynamic_states, all_params, delta_t)`` re-derives them.
    * ``flatten`` / ``unflatten`` convert between that dict and a flat vector
      (key order: ``v``, then mechanism states in insertion order).
    """
    base = module.base
    compiled = module.compiled()
    from sim.integrate import _stepper

    stepper = _stepper(compiled, "bwd_euler", "jaxley.dhs")
    with_observables = jax.jit(stepper.with_observables)
    ncomp = compiled.ncomp
    everywhere = np.arange(ncomp)
    present = {
        key: everywhere if key == "v" else everywhere[base.key_present(key, everywhere)]
        for key in compiled.state_keys
    }
    keys = tuple(compiled.state_keys)
    sizes = [len(present[k]) for k in keys]
    splits = np.cumsum(sizes)[:-1]

    def remove_observables(all_states: dict) -> dict:
        return {k: jnp.asarray(all_states[k])[present[k]] for k in keys}

    def add_observables(dynamic_states: dict, all_params: dict, delta_t: float = 0.025) -> dict:
        states = {}
        for k in keys:
            vals = jnp.asarray(dynamic_states[k])
            if k == "v" or len(present[k]) == ncomp:
                states[k] = vals
            else:
                states[k] = jnp.full(ncomp, jnp.nan, vals.dtype).at[present[k]].set(vals)
        return with_observables(states, all_params)

    def flatten(dynamic_states: dict) -> jnp.ndarray:
        return jnp.concatenate([jnp.asarray(dynamic_states[k]).reshape(-1) for k in keys])

    def unflatten(*args) -> dict:
        if len(args) != 1:
            raise TypeError("unflatten takes exactly one flat state vector.")
        parts = jnp.split(jnp.asarray(args[0]), splits)
        return dict(zip(keys, parts))

    return remove_observables, add_observables, flatten, unflatten
