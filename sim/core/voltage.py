"""Stage 2 of the step: the voltage update of the cable equation.

Every compartment balances currents in nA (see ARCHITECTURE.md)::

    cap_i dv_i/dt = -A_i i_mem,i(v_i) + sum_j G_ij (v_j - v_i) + I_ext,i

with ``A_i = area_i * 1e-2`` and branch points of zero capacity. The membrane
current is linearised around the voltage at the start of the step
(``i + g (v_new - v)``), as NEURON does, so the implicit schemes stay linear.

A scheme is a small object with one method, :meth:`AbstractVoltageScheme.__call__`,
returning the new compartment voltages; users may write their own.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np

from sim.core.cable import CableOps, implicit_solve
from sim.core.currents import MembraneTerms
from sim.core.graph import Graph
from sim.core.state import CableParams
from sim.solvers.tree import TreeSolver

__all__ = [
    "AbstractVoltageScheme",
    "BackwardEuler",
    "CrankNicolson",
    "ForwardEuler",
    "ExponentialEuler",
    "VoltageInputs",
    "diffusion_matrix",
    "exp_euler_transition",
]


@dataclass(frozen=True)
class VoltageInputs:
    """Per-step inputs of the voltage update (internal compartment positions).

    Attributes:
        i_ext: Injected current per compartment (nA), ``(ncomp,)``.
        clamp_pos: Voltage-clamped compartments, or ``None``.
        clamp_val: Their voltages (mV).
    """

    i_ext: jax.Array
    clamp_pos: jax.Array | None = None
    clamp_val: jax.Array | None = None


class AbstractVoltageScheme(abc.ABC):
    """A voltage update rule.

    Attributes:
        needs_solver: Whether the scheme solves a tree system (implicit schemes).
        needs_transition: Whether it needs the exponential-Euler transition matrix.
    """

    needs_solver: ClassVar[bool] = False
    needs_transition: ClassVar[bool] = False

    @abc.abstractmethod
    def __call__(
        self,
        ops: CableOps,
        solver: TreeSolver | None,
        cable: CableParams,
        v: jax.Array,
        terms: MembraneTerms,
        inputs: VoltageInputs,
        dt: jax.Array | float,
        transition: jax.Array | None = None,
    ) -> jax.Array:
        """Return the compartment voltages after one step of ``dt`` (ms)."""


def _clamped(v: jax.Array, inputs: VoltageInputs) -> jax.Array:
    if inputs.clamp_pos is None or inputs.clamp_val is None or inputs.clamp_pos.shape[0] == 0:
        return v
    return v.at[inputs.clamp_pos].set(inputs.clamp_val.astype(v.dtype))


def _point_terms(terms: MembraneTerms, v: jax.Array):
    """Synaptic (point-process, nA) current and its conductance, 0 without synapses."""
    if terms.i_point is None or terms.g_point is None:
        return 0.0, 0.0
    return terms.i_point, terms.g_point


def _implicit_step(ops, solver, cable, v, terms, inputs, dt, clamp_val):
    c_dt = cable.cap / dt
    i_pt, g_pt = _point_terms(terms, v)
    diag_c = c_dt + terms.g * cable.area + g_pt
    rhs_c = c_dt * v + (terms.g * v - terms.i) * cable.area + g_pt * v - i_pt + inputs.i_ext
    x = implicit_solve(
        solver,
        ops,
        diag_c=diag_c,
        rhs_c=rhs_c,
        g_axial=cable.g_axial,
        g_sum=cable.g_sum,
        clamp_pos=inputs.clamp_pos,
        clamp_val=clamp_val,
    )
    return x[: ops.graph.ncomp]


class BackwardEuler(AbstractVoltageScheme):
    """Backward (implicit) Euler: NEURON's default fixed step (``secondorder=0``)."""

    needs_solver = True

    def __call__(self, ops, solver, cable, v, terms, inputs, dt, transition=None):
        return _implicit_step(ops, solver, cable, v, terms, inputs, dt, inputs.clamp_val)


class CrankNicolson(AbstractVoltageScheme):
    """Crank–Nicolson: an implicit half step followed by linear extrapolation."""

    needs_solver = True

    def __call__(self, ops, solver, cable, v, terms, inputs, dt, transition=None):
        target = None
        if inputs.clamp_pos is not None and inputs.clamp_val is not None:
            target = 0.5 * (inputs.clamp_val + v[inputs.clamp_pos])
        v_half = _implicit_step(ops, solver, cable, v, terms, inputs, dt / 2.0, target)
        return 2.0 * v_half - v


class ForwardEuler(AbstractVoltageScheme):
    """Explicit Euler; branch points are held at their algebraic (current-balance) voltage."""

    def __call__(self, ops, solver, cable, v, terms, inputs, dt, transition=None):
        n = ops.graph.ncomp
        v_all = jnp.concatenate([v, ops.branchpoint_values(v, cable.g_axial)])
        axial = ops.net_axial_current(v_all, cable.g_axial)[:n]
        i_pt, _ = _point_terms(terms, v)
        dv = (-terms.i * cable.area - i_pt + inputs.i_ext + axial) / cable.cap
        return _clamped(v + dt * dv, inputs)


class ExponentialEuler(AbstractVoltageScheme):
    """Exact exponential step for the passive cable, explicit Euler for membrane currents."""

    needs_transition = True

    def __call__(self, ops, solver, cable, v, terms, inputs, dt, transition=None):
        if transition is None:
            raise ValueError("ExponentialEuler needs the transition matrix (StepParams).")
        i_pt, _ = _point_terms(terms, v)
        membrane = (-terms.i * cable.area - i_pt + inputs.i_ext) / cable.cap
        return _clamped(transition @ v + dt * membrane, inputs)


def diffusion_matrix(graph: Graph, g_edge: jax.Array, cap: jax.Array) -> jax.Array:
    """The (ncomp, ncomp) matrix M of dv/dt = M v for the passive cable.

    Branch points are eliminated through their current balance.
    """
    n, nn = graph.ncomp, graph.nnodes
    has_parent = graph.parent >= 0
    child = np.flatnonzero(has_parent)
    par = graph.parent[child]
    k = jnp.zeros((nn, nn), g_edge.dtype)
    k = k.at[child, par].add(-g_edge[child]).at[par, child].add(-g_edge[child])
    k = k.at[child, child].add(g_edge[child]).at[par, par].add(g_edge[child])
    k_cc, k_cb, k_bb = k[:n, :n], k[:n, n:], k[n:, n:]
    if nn > n:
        k_cc = k_cc - k_cb @ jnp.linalg.solve(k_bb, k_cb.T)
    return -k_cc / cap[:, None]


def exp_euler_transition(graph: Graph, g_edge: jax.Array, cap: jax.Array, dt) -> jax.Array:
    """``expm(M dt)`` for the passive cable, shape (ncomp, ncomp)."""
    return jsl.expm(diffusion_matrix(graph, g_edge, cap) * dt)


SCHEMES: dict[str, type[AbstractVoltageScheme]] = {
    "bwd_euler": BackwardEuler,
    "crank_nicolson": CrankNicolson,
    "fwd_euler": ForwardEuler,
    "exp_euler": ExponentialEuler,
}


def scheme_from_name(name: str | AbstractVoltageScheme) -> AbstractVoltageScheme:
    """Resolve the seed API's solver strings (``"bwd_euler"``, ...) to a scheme object."""
    if isinstance(name, AbstractVoltageScheme):
        return name
    if not isinstance(name, str) or name not in SCHEMES:
        raise ValueError(
            f"Unknown solver {name!r}; choose one of {sorted(SCHEMES)} or pass an "
            "AbstractVoltageScheme instance."
        )
    return SCHEMES[name]()
