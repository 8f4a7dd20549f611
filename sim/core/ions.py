"""Stage 4 of the step: ion concentrations, pumped and/or diffused, solved implicitly.

For every ion of ``CompiledModule.ions`` the pumps' flux ``-I(C)`` (stage 1,
linearised at the concentration of the step's start, ``I ≈ I0 + g (C - C1)``) and,
if diffused, Fick diffusion along the tree give one backward-Euler step::

    V (C_new - C) / dt = -V (I0 + g (C_new - C1)) + sum_j G_ij (C_new_j - C_new_i)

with compartment volumes ``V`` and diffusive conductances ``G`` (the generalised
cable of :mod:`sim.core.cable`, solved by the same tree solver as the voltage).
Without diffusion it is the diagonal version of the same step.
"""

from __future__ import annotations

import jax

from sim.core.cable import CableOps, implicit_solve
from sim.core.compiled import CompiledModule
from sim.core.currents import MembraneTerms
from sim.core.state import SimState, StepParams
from sim.solvers.tree import TreeSolver

__all__ = ["update_ions"]


def update_ions(
    model: CompiledModule,
    ops: CableOps,
    solver: TreeSolver | None,
    start: SimState,
    states: tuple[jax.Array, ...],
    params: StepParams,
    terms: MembraneTerms,
    dt,
) -> tuple[jax.Array, ...]:
    """Advance every pumped or diffused concentration of ``states`` over ``dt``."""
    if not model.ions:
        return states
    new = list(states)
    for k, ion in enumerate(model.ions):
        c_start, c_now = start.states[ion.slot], new[ion.slot]
        lin, i0 = terms.ion_lin[k], terms.ion_current[k]
        diag = 1.0 / dt + lin
        rhs = c_now / dt + lin * c_start - i0
        cable = params.ions[k] if params.ions else None
        if ion.diffused and cable is not None:
            if solver is None:
                raise ValueError("Diffusion needs a tree solver; use an implicit scheme.")
            x = implicit_solve(
                solver,
                ops,
                diag_c=cable.volume * diag,
                rhs_c=cable.volume * rhs,
                g_axial=cable.g_axial,
                g_sum=cable.g_sum,
            )
            new[ion.slot] = x[: model.ncomp]
        else:
            new[ion.slot] = rhs / diag
    return tuple(new)
