"""Coordinates and plotting of morphologies (visualisation only, never simulated)."""

from __future__ import annotations

import numpy as np


def compute_xyz(module) -> None:
    """Lay out branches in 2-D: each branch a straight line, children fanning out."""
    base = module.base
    nodes = base.nodes
    nbranches = int(nodes["global_branch_index"].max()) + 1
    lengths = nodes.groupby("global_branch_index")["length"].sum().to_numpy()
    start = np.zeros((nbranches, 3))
    angle = np.zeros(nbranches)
    xyzr = []
    for b in range(nbranches):
        p = int(base.branch_parents[b]) if b < len(base.branch_parents) else -1
        if p >= 0:
            siblings = np.flatnonzero(np.asarray(base.branch_parents) == p)
            k = int(np.flatnonzero(siblings == b)[0])
            spread = np.linspace(-0.5, 0.5, len(siblings)) if len(siblings) > 1 else [0.0]
            angle[b] = angle[p] + spread[k]
            start[b] = xyzr[p][-1, :3]
        end = start[b] + lengths[b] * np.array([np.cos(angle[b]), np.sin(angle[b]), 0.0])
        radius = nodes.loc[nodes["global_branch_index"] == b, "radius"].mean()
        xyzr.append(np.array([[*start[b], radius], [*end, radius]]))
    base.xyzr = xyzr
    compute_compartment_centers(base)


def compute_compartment_centers(module) -> None:
    """Interpolate compartment centres along each branch's traced points."""
    base = module.base
    nodes = base.nodes
    for b, pts in enumerate(base.xyzr):
        rows = nodes.index[nodes["global_branch_index"] == b]
        pts = np.asarray(pts, dtype=float)
        if len(rows) == 0 or np.isnan(pts[:, :3]).any():
            continue
        if len(pts) == 1:
            nodes.loc[rows, ["x", "y", "z"]] = pts[0, :3]
            continue
        seg = np.linalg.norm(np.diff(pts[:, :3], axis=0), axis=1)
        arc = np.concatenate([[0.0], np.cumsum(seg)])
        target = (np.arange(len(rows)) + 0.5) / len(rows) * arc[-1]
        for dim, col in enumerate("xyz"):
            nodes.loc[rows, col] = np.interp(target, arc, pts[:, dim])


def vis(module, ax=None, color: str = "k", dims=(0, 1), **kwargs):
    """Line plot of every branch's traced points on the plane `dims`."""
    import matplotlib.pyplot as plt

    base = module.base
    if ax is None:
        _, ax = plt.subplots()
    branches = np.unique(module._view_nodes["global_branch_index"].to_numpy())
    if any(np.isnan(np.asarray(base.xyzr[b])[:, :3]).any() for b in branches):
        compute_xyz(base)
    for b in branches:
        pts = np.asarray(base.xyzr[b])
        ax.plot(pts[:, dims[0]], pts[:, dims[1]], color=color, **kwargs)
    return ax
