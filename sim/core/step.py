"""The pure simulation step, as a sequence of small typed stages.

``Step(model, scheme=..., solver=...)`` is built once per model; calling it is a
pure function ``(SimState, StepParams, Drive, StepInputs, dt) -> SimState``.
The stages, in NEURON's fixed-step order:

1. membrane currents and their voltage derivative (:mod:`sim.core.currents`),
2. voltage update with the mechanism states frozen (:mod:`sim.core.voltage`),
3. mechanism state updates with the *new* voltage (:mod:`sim.core.updates`),
4. ion concentrations: pumps and diffusion, implicitly (:mod:`sim.core.ions`),
5. clamps of mechanism states.

:meth:`Step.advance` takes the stage-1 terms as an argument so that the time
loop can record currents from the same evaluation that drives the step.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import jax
import jax.numpy as jnp

from sim.core.cable import CableOps
from sim.core.compiled import CompiledModule
from sim.core.currents import MembraneTerms, membrane_currents
from sim.core.ions import update_ions
from sim.core.state import Drive, SimState, StepInputs, StepParams
from sim.core.updates import clamp_states, update_mechanisms, update_synapses
from sim.core.voltage import AbstractVoltageScheme, VoltageInputs
from sim.solvers.tree import TreeSolver

__all__ = ["Step"]


@dataclass(frozen=True, eq=False)
class Step:
    """One integration step of a compiled model (pure, jittable, differentiable).

    Args:
        model: The compiled model.
        scheme: Voltage update rule.
        solver: Tree solver over ``model.internal`` (needed by implicit schemes).
    """

    model: CompiledModule
    scheme: AbstractVoltageScheme
    solver: TreeSolver | None = None
    order: str = "neuron"

    def __post_init__(self) -> None:
        if self.order not in ("neuron", "jaxley"):
            raise ValueError(f"step order must be 'neuron' or 'jaxley', got {self.order!r}.")
        if self.scheme.needs_solver and self.solver is None:
            raise ValueError(f"{type(self.scheme).__name__} needs a tree solver.")
        if any(ion.diffused for ion in self.model.ions) and self.solver is None:
            raise ValueError("Diffusing ions needs a tree solver (pass one to Step).")

    @cached_property
    def ops(self) -> CableOps:
        return CableOps(self.model.internal)

    def currents(self, state: SimState, params: StepParams) -> MembraneTerms:
        """Stage 1 at ``state`` (also the observable currents of ``state``)."""
        return membrane_currents(self.model, state, params)

    def advance(
        self,
        state: SimState,
        params: StepParams,
        terms: MembraneTerms,
        drive: Drive,
        inputs: StepInputs,
        dt,
    ) -> SimState:
        """Stages 2-5, given the stage-1 ``terms`` of ``state``.

        With ``order="jaxley"`` the mechanisms are advanced first, with the old
        voltage, and the currents recomputed from the new states before the
        voltage solve (Jaxley 0.14's order; ``terms`` then only serve recording).
        """
        if self.order == "jaxley":
            return self._advance_jaxley(state, params, drive, inputs, dt)
        v_new = self.voltage(state, params, terms, drive, inputs, dt)
        return self.update(state, params, terms, v_new, drive, inputs, dt)

    def voltage(
        self,
        state: SimState,
        params: StepParams,
        terms: MembraneTerms,
        drive: Drive,
        inputs: StepInputs,
        dt,
    ) -> jax.Array:
        """Stage 2 of NEURON's order: the new compartment voltages, states frozen."""
        return self.scheme(
            self.ops,
            self.solver,
            params.cable,
            state.v,
            terms,
            self._voltage_inputs(state, drive, inputs),
            dt,
            params.transition,
        )

    def update(
        self,
        state: SimState,
        params: StepParams,
        terms: MembraneTerms,
        v_new,
        drive: Drive,
        inputs: StepInputs,
        dt,
    ) -> SimState:
        """Stages 3-5 of NEURON's order: synapses, mechanisms, ions and clamps at ``v_new``."""
        edge_states = update_synapses(self.model, state, params, v_new, dt)
        states, v_new = update_mechanisms(self.model, state, params, v_new, terms, dt)
        states = update_ions(self.model, self.ops, self.solver, state, states, params, terms, dt)
        states = clamp_states(states, drive, inputs)
        return SimState(v=v_new, states=states, edge_states=edge_states)

    def _voltage_inputs(self, state: SimState, drive: Drive, inputs: StepInputs) -> VoltageInputs:
        i_ext = jnp.zeros(self.model.ncomp, state.v.dtype)
        if drive.stim_pos.shape[0]:
            i_ext = i_ext.at[drive.stim_pos].add(inputs.stim.astype(state.v.dtype))
        clamp = drive.v_clamp_pos.shape[0] > 0
        return VoltageInputs(
            i_ext=i_ext,
            clamp_pos=drive.v_clamp_pos if clamp else None,
            clamp_val=inputs.v_clamp if clamp else None,
        )

    def _advance_jaxley(self, state, params, drive, inputs, dt) -> SimState:
        terms0 = self.currents(state, params)  # currents read by mechanisms (e.g. i_Ca)
        edge_states = update_synapses(self.model, state, params, state.v, dt)
        states, v = update_mechanisms(self.model, state, params, state.v, terms0, dt)
        mid = SimState(v=v, states=states, edge_states=edge_states)
        terms = self.currents(mid, params)
        v_new = self.scheme(
            self.ops,
            self.solver,
            params.cable,
            mid.v,
            terms,
            self._voltage_inputs(mid, drive, inputs),
            dt,
            params.transition,
        )
        states = update_ions(self.model, self.ops, self.solver, mid, states, params, terms, dt)
        states = clamp_states(states, drive, inputs)
        return SimState(v=v_new, states=states, edge_states=edge_states)

    def __call__(
        self, state: SimState, params: StepParams, drive: Drive, inputs: StepInputs, dt
    ) -> SimState:
        return self.advance(state, params, self.currents(state, params), drive, inputs, dt)
