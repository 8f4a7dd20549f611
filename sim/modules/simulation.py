"""Module methods that expose simulation internals (Jaxley compatibility layer)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp


class SimulationMixin:
    """``get_all_parameters``, ``get_all_states``, ``step`` and exp-Euler customisation."""

    def get_all_parameters(self, pstate: list[dict] | None = None) -> dict:
        """All parameters (per compartment) plus derived geometry, with `pstate` applied."""
        from sim.core.params import build_all_params, split_overrides

        compiled = self.base.compiled()
        entries, _ = split_overrides(list(pstate or []), compiled)
        return build_all_params(compiled, entries)

    def get_all_states(
        self, pstate: list[dict] | None, all_params: dict, delta_t: float = 0.025
    ) -> dict:
        """All states (incl. branch-point voltages and currents), with `pstate` applied."""
        from sim.core.params import build_initial_states, split_overrides
        from sim.core.step import initial_states
        from sim.integrate import _stepper

        compiled = self.base.compiled()
        _, entries = split_overrides(list(pstate or []), compiled)
        stepper = _stepper(compiled, "bwd_euler", "jaxley.dhs")
        return initial_states(stepper, build_initial_states(compiled, entries), all_params)

    def step(
        self,
        u: dict,
        delta_t: float,
        external_inds: dict,
        externals: dict,
        params: dict,
        solver: str = "bwd_euler",
        voltage_solver: str = "jaxley.stone",
    ) -> dict:
        """One integration step of all states `u` (see ``build_init_and_step_fn``)."""
        from sim.integrate import _stepper

        stepper = _stepper(self.base.compiled(), solver, voltage_solver)
        return stepper(u, params, externals, external_inds, delta_t)

    def build_exp_euler_transition_matrix(
        self, delta_t: float, axial_conductances: Any = None
    ) -> jnp.ndarray:
        """``expm(G dt)`` of the passive cable, shape ``(1, ncomp, ncomp)`` (voltage only).

        Apply it to the compartment voltages (branch points are eliminated).
        """
        from sim.core.voltage import exp_euler_transition

        all_params = self.get_all_parameters([])
        if axial_conductances is not None:
            all_params["axial_conductances"] = jnp.atleast_2d(jnp.asarray(axial_conductances))
        return exp_euler_transition(self.base.compiled().graph, all_params, delta_t)[None]

    def customize_solver_exp_euler(self, exp_euler_transition: Any = None) -> None:
        """Use a precomputed exponential-Euler transition matrix (None: compute per run)."""
        self.base.solver_customizers["exp_euler_transition"] = exp_euler_transition
        self.base._touch()
