"""The cable: capacity per node plus axial conductances on a tree.

The voltage obeys one cable equation (capacity = membrane capacitance,
conductance = 1 / axial resistance); a diffusing ion obeys another on the same
tree (capacity = compartment volume, conductance = D × cross-section / length).
Both are solved implicitly by :func:`implicit_solve`, which assembles the tree
system and hands it to a :class:`~sim.solvers.tree.TreeSolver`:

    (diag_c_i + sum_j G_ij) x_i - sum_j G_ij x_j = rhs_c_i

for compartments, and the same with ``diag_c = rhs_c = 0`` for branch points
(zero capacity: their current balance is algebraic). Clamped nodes get the row
``x_i = value``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np

from sim.core.graph import Graph
from sim.solvers.tree import TreeSolver

__all__ = ["CableOps", "implicit_solve"]


@dataclass(frozen=True, eq=False)
class CableOps:
    """Sums over the edges of a compartment graph (static index bookkeeping)."""

    graph: Graph

    @cached_property
    def parent_safe(self) -> np.ndarray:
        return self.graph.parent_safe

    @cached_property
    def has_parent(self) -> np.ndarray:
        return self.graph.parent >= 0

    def neighbour_sum(self, g_edge: jax.Array) -> jax.Array:
        """``sum_j G_ij`` for every node (``g_edge`` is 0 for roots)."""
        return g_edge + jnp.zeros_like(g_edge).at[self.parent_safe].add(g_edge)

    def net_axial_current(self, v: jax.Array, g_edge: jax.Array) -> jax.Array:
        """``sum_j G_ij (x_j - x_i)`` for every node."""
        flow = g_edge * (v[self.parent_safe] - v)  # into node i from its parent
        return flow - jnp.zeros_like(v).at[self.parent_safe].add(flow)

    def branchpoint_values(self, x_comp: jax.Array, g_edge: jax.Array) -> jax.Array:
        """Values at the zero-capacity branch points from their current balance."""
        n = self.graph.ncomp
        x = jnp.concatenate([x_comp, jnp.zeros(self.graph.nbranchpoints, x_comp.dtype)])
        from_parent = g_edge * x[self.parent_safe]
        from_children = jnp.zeros_like(x).at[self.parent_safe].add(g_edge * x)
        total = self.neighbour_sum(g_edge)[n:]
        safe_total = jnp.where(total > 0, total, 1.0)
        return (from_parent[n:] + from_children[n:]) / safe_total


def implicit_solve(
    solver: TreeSolver,
    ops: CableOps,
    *,
    diag_c: jax.Array,
    rhs_c: jax.Array,
    g_axial: jax.Array,
    g_sum: jax.Array,
    clamp_pos: jax.Array | None = None,
    clamp_val: jax.Array | None = None,
) -> jax.Array:
    """Solve the cable system for all nodes (compartments first, then branch points).

    Args:
        solver: Tree solver over the graph of ``ops``.
        ops: Graph bookkeeping.
        diag_c: Capacity / dt plus linearised membrane conductance, ``(ncomp,)``.
        rhs_c: Right-hand side of the compartments, ``(ncomp,)``.
        g_axial: Axial conductance of every node to its parent, ``(nnodes,)``.
        g_sum: ``ops.neighbour_sum(g_axial)`` (precomputed once per simulation).
        clamp_pos: Nodes whose value is prescribed (or ``None``).
        clamp_val: The prescribed values.
    """
    n = ops.graph.ncomp
    diag = jnp.concatenate([diag_c + g_sum[:n], g_sum[n:]])
    rhs = jnp.concatenate([rhs_c, jnp.zeros(ops.graph.nbranchpoints, rhs_c.dtype)])
    lower = upper = -g_axial
    if clamp_pos is not None and clamp_val is not None and clamp_pos.shape[0] > 0:
        clamped = jnp.zeros(diag.shape, bool).at[clamp_pos].set(True)
        diag = jnp.where(clamped, 1.0, diag)
        rhs = rhs.at[clamp_pos].set(clamp_val.astype(rhs.dtype))
        lower = jnp.where(clamped, 0.0, lower)
        upper = jnp.where(clamped[ops.parent_safe] & ops.has_parent, 0.0, upper)
    return solver.solve(diag, lower, upper, rhs)
