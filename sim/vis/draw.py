"""Drawing a module's morphology with matplotlib: one function per plot type.

Each drawer gets the Axes, the per-branch geometry in view
(:func:`sim.modules.layout.geometry_in_view`), the colour, the coordinates to
draw and the keyword arguments for matplotlib. Artists made per type:

* ``line``: one ``Line2D`` per branch through its traced points (a disc patch for
  a branch traced as a single point);
* ``scatter``: one ``PathCollection`` per branch with its traced points;
* ``comp``: one filled polygon per compartment, the outline of its cylinder
  (a disc per single-point branch); in 3-D one surface per compartment;
* ``morph``: one ``PolyCollection`` per branch, a frustum with ball ends per traced
  segment; in 3-D (and for ``volume``) one surface per branch.
"""

from __future__ import annotations

import numpy as np

from sim.modules.layout import BranchGeometry
from sim.vis.outlines import (
    capsule_outlines,
    cylinder_mesh,
    cylinder_outline,
    sphere_mesh,
    tube_mesh,
)

#: Points per half circle in 2-D outlines and around 3-D surfaces, unless
#: ``resolution`` is passed.
DEFAULT_RESOLUTION_2D = 25
DEFAULT_RESOLUTION_3D = 12


def _joined(pieces: list[np.ndarray]) -> np.ndarray:
    """The pieces' points in one array, NaN rows between pieces (lines break there)."""
    gap = np.full((1, 4), np.nan)
    parts = []
    for k, piece in enumerate(pieces):
        parts += [gap, piece] if k else [piece]
    return np.concatenate(parts)


def _disc(ax, centre: np.ndarray, radius: float, dims, **kwargs) -> None:
    """A filled disc (2-D) or a point marker (3-D) where a branch is one traced point."""
    if len(dims) == 3:
        color = kwargs.pop("facecolor", kwargs.pop("color", None))
        ax.plot(*centre[list(dims), None], marker="o", color=color, **kwargs)
        return
    from matplotlib.patches import Circle

    ax.add_patch(Circle(tuple(centre[list(dims)]), radius=radius, **kwargs))


def draw_line(ax, scene: list[BranchGeometry], color, dims, **kwargs) -> None:
    """One line per branch through its traced points in view (a disc for a single point)."""
    for branch in scene:
        if branch.single_point:
            point = branch.pieces[0][0]
            _disc(ax, point[:3], float(point[3]), dims, facecolor=color, **kwargs)
            continue
        points = _joined(branch.pieces)
        ax.plot(*points[:, list(dims)].T, color=color, **kwargs)


def draw_scatter(ax, scene: list[BranchGeometry], color, dims, **kwargs) -> None:
    """One scatter collection per branch with its traced points in view."""
    for branch in scene:
        points = np.concatenate(branch.pieces)
        ax.scatter(*points[:, list(dims)].T, color=color, **kwargs)


def _surface(ax, grid: np.ndarray, dims, color, **kwargs) -> None:
    """A 3-D surface through the ``(3, m, n)`` grid, its axes ordered by `dims`."""
    options = {"rstride": 1, "cstride": 1, "linewidth": 0, **kwargs}
    ax.plot_surface(*grid[list(dims)], color=color, **options)


def draw_comp(
    ax,
    scene: list[BranchGeometry],
    color,
    dims,
    resolution: int | None = None,
    true_comp_length: bool = True,
    **kwargs,
) -> None:
    """Compartments as cylinders of their radius and length, centred on the traced path.

    The axis of a compartment runs from its start to its end on the path;
    ``true_comp_length=False`` draws it as long as that straight distance instead
    of the compartment's length (nicer for winding neurites).
    """
    three_d = len(dims) == 3
    n = resolution or (DEFAULT_RESOLUTION_3D if three_d else DEFAULT_RESOLUTION_2D)
    for branch in scene:
        if branch.single_point:
            point = branch.pieces[0][0]
            if three_d:
                _surface(ax, sphere_mesh(point[:3], float(point[3]), n), dims, color, **kwargs)
            else:
                _disc(ax, point[:3], float(point[3]), dims, color=color, **kwargs)
            continue
        axes = branch.comp_end - branch.comp_start
        straight = np.linalg.norm(axes, axis=1)
        lengths = branch.comp_length if true_comp_length else straight
        for centre, axis, length, radius in zip(
            branch.comp_centre, axes, lengths, branch.comp_radius
        ):
            if three_d:
                grid = cylinder_mesh(centre, axis, float(length), float(radius), n)
                _surface(ax, grid, dims, color, **kwargs)
            else:
                outline = cylinder_outline(centre, axis, float(length), float(radius), dims, n)
                ax.fill(*outline.T, color=color, **kwargs)


def _segment_outlines(piece: np.ndarray, dims, n: int) -> np.ndarray:
    """Frustum-with-ball-ends outlines of a piece's segments of non-zero 3-D length."""
    seg = np.linalg.norm(np.diff(piece[:, :3], axis=0), axis=1)
    keep = np.flatnonzero(seg > 0.0)
    proj = piece[:, list(dims)]
    return capsule_outlines(
        proj[keep], piece[keep, 3], proj[keep + 1], piece[keep + 1, 3], n
    ).reshape(len(keep), -1, 2)


def draw_morph(
    ax, scene: list[BranchGeometry], color, dims, resolution: int | None = None, **kwargs
) -> None:
    """The traced morphology with its radii: frustums between traced points, balls at joints."""
    if len(dims) == 3:
        draw_volume(ax, scene, color, dims, resolution=resolution, **kwargs)
        return
    from matplotlib.collections import PolyCollection

    n = resolution or DEFAULT_RESOLUTION_2D
    for branch in scene:
        if branch.single_point:
            point = branch.pieces[0][0]
            _disc(ax, point[:3], float(point[3]), dims, color=color, **kwargs)
            continue
        polygons = np.concatenate([_segment_outlines(p, dims, n) for p in branch.pieces])
        ax.add_collection(PolyCollection(list(polygons), color=color, **kwargs))
    ax.autoscale_view()


def draw_volume(
    ax, scene: list[BranchGeometry], color, dims, resolution: int | None = None, **kwargs
) -> None:
    """The traced morphology as 3-D surfaces: one tube of frustums per branch."""
    n = resolution or DEFAULT_RESOLUTION_3D
    for branch in scene:
        if branch.single_point:
            point = branch.pieces[0][0]
            _surface(ax, sphere_mesh(point[:3], float(point[3]), n), dims, color, **kwargs)
            continue
        for piece in branch.pieces:
            grid = tube_mesh(piece, n)
            if grid is not None:
                _surface(ax, grid, dims, color, **kwargs)


DRAWERS = {
    "line": draw_line,
    "scatter": draw_scatter,
    "comp": draw_comp,
    "morph": draw_morph,
    "volume": draw_volume,
}
