"""Shapes of neurites as plotted: 2-D outlines of projected solids and 3-D surface meshes.

All functions are pure numpy. ``dims`` picks the coordinates (0 = x, 1 = y, 2 = z)
that span the drawing plane (two of them) or the 3-D axes (three of them).
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-12


def circle(centre: np.ndarray, radius: float, n: int) -> np.ndarray:
    """``n`` points on the circle of `radius` around the 2-D `centre`."""
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return np.asarray(centre, dtype=float) + radius * np.stack([np.cos(t), np.sin(t)], -1)


def capsule_outlines(p1: np.ndarray, r1: np.ndarray, p2: np.ndarray, r2: np.ndarray, n: int):
    """Outlines of the convex hulls of disc pairs (``p1[i]``, ``r1[i]``), (``p2[i]``, ``r2[i]``).

    This is the projection of a traced segment drawn as a cone frustum closed by
    a ball at each end. Returns ``(m, 2 n, 2)`` polygons: an arc of ``n`` points
    around the second disc, then one around the first; where one disc contains
    the other, the outline is the larger circle.
    """
    p1, p2 = np.atleast_2d(p1).astype(float), np.atleast_2d(p2).astype(float)
    r1, r2 = np.atleast_1d(r1).astype(float), np.atleast_1d(r2).astype(float)
    d = p2 - p1
    dist = np.linalg.norm(d, axis=1)
    heading = np.arctan2(d[:, 1], d[:, 0])
    nested = dist <= np.abs(r1 - r2) + _EPS
    cos_half = np.clip((r1 - r2) / np.where(nested, 1.0, dist), -1.0, 1.0)
    half = np.where(nested, np.pi, np.arccos(cos_half))
    s = np.linspace(-1.0, 1.0, n)
    front = heading[:, None] + half[:, None] * s  # arc around disc 2, towards p2
    back = heading[:, None] + np.pi + (np.pi - half)[:, None] * s  # around disc 1
    big_is_2 = nested & (r2 >= r1)
    big_is_1 = nested & ~big_is_2
    centre_a = np.where(big_is_1[:, None], p1, p2)
    centre_b = np.where(big_is_2[:, None], p2, p1)
    rad_a = np.where(big_is_1, r1, r2)[:, None, None]
    rad_b = np.where(big_is_2, r2, r1)[:, None, None]
    arc_a = centre_a[:, None] + rad_a * np.stack([np.cos(front), np.sin(front)], -1)
    arc_b = centre_b[:, None] + rad_b * np.stack([np.cos(back), np.sin(back)], -1)
    return np.concatenate([arc_a, arc_b], axis=1)


def _view_axis(dims) -> np.ndarray:
    """Unit vector of the coordinate that a 2-D projection onto `dims` drops."""
    w = np.zeros(3)
    w[[k for k in range(3) if k not in tuple(dims)][0]] = 1.0
    return w


def _perpendicular(axis: np.ndarray) -> np.ndarray:
    """Some unit vector perpendicular to the unit vector `axis`."""
    trial = np.eye(3)[int(np.argmin(np.abs(axis)))]
    u = np.cross(axis, trial)
    return u / np.linalg.norm(u)


def cylinder_outline(centre, axis, length: float, radius: float, dims, n: int) -> np.ndarray:
    """Outline of a cylinder projected onto the plane `dims` (a polygon, ``(k, 2)``).

    The cylinder is centred at `centre` with its axis along `axis` (any length).
    Seen from the side it is a rectangle (4 corners); tilted towards the viewer its
    ends are half-ellipses (``n`` points each); seen end-on, a circle.
    """
    centre = np.asarray(centre, dtype=float)
    a = np.asarray(axis, dtype=float)
    if np.linalg.norm(a) < _EPS:
        return circle(centre[list(dims)], radius, 2 * n)
    a = a / np.linalg.norm(a)
    w = _view_axis(dims)
    u = np.cross(a, w)
    if np.linalg.norm(u) < 1e-9:
        return circle(centre[list(dims)], radius, 2 * n)
    u /= np.linalg.norm(u)
    v = np.cross(a, u)
    if v[list(dims)] @ a[list(dims)] < 0:
        v = -v
    flat = abs(v @ w) > 1.0 - 1e-12
    t = np.asarray([0.0, np.pi]) if flat else np.linspace(0.0, np.pi, n)
    ring = np.cos(t)[:, None] * u + np.sin(t)[:, None] * v
    far = centre + 0.5 * length * a + radius * ring
    near = centre - 0.5 * length * a - radius * ring
    return np.concatenate([far, near])[:, list(dims)]


def cylinder_mesh(centre, axis, length: float, radius: float, n: int) -> np.ndarray:
    """Surface of a cylinder as a ``(3, 2, n)`` grid (rows: the two end rings)."""
    a = np.asarray(axis, dtype=float)
    a = a / np.linalg.norm(a) if np.linalg.norm(a) > _EPS else np.asarray([0.0, 0.0, 1.0])
    u = _perpendicular(a)
    v = np.cross(a, u)
    t = np.linspace(0.0, 2.0 * np.pi, n)
    ring = radius * (np.cos(t)[:, None] * u + np.sin(t)[:, None] * v)
    ends = np.asarray(centre, dtype=float) + np.outer([-0.5 * length, 0.5 * length], a)
    grid = ends[:, None, :] + ring[None, :, :]
    return np.moveaxis(grid, -1, 0)


def sphere_mesh(centre, radius: float, n: int) -> np.ndarray:
    """Surface of a sphere as a ``(3, n, n)`` grid."""
    phi, theta = np.meshgrid(np.linspace(0.0, np.pi, n), np.linspace(0.0, 2.0 * np.pi, n))
    unit = np.stack([np.sin(phi) * np.cos(theta), np.sin(phi) * np.sin(theta), np.cos(phi)])
    return np.asarray(centre, dtype=float)[:, None, None] + radius * unit


def tube_mesh(points: np.ndarray, n: int) -> np.ndarray | None:
    """Surface of a traced path (x, y, z, r rows) as frustums, a ``(3, 2 s, n)`` grid.

    Every segment of non-zero length contributes the ring at its start and the
    ring at its end (perpendicular to the segment); rings are carried from one
    segment to the next without twisting, and consecutive segments are joined.
    ``None`` if no segment has a length.
    """
    xyz, r = points[:, :3], points[:, 3]
    d = np.diff(xyz, axis=0)
    keep = np.flatnonzero(np.linalg.norm(d, axis=1) > _EPS)
    if len(keep) == 0:
        return None
    t = np.linspace(0.0, 2.0 * np.pi, n)
    rows = []
    u = None
    for k in keep:
        a = d[k] / np.linalg.norm(d[k])
        u = _perpendicular(a) if u is None else u - (u @ a) * a
        u = u / np.linalg.norm(u) if np.linalg.norm(u) > 1e-6 else _perpendicular(a)
        ring = np.cos(t)[:, None] * u + np.sin(t)[:, None] * np.cross(a, u)
        rows += [xyz[k] + r[k] * ring, xyz[k + 1] + r[k + 1] * ring]
    return np.moveaxis(np.asarray(rows), -1, 0)
