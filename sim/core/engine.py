"""The simulation engine of one compiled model: step, jitted time loop, seed-API bridges.

An :class:`Engine` is built once per (compiled model, voltage scheme, tree
solver) and cached (see :func:`engine_for`). It owns

* the :class:`~sim.core.step.Step`,
* the construction of parameters and initial states from trainable values and
  ``data_set`` overrides (traceable, so gradients flow through them),
* one jitted time loop per checkpointing structure: calling ``integrate`` again
  with new parameter values, stimuli or initial states never retraces,
* the conversions to and from the seed API's ``all_states``/``all_params``.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from sim.core.checks import find_problems, report_from_device
from sim.core.compiled import CompiledModule
from sim.core.convert import drive_and_inputs, sim_state, step_params, user_states
from sim.core.params import apply_entry, derive
from sim.core.simulate import simulate
from sim.core.state import SimState, StepParams
from sim.core.step import Step
from sim.core.voltage import exp_euler_transition, scheme_from_name
from sim.solvers.names import solver_from_name

__all__ = ["Engine", "engine_for", "Override"]

#: A parameter or state override: (key, global compartment indices, values).
Override = tuple[str, Any, Any]

_ENGINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def engine_for(model: CompiledModule, solver: str, voltage_solver: str) -> Engine:
    """The cached engine of ``model`` for these solver names (and ``sim.config.step_order``)."""
    from sim.config import config

    cache = _ENGINES.setdefault(model, {})
    key = (solver, voltage_solver, config.step_order)
    if key not in cache:
        cache[key] = Engine(
            model, solver=solver, voltage_solver=voltage_solver, order=config.step_order
        )
    return cache[key]


class Engine:
    """Step, parameter construction and time loop of one compiled model."""

    def __init__(
        self, model: CompiledModule, *, solver: str, voltage_solver: str, order: str = "neuron"
    ) -> None:
        self.model = model
        self.scheme = scheme_from_name(solver)
        tree = None
        if self.scheme.needs_solver or any(ion.diffused for ion in model.ions):
            is_bp = np.arange(model.nnodes) >= model.ncomp
            tree = solver_from_name(voltage_solver, model.internal.parent, force_junction=is_bp)
        self.step = Step(model, self.scheme, tree, order=order)
        self._runs: dict[tuple, Any] = {}
        self._user_step = jax.jit(self._user_step_impl)

    # ------------------------------------------------------------------ parameters
    def overrides(self, train_values: Sequence[Any], entries: Sequence[Override]) -> list[Override]:
        """Trainable values (in ``get_parameters()`` order) followed by ``entries``."""
        out: list[Override] = []
        for t, value in zip(self.model.trainables, train_values):
            out.append((t.key, t.comps, jnp.asarray(value).reshape(-1)[t.groups]))
        return out + list(entries)

    def tables(self, overrides: Sequence[Override]) -> tuple[dict, dict]:
        """User-order parameter table (with derived geometry) and initial-state table."""
        model = self.model
        params = {k: jnp.asarray(v) for k, v in model.base_params.items()}
        states = {k: jnp.asarray(v) for k, v in model.base_states.items()}
        edge_params = {k: jnp.asarray(v) for k, v in model.base_edge_params.items()}
        edge_states = {k: jnp.asarray(v) for k, v in model.base_edge_states.items()}
        for key, idx, val in overrides:
            if key in edge_params or key in edge_states:
                # Synapse keys are indexed by global edge index; tables are per type.
                pos = jnp.asarray(model.edge_position)[jnp.asarray(idx).reshape(-1)]
                apply_entry(edge_params if key in edge_params else edge_states, key, pos, val)
            else:
                apply_entry(params if key in params else states, key, idx, val)
        return {**derive(model.graph, params), **edge_params}, {**states, **edge_states}

    def transition(self, all_params: Mapping[str, jax.Array], dt) -> jax.Array:
        """Exponential-Euler transition matrix in user order, ``(ncomp, ncomp)``."""
        custom = all_params.get("exp_euler_transition")
        if custom is None and self.model.exp_euler_transition is not None:
            custom = self.model.exp_euler_transition
        if custom is not None:
            custom = jnp.asarray(custom)
            return custom[0] if custom.ndim == 3 else custom
        g = jnp.asarray(all_params["axial_conductances"]).reshape(-1)
        return exp_euler_transition(self.model.graph, g, jnp.asarray(all_params["cap"]), dt)

    def step_params(
        self, all_params: Mapping[str, jax.Array], dt, *, override_keys: Sequence[str] | None = None
    ) -> StepParams:
        """The step's parameters from a user-order ``all_params``.

        ``override_keys``: the keys of the ``data_set`` entries ``all_params`` was
        built with (from this model's tables, :meth:`tables`); presynaptic terms are
        then shared where :mod:`sim.core.sites` allows. None (``all_params`` of
        unknown origin, e.g. from a user's ``step_fn``): they are not shared.
        """
        transition = None
        if self.scheme.needs_transition:
            oc = self.model.order[: self.model.ncomp]
            transition = self.transition(all_params, dt)[oc][:, oc]
        shared = None
        if override_keys is not None:
            shared = tuple(
                m.sites is not None
                and m.sites.allows(override_keys, self.model.trainables, self.model.edge_position)
                for m in self.model.edge_mechanisms
            )
        return step_params(self.model, all_params, transition, shared_sites=shared)

    def initial(
        self, overrides: Sequence[Override], all_states: Mapping | None, dt
    ) -> tuple[SimState, StepParams, dict]:
        """Initial state, step parameters and the user-order ``all_params``."""
        all_params, states = self.tables(overrides)
        params = self.step_params(all_params, dt)
        state = sim_state(self.model, all_states if all_states is not None else states)
        return state, params, all_params

    def user_states(self, state: SimState, params: StepParams) -> dict[str, jax.Array]:
        """``state`` as the seed API's ``all_states`` (with currents, branch points)."""
        terms = self.step.currents(state, params)
        return user_states(self.model, state, terms, params.cable.g_axial)

    # ------------------------------------------------------------------ time loop
    def run(
        self,
        train_values: Sequence[Any],
        entries: Sequence[Override],
        all_states: Mapping | None,
        inputs: Mapping[str, jax.Array],
        inds: Mapping[str, jax.Array],
        dt,
        *,
        checkpoint_lengths: tuple[int, ...] | None,
        return_states: bool,
        checks: tuple | None = None,
    ):
        """Simulate; returns recordings ``(n_rec, T+1)``, the final ``all_states`` (or
        None) and the :class:`~sim.core.checks.Problems` found (or None).

        ``checks`` is ``sim.config.key()`` (bound, enabled, mode) or None for none.
        """
        keys = tuple(str(e[0]) for e in entries)
        key = (keys, checkpoint_lengths, return_states, checks)
        if key not in self._runs:
            self._runs[key] = jax.jit(
                self._make_run(keys, checkpoint_lengths, return_states, checks)
            )
        idx = tuple(jnp.asarray(np.asarray(e[1]).reshape(-1)) for e in entries)
        vals = tuple(jnp.asarray(e[2]) for e in entries)
        return self._runs[key](tuple(train_values), idx, vals, all_states, inputs, inds, dt)

    def _make_run(self, keys, checkpoint_lengths, return_states, checks):
        def run(train_values, idx, vals, all_states, inputs, inds, dt):
            entries = list(zip(keys, idx, vals))
            tables, state_tables = self.tables(self.overrides(train_values, entries))
            params = self.step_params(tables, dt, override_keys=keys)
            state = sim_state(self.model, all_states if all_states is not None else state_tables)
            drive, step_inputs = drive_and_inputs(self.model, inputs, inds)
            final, terms, recs = simulate(
                self.step,
                state,
                params,
                drive,
                step_inputs,
                dt,
                num_steps=step_inputs.stim.shape[0],
                checkpoint_lengths=checkpoint_lengths,
            )
            out = user_states(self.model, final, terms, params.cable.g_axial)
            problems = None
            if checks is not None and checks[1]:
                bound, _, mode = checks
                problems = find_problems(
                    self.model, recs, final.v, {**tables, **state_tables}, bound
                )
                if mode == "warn":
                    report_from_device(self.model, problems, bound)
            return recs.T, (out if return_states else None), problems

        return run

    # ------------------------------------------------------------------ seed step_fn
    def user_step(self, all_states, all_params, externals, external_inds, dt):
        """One step on the seed API's dicts (``externals``: inputs of this step)."""
        return self._user_step(all_states, all_params, externals, external_inds, dt)

    def _user_step_impl(self, all_states, all_params, externals, external_inds, dt):
        params = self.step_params(all_params, dt)
        state = sim_state(self.model, all_states)
        inputs = {k: jnp.asarray(v).reshape(1, -1) for k, v in externals.items()}
        drive, stacked = drive_and_inputs(self.model, inputs, external_inds, num_steps=1)
        now = jax.tree_util.tree_map(lambda x: x[0], stacked)
        new = self.step(state, params, drive, now, dt)
        return self.user_states(new, params)
