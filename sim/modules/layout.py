"""Coordinates of morphologies for plotting (visualisation only, never simulated).

Every branch of a module has its traced points in ``base.xyzr[branch]``, an
``(n, 4)`` array of x, y, z and radius in µm. Branches built without a morphology
start as NaN; :func:`compute_xyz` gives them a simple planar layout (as Jaxley
does). This module turns the part of a module or view that is in view into
per-branch geometry (:class:`BranchGeometry`); ``sim.vis`` draws it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Range of the sideways offset per unit length of the first and the last child
#: of a branch in :func:`compute_xyz`, at the root level and at the deepest level.
_SPREAD_ROOT, _SPREAD_LEAF = 5.0, 0.5


@dataclass(frozen=True)
class BranchGeometry:
    """What is in view of one branch, ready to be drawn.

    ``pieces``: traced sub-paths (each ``(n, 4)``, radius filled in) covering the
    viewed compartments, one per run of consecutive compartments. ``comp_*``: per
    viewed compartment its start, end and centre on the traced path (``(k, 3)``),
    its length and radius from ``nodes``. ``single_point``: the branch is traced as
    one point (e.g. a spherical soma) and is drawn as a disc / sphere.
    """

    index: int
    pieces: list[np.ndarray]
    comp_start: np.ndarray
    comp_end: np.ndarray
    comp_centre: np.ndarray
    comp_length: np.ndarray
    comp_radius: np.ndarray
    single_point: bool


# ---------------------------------------------------------------------- traced paths
def _branch_points(base, branch: int) -> np.ndarray:
    """The traced points of `branch` as a float ``(n, 4)`` array (NaN if there are none)."""
    if branch >= len(base.xyzr):
        return np.full((1, 4), np.nan)
    return np.asarray(base.xyzr[branch], dtype=float).reshape(-1, 4)


def _has_coordinates(pts: np.ndarray) -> bool:
    return len(pts) > 0 and not np.isnan(pts[:, :3]).any()


def arc_fractions(pts: np.ndarray) -> np.ndarray:
    """Cumulative path length of the traced points, divided by the total (zeros if 0)."""
    seg = np.linalg.norm(np.diff(pts[:, :3], axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    return arc / arc[-1] if arc[-1] > 0 else arc


def interpolate_path(pts: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Points (x, y, z, r) at the given fractions of the path length of `pts`."""
    fractions = np.asarray(fractions, dtype=float)
    if len(pts) == 1:
        return np.repeat(pts, fractions.size, axis=0)
    arc = arc_fractions(pts)
    return np.stack([np.interp(fractions, arc, pts[:, d]) for d in range(4)], axis=-1)


def sub_path(pts: np.ndarray, start: float, stop: float) -> np.ndarray:
    """The traced path between fractions `start` < `stop` of its length, with its ends."""
    if len(pts) == 1:
        return pts.copy()
    arc = arc_fractions(pts)
    inner = pts[(arc > start) & (arc < stop)]
    ends = interpolate_path(pts, np.asarray([start, stop]))
    return np.concatenate([ends[:1], inner, ends[1:]])


def _runs(local: np.ndarray) -> list[tuple[int, int]]:
    """Runs of consecutive integers in sorted `local` as ``(first, last)`` pairs."""
    breaks = np.flatnonzero(np.diff(local) != 1)
    firsts = np.concatenate([[0], breaks + 1])
    lasts = np.concatenate([breaks, [len(local) - 1]])
    return [(int(local[a]), int(local[b])) for a, b in zip(firsts, lasts)]


# ---------------------------------------------------------------------- layout
def _tree_levels(parents: np.ndarray) -> np.ndarray:
    levels = np.zeros(len(parents), dtype=int)
    for b, p in enumerate(parents):
        levels[b] = 0 if p < 0 else levels[p] + 1
    return levels


def _sideways_offsets(parents: np.ndarray) -> np.ndarray:
    """Per branch, the y-offset per unit x of its direction (children fan out)."""
    levels = _tree_levels(parents)
    spread = np.linspace(_SPREAD_ROOT, _SPREAD_LEAF, int(levels.max()) + 1)
    offsets = np.zeros(len(parents))
    for p in np.unique(parents[parents >= 0]):
        children = np.flatnonzero(parents == p)
        if len(children) > 1:
            rank = np.arange(len(children)) / (len(children) - 1) - 0.5
            offsets[children] = rank * spread[levels[children]]
    return offsets


def compute_xyz(module) -> None:
    """Lay out the branches that have no coordinates yet, in the xy-plane.

    Each such branch becomes a straight line as long as its compartments together,
    starting at the end of its parent (roots at the origin); the children of a
    branch fan out symmetrically, less so deeper in the tree. The radius of the
    line is the mean compartment radius. Traced branches are left untouched.
    """
    base = module.base
    nodes = base.nodes
    nbranches = int(nodes["global_branch_index"].max()) + 1
    parents = np.full(nbranches, -1, dtype=int)
    parents[: len(base.branch_parents)] = np.asarray(base.branch_parents, dtype=int)[:nbranches]
    grouped = nodes.groupby("global_branch_index")
    lengths = grouped["length"].sum().reindex(range(nbranches), fill_value=0.0).to_numpy()
    radii = grouped["radius"].mean().reindex(range(nbranches), fill_value=1.0).to_numpy()
    offsets = _sideways_offsets(parents)
    xyzr = [_branch_points(base, b) for b in range(nbranches)]
    laid_out = []
    for b in range(nbranches):
        if _has_coordinates(xyzr[b]):
            continue
        start = xyzr[parents[b]][-1, :3] if parents[b] >= 0 else np.zeros(3)
        direction = np.asarray([1.0, offsets[b], 0.0]) / np.hypot(1.0, offsets[b])
        end = start + lengths[b] * direction
        xyzr[b] = np.asarray([[*start, radii[b]], [*end, radii[b]]])
        laid_out.append(b)
    base.xyzr = xyzr
    _write_centres(base, laid_out)


def ensure_coordinates(module) -> None:
    """Run :func:`compute_xyz` if any branch of the base module lacks coordinates."""
    base = module.base
    nbranches = int(base.nodes["global_branch_index"].max()) + 1
    if not all(_has_coordinates(_branch_points(base, b)) for b in range(nbranches)):
        compute_xyz(base)


def _write_centres(base, branches) -> None:
    nodes = base.nodes
    branch_of = nodes["global_branch_index"].to_numpy()
    xyz = nodes[["x", "y", "z"]].to_numpy(dtype=float, copy=True)
    for b in branches:
        pts = _branch_points(base, b)
        rows = np.flatnonzero(branch_of == b)
        if len(rows) == 0 or not _has_coordinates(pts):
            continue
        xyz[rows] = interpolate_path(pts, (np.arange(len(rows)) + 0.5) / len(rows))[:, :3]
    nodes[["x", "y", "z"]] = xyz


def compute_compartment_centers(module) -> None:
    """Write the compartment centres along each branch's traced path into ``nodes``.

    Compartments split a branch into equal path lengths; branches without
    coordinates are skipped.
    """
    base = module.base
    for col in "xyz":
        if col not in base.nodes:
            base.nodes[col] = np.nan
    _write_centres(base, np.unique(base.nodes["global_branch_index"].to_numpy()))


# ---------------------------------------------------------------------- geometry in view
def _fill_radius(pts: np.ndarray, fallback: float) -> np.ndarray:
    pts = pts.copy()
    pts[np.isnan(pts[:, 3]), 3] = fallback
    return pts


def branch_geometry(pts: np.ndarray, rows, local: np.ndarray, branch: int = 0) -> BranchGeometry:
    """Geometry of the compartments `local` (sorted local indices) of one branch.

    `pts` are the branch's traced points, `rows` its rows of ``nodes`` (all its
    compartments, in local order).
    """
    ncomp = len(rows)
    pts = _fill_radius(pts, float(rows["radius"].mean()))
    single = len(pts) == 1 or not np.any(np.std(pts[:, :3], axis=0) > 0.0)
    if len(local) == ncomp or single:
        pieces = [pts]
    else:
        pieces = [sub_path(pts, a / ncomp, (b + 1) / ncomp) for a, b in _runs(local)]
    ends = interpolate_path(pts, np.arange(ncomp + 1) / ncomp)[:, :3]
    centres = interpolate_path(pts, (local + 0.5) / ncomp)[:, :3]
    return BranchGeometry(
        index=int(branch),
        pieces=pieces,
        comp_start=ends[local],
        comp_end=ends[local + 1],
        comp_centre=centres,
        comp_length=rows["length"].to_numpy(dtype=float)[local],
        comp_radius=rows["radius"].to_numpy(dtype=float)[local],
        single_point=bool(single),
    )


def geometry_in_view(module) -> list[BranchGeometry]:
    """Per viewed branch (ascending global index), the geometry of what is in view.

    Branches without coordinates are laid out first (:func:`ensure_coordinates`).
    """
    ensure_coordinates(module)
    base = module.base
    viewed = module._view_nodes[["global_branch_index", "local_comp_index"]].to_numpy(dtype=int)
    wanted = np.unique(viewed[:, 0])
    nodes = base.nodes
    rows_of = {
        int(b): rows.sort_values("local_comp_index")
        for b, rows in nodes[nodes["global_branch_index"].isin(wanted)].groupby(
            "global_branch_index"
        )
    }
    viewed = np.unique(viewed, axis=0)  # sorted by branch, then by compartment
    firsts = np.unique(viewed[:, 0], return_index=True)[1]
    out = []
    for b, local in zip(wanted, np.split(viewed[:, 1], firsts[1:])):
        pts = _branch_points(base, int(b))
        out.append(branch_geometry(pts, rows_of[int(b)], local, int(b)))
    return out
