"""Distances between compartments: straight line and along the branch tree (µm)."""

from __future__ import annotations

from collections import deque

import jax.numpy as jnp
import numpy as np

__all__ = ["distance_direct", "distance_pathwise"]


def _comps(view, name: str) -> np.ndarray:
    from sim.modules.module import Module

    if not isinstance(view, Module):
        raise TypeError(f"{name} must be a sim module or view, got {type(view).__name__}.")
    return np.asarray(view._sel, dtype=int)


def _check(startpoint, endpoints) -> tuple[int, np.ndarray]:
    start = _comps(startpoint, "startpoint")
    ends = _comps(endpoints, "endpoints")
    if startpoint.base is not endpoints.base:
        raise ValueError(
            "startpoint and endpoints must be views of the same module (e.g. "
            "cell.branch(0).comp(0) and cell)."
        )
    if len(start) != 1:
        raise ValueError(
            f"startpoint must be a single compartment, got {len(start)}; use e.g. "
            "cell.branch(0).comp(0)."
        )
    return int(start[0]), ends


def distance_direct(startpoint, endpoints):
    """Straight-line (Euclidean) distance in µm between compartment centres.

    Args:
        startpoint: A view of one compartment.
        endpoints: The module, or a view of it, whose compartments to measure to.

    Returns:
        A jax array with one distance (µm) per compartment of `endpoints`, from the
        ``x, y, z`` columns of ``nodes``.

    Raises:
        ValueError if `startpoint` is not one compartment, the two are not of the
        same module, or coordinates are missing (run ``compute_xyz()`` and
        ``compute_compartment_centers()``).
    """
    start, ends = _check(startpoint, endpoints)
    xyz = startpoint.base.nodes[["x", "y", "z"]].to_numpy(dtype=float)
    if np.isnan(xyz[[start, *ends]]).any():
        raise ValueError(
            "Compartments without coordinates (x, y, z are NaN); run module.compute_xyz() "
            "and module.compute_compartment_centers() first."
        )
    return jnp.sqrt(jnp.sum((xyz[start] - xyz[ends]) ** 2, axis=1))


def _tree_edges(base) -> dict[int, list[tuple[int, float]]]:
    """Adjacency of compartment centres and junction points, weighted by path length."""
    nodes = base.nodes
    length = nodes["length"].to_numpy(dtype=float)
    branch = nodes["global_branch_index"].to_numpy()
    rows = [np.flatnonzero(branch == b) for b in range(int(branch.max()) + 1)]
    adj: dict[int, list[tuple[int, float]]] = {}

    def link(a: int, b: int, w: float) -> None:
        adj.setdefault(a, []).append((b, w))
        adj.setdefault(b, []).append((a, w))

    for r in rows:
        for a, b in zip(r[:-1], r[1:]):
            link(int(a), int(b), 0.5 * (length[a] + length[b]))
    junction: dict[tuple[int, int], int] = {}
    for child, (p, x) in enumerate(zip(base.branch_parents, base.branch_parent_x)):
        if p < 0:
            continue
        first, prow = int(rows[child][0]), rows[p]
        if 0.0 < x < 1.0:
            k = min(int(x * len(prow)), len(prow) - 1)
            centre = (np.sum(length[prow[:k]]) + 0.5 * length[prow[k]]) / np.sum(length[prow])
            offset = abs(x - centre) * float(np.sum(length[prow]))
            link(int(prow[k]), first, 0.5 * length[first] + offset)
            continue
        end = 1 if x >= 1.0 else 0
        if (p, end) not in junction:
            junction[(p, end)] = -1 - len(junction)
            anchor = int(prow[-1] if end else prow[0])
            link(anchor, junction[(p, end)], 0.5 * length[anchor])
        link(junction[(p, end)], first, 0.5 * length[first])
    return adj


def distance_pathwise(startpoint, endpoints) -> list[float]:
    """Distance in µm along the branch tree between compartment centres.

    Consecutive compartments are ``(L_a + L_b) / 2`` apart; through a branch point
    the halves of the two compartments add up the same way; a branch attached
    inside a compartment starts at its attachment point. Cells of a network are
    not connected to each other (distance ``inf``).

    Args:
        startpoint: A view of one compartment.
        endpoints: The module, or a view of it, whose compartments to measure to.

    Returns:
        A list with one distance (µm) per compartment of `endpoints`.
    """
    start, ends = _check(startpoint, endpoints)
    adj = _tree_edges(startpoint.base)
    dist = {start: 0.0}
    queue = deque([start])
    while queue:  # a tree: every node is reached once, by its only path
        node = queue.popleft()
        for nb, w in adj.get(node, ()):
            if nb not in dist:
                dist[nb] = dist[node] + float(w)
                queue.append(nb)
    return [float(dist.get(int(e), np.inf)) for e in ends]
