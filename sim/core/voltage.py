"""Voltage updates of the cable equation on the compartment graph.

Every node balances currents in nA (see ARCHITECTURE.md):

    cap_i dv_i/dt = -A_i i_mem,i(v_i) + sum_j G_ij (v_j - v_i) + I_ext,i

with ``A_i = area_i * 1e-2`` and branch points having ``cap = A = 0``. The membrane
current is linearised around the current voltage (``i + g (v_new - v)``), as NEURON
does, so that the implicit methods stay linear. Each scheme is a small class with
a single ``__call__``.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np

from sim.core.compiled import Graph
from sim.core.params import UM2_MA_PER_CM2_TO_NA
from sim.solvers.tree import TreeSolver


@dataclass(frozen=True)
class MembraneTerms:
    """Per-compartment inputs of a voltage step (compartments only, no branch points)."""

    i_mem: jnp.ndarray  # mA/cm² at the current voltage
    g_mem: jnp.ndarray  # d i_mem / dv, S/cm²
    i_ext: jnp.ndarray  # nA
    clamp_inds: jnp.ndarray | None = None  # compartments with a voltage clamp
    clamp_vals: jnp.ndarray | None = None  # mV


class GraphOps:
    """Sums over graph edges, shared by all schemes."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.parent_safe = np.where(graph.parent >= 0, graph.parent, 0)

    def neighbour_sum(self, g_edge):
        """sum_j G_ij for every node."""
        to_parent = jnp.zeros_like(g_edge).at[self.parent_safe].add(g_edge)
        return g_edge + to_parent

    def net_axial_current(self, v, g_edge):
        """sum_j G_ij (v_j - v_i) for every node (nA)."""
        flow = g_edge * (v[self.parent_safe] - v)  # into node i from its parent
        return flow - jnp.zeros_like(v).at[self.parent_safe].add(flow)

    def branchpoint_voltages(self, v_comp, g_edge):
        """Algebraic voltages of zero-capacitance branch points (current balance)."""
        n = self.graph.ncomp
        v = jnp.concatenate([v_comp, jnp.zeros(self.graph.nbranchpoints, v_comp.dtype)])
        from_parent = g_edge * v[self.parent_safe]
        from_children = jnp.zeros_like(v).at[self.parent_safe].add(g_edge * v)
        total = self.neighbour_sum(g_edge)
        safe_total = jnp.where(total[n:] > 0, total[n:], 1.0)
        return (from_parent[n:] + from_children[n:]) / safe_total


def _clamped(values, terms: MembraneTerms, target):
    if terms.clamp_inds is None:
        return values
    return values.at[terms.clamp_inds].set(target)


class ImplicitEuler:
    """Backward Euler (NEURON's default fixed step, ``secondorder=0``)."""

    def __init__(self, graph: Graph, tree_solver: TreeSolver):
        self.ops = GraphOps(graph)
        self.tree_solver = tree_solver

    def implicit_solve(self, v, terms: MembraneTerms, params: dict, dt, clamp_target):
        n = self.ops.graph.ncomp
        nbp = self.ops.graph.nbranchpoints
        g_edge = params["axial_conductances"][0]
        scale = params["area"] * UM2_MA_PER_CM2_TO_NA
        c_dt = params["cap"] / dt
        v_comp = v[:n]
        diag_c = c_dt + terms.g_mem * scale
        rhs_c = c_dt * v_comp + (terms.g_mem * v_comp - terms.i_mem) * scale + terms.i_ext
        zeros = jnp.zeros(nbp, v.dtype)
        diag = jnp.concatenate([diag_c, zeros]) + self.ops.neighbour_sum(g_edge)
        rhs = jnp.concatenate([rhs_c, zeros])
        lower = -g_edge
        if terms.clamp_inds is not None:
            diag = diag.at[terms.clamp_inds].set(1.0)
            lower = lower.at[terms.clamp_inds].set(0.0)
            rhs = rhs.at[terms.clamp_inds].set(clamp_target)
        return self.tree_solver.solve(diag, lower, -g_edge, rhs)

    def __call__(self, v, terms: MembraneTerms, params: dict, dt):
        return self.implicit_solve(v, terms, params, dt, terms.clamp_vals)


class CrankNicolson(ImplicitEuler):
    """Crank–Nicolson: an implicit half step followed by linear extrapolation."""

    def __call__(self, v, terms: MembraneTerms, params: dict, dt):
        target = None
        if terms.clamp_inds is not None:
            target = 0.5 * (terms.clamp_vals + v[terms.clamp_inds])
        v_half = self.implicit_solve(v, terms, params, dt / 2.0, target)
        return 2.0 * v_half - v


class ForwardEuler:
    """Explicit Euler; branch points are kept at their algebraic (current-balance) voltage."""

    def __init__(self, graph: Graph, tree_solver: TreeSolver | None = None):
        self.ops = GraphOps(graph)

    def __call__(self, v, terms: MembraneTerms, params: dict, dt):
        n = self.ops.graph.ncomp
        g_edge = params["axial_conductances"][0]
        v_comp = v[:n]
        v_all = jnp.concatenate([v_comp, self.ops.branchpoint_voltages(v_comp, g_edge)])
        axial = self.ops.net_axial_current(v_all, g_edge)[:n]
        scale = params["area"] * UM2_MA_PER_CM2_TO_NA
        dv = (-terms.i_mem * scale + terms.i_ext + axial) / params["cap"]
        v_new = _clamped(v_comp + dt * dv, terms, terms.clamp_vals)
        return jnp.concatenate([v_new, self.ops.branchpoint_voltages(v_new, g_edge)])


def diffusion_matrix(graph: Graph, params: dict):
    """The (ncomp, ncomp) matrix M of dv/dt = M v for the passive cable (branch points
    eliminated through their current balance)."""
    n, nn = graph.ncomp, graph.nnodes
    g_edge = params["axial_conductances"][0]
    has_parent = graph.parent >= 0
    child = np.flatnonzero(has_parent)
    par = graph.parent[child]
    k = jnp.zeros((nn, nn), g_edge.dtype)
    k = k.at[child, par].add(-g_edge[child]).at[par, child].add(-g_edge[child])
    k = k.at[child, child].add(g_edge[child]).at[par, par].add(g_edge[child])
    k_cc, k_cb, k_bb = k[:n, :n], k[:n, n:], k[n:, n:]
    if nn > n:
        k_cc = k_cc - k_cb @ jnp.linalg.solve(k_bb, k_cb.T)
    return -k_cc / params["cap"][:, None]


def exp_euler_transition(graph: Graph, params: dict, dt):
    """e^{M dt} for the passive cable, shape (ncomp, ncomp)."""
    return jsl.expm(diffusion_matrix(graph, params) * dt)


class ExponentialEuler:
    """Exact exponential step for axial diffusion, explicit Euler for membrane currents."""

    def __init__(self, graph: Graph, tree_solver: TreeSolver | None = None):
        self.ops = GraphOps(graph)

    def __call__(self, v, terms: MembraneTerms, params: dict, dt):
        n = self.ops.graph.ncomp
        g_edge = params["axial_conductances"][0]
        transition = params.get("exp_euler_transition")
        if transition is None:
            transition = exp_euler_transition(self.ops.graph, params, dt)
        transition = transition[0] if transition.ndim == 3 else transition
        scale = params["area"] * UM2_MA_PER_CM2_TO_NA
        membrane = (-terms.i_mem * scale + terms.i_ext) / params["cap"]
        v_new = transition @ v[:n] + dt * membrane
        v_new = _clamped(v_new, terms, terms.clamp_vals)
        return jnp.concatenate([v_new, self.ops.branchpoint_voltages(v_new, g_edge)])


SCHEMES = {
    "bwd_euler": ImplicitEuler,
    "crank_nicolson": CrankNicolson,
    "fwd_euler": ForwardEuler,
    "exp_euler": ExponentialEuler,
}


def scheme_from_name(name: str):
    if name not in SCHEMES:
        raise ValueError(f"Unknown solver {name!r}; choose one of {sorted(SCHEMES)}.")
    return SCHEMES[name]
