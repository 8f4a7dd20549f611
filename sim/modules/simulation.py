"""Module methods that expose simulation internals (Jaxley compatibility layer)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from sim.modules.fields import ModuleFields


class SimulationMixin(ModuleFields):
    """``get_all_parameters``, ``get_all_states``, ``step`` and exp-Euler customisation."""

    def _engine(self, solver: str = "bwd_euler", voltage_solver: str = "jaxley.dhs"):
        from sim.core.engine import engine_for

        return engine_for(self.base.compiled(), solver, voltage_solver)

    def get_all_parameters(self, pstate: list[dict] | None = None) -> dict:
        """All parameters (per compartment) plus derived geometry, with `pstate` applied."""
        from sim.core.params import split_overrides

        compiled = self.base.compiled()
        entries, _ = split_overrides(list(pstate or []), compiled)
        all_params, _ = self._engine().tables([(e["key"], e["indices"], e["val"]) for e in entries])
        return all_params

    def get_all_states(
        self, pstate: list[dict] | None, all_params: dict | None = None, delta_t: float = 0.025
    ) -> dict:
        """All states with `pstate` applied, with branch-point voltages and currents.

        As in Jaxley 0.14 ``all_params`` may be omitted (the module's own parameters
        are then used for the currents, see ``append_channel_currents_to_states``).
        """
        if all_params is None:
            all_params = self.get_all_parameters(pstate)
        from sim.core.convert import sim_state
        from sim.core.params import split_overrides

        compiled = self.base.compiled()
        _, entries = split_overrides(list(pstate or []), compiled)
        engine = self._engine()
        _, states = engine.tables([(e["key"], e["indices"], e["val"]) for e in entries])
        params = engine.step_params(all_params, delta_t)
        return engine.user_states(sim_state(compiled, states), params)

    def step(
        self,
        u: dict,
        delta_t: float,
        external_inds: dict,
        externals: dict,
        params: dict,
        solver: str = "bwd_euler",
        voltage_solver: str = "jaxley.dhs",
    ) -> dict:
        """One integration step of all states `u` (see ``build_init_and_step_fn``)."""
        from sim.integrate import make_step_fn

        step_fn = make_step_fn(self._engine(solver, voltage_solver))
        return step_fn(u, params, externals, external_inds, delta_t)

    def build_exp_euler_transition_matrix(
        self, delta_t: float, axial_conductances: Any = None
    ) -> jnp.ndarray:
        """``expm(G dt)`` of the passive cable, shape ``(1, ncomp, ncomp)`` (voltage only).

        Apply it to the compartment voltages (branch points are eliminated).
        """
        from sim.core.voltage import exp_euler_transition

        all_params = self.get_all_parameters([])
        g = all_params["axial_conductances"]
        if axial_conductances is not None:
            g = jnp.atleast_2d(jnp.asarray(axial_conductances))
        graph = self.base.compiled().graph
        return exp_euler_transition(graph, g.reshape(-1), all_params["cap"], delta_t)[None]

    def customize_solver_exp_euler(self, exp_euler_transition: Any = None) -> None:
        """Use a precomputed exponential-Euler transition matrix (None: compute per run)."""
        self.base.solver_customizers["exp_euler_transition"] = exp_euler_transition
        self.base._touch()
