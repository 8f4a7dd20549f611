"""The compartment graph: a forest over compartments and branch points.

Nodes ``0..ncomp-1`` are compartments (global compartment index), nodes
``ncomp..nnodes-1`` zero-capacitance branch points. Every node has at most one
parent (``-1`` for roots). The axial resistance between node ``i`` and
``parent[i]`` is the sum of one or two compartment half-resistances: half
``half_a[i]`` (0: lower, 1: upper) of compartment ``comp_a[i]``, plus half
``half_b[i]`` of ``comp_b[i]`` when ``comp_b[i] >= 0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Graph", "build_graph", "LOWER", "UPPER"]

LOWER, UPPER = 0, 1


@dataclass(frozen=True, eq=False)
class Graph:
    """Topology and axial-resistance bookkeeping of a compartment forest."""

    ncomp: int
    nbranchpoints: int
    parent: np.ndarray
    comp_a: np.ndarray
    half_a: np.ndarray
    comp_b: np.ndarray
    half_b: np.ndarray

    @property
    def nnodes(self) -> int:
        return self.ncomp + self.nbranchpoints

    @property
    def parent_safe(self) -> np.ndarray:
        """``parent`` with roots pointing at themselves' slot 0 (for gathers)."""
        return np.where(self.parent >= 0, self.parent, 0)

    def renumbered(self, order: np.ndarray) -> Graph:
        """The same forest with node ``order[k]`` renamed ``k``.

        ``order`` must keep compartments before branch points. Compartment indices
        in ``comp_a``/``comp_b`` are renamed too.
        """
        order = np.asarray(order, dtype=np.int64)
        if not np.all(order[: self.ncomp] < self.ncomp):
            raise ValueError("renumbered(): compartments must precede branch points.")
        position = np.empty_like(order)
        position[order] = np.arange(order.size)
        par = self.parent[order]
        comp_a, comp_b = self.comp_a[order], self.comp_b[order]
        return Graph(
            ncomp=self.ncomp,
            nbranchpoints=self.nbranchpoints,
            parent=np.where(par >= 0, position[np.maximum(par, 0)], -1),
            comp_a=np.where(comp_a >= 0, position[np.maximum(comp_a, 0)], -1),
            half_a=self.half_a[order],
            comp_b=np.where(comp_b >= 0, position[np.maximum(comp_b, 0)], -1),
            half_b=self.half_b[order],
        )


def build_graph(nodes, branch_parents: np.ndarray, branch_parent_x: np.ndarray) -> Graph:
    """Build the compartment forest from per-compartment branch indices and the branch tree.

    A child branch attached at ``x >= 1`` (or ``x <= 0``) of its parent hangs from a
    branch point at that end of the parent; one attached in between hangs directly
    from the parent compartment at ``x``.
    """
    branch_of = nodes["global_branch_index"].to_numpy()
    nbranches = int(branch_of.max()) + 1
    order = np.lexsort((nodes["local_comp_index"].to_numpy(), branch_of))
    starts = np.searchsorted(branch_of[order], np.arange(nbranches + 1))
    comps_of = [order[starts[b] : starts[b + 1]] for b in range(nbranches)]
    ncomp = len(nodes)
    parent = np.full(ncomp, -1, dtype=np.int64)
    edges = np.tile(np.array([-1, 0, -1, 0], dtype=np.int64), (ncomp, 1))
    bp_nodes: dict[tuple[int, int], int] = {}
    bp_rows: list[tuple[int, int, int, int, int]] = []

    def junction(p: int, end: int) -> int:
        key = (p, end)
        if key not in bp_nodes:
            bp_nodes[key] = ncomp + len(bp_nodes)
            anchor = int(comps_of[p][-1] if end == 1 else comps_of[p][0])
            bp_rows.append((anchor, anchor, UPPER if end == 1 else LOWER, -1, 0))
        return bp_nodes[key]

    for b in range(nbranches):
        comps = comps_of[b]
        if len(comps) > 1:
            parent[comps[1:]] = comps[:-1]
            k = len(comps) - 1
            edges[comps[1:]] = np.stack(
                [comps[:-1], np.full(k, UPPER), comps[1:], np.full(k, LOWER)], axis=1
            )
        p = int(branch_parents[b]) if b < len(branch_parents) else -1
        if p < 0:
            continue
        x = float(branch_parent_x[b])
        if x >= 1.0 or x <= 0.0:
            parent[comps[0]] = junction(p, 1 if x >= 1.0 else 0)
        else:
            pcomps = comps_of[p]
            parent[comps[0]] = int(pcomps[min(int(x * len(pcomps)), len(pcomps) - 1)])
        edges[comps[0]] = (int(comps[0]), LOWER, -1, 0)

    bp = np.asarray(bp_rows, dtype=np.int64).reshape(-1, 5)
    return Graph(
        ncomp=ncomp,
        nbranchpoints=len(bp_rows),
        parent=np.concatenate([parent, bp[:, 0]]),
        comp_a=np.concatenate([edges[:, 0], bp[:, 1]]),
        half_a=np.concatenate([edges[:, 1], bp[:, 2]]),
        comp_b=np.concatenate([edges[:, 2], bp[:, 3]]),
        half_b=np.concatenate([edges[:, 3], bp[:, 4]]),
    )
