"""Per-compartment geometry of a 3-D section, computed the way NEURON does.

NEURON (``nrn_area_ri`` / ``diam_from_list`` in ``treeset.cpp``) stores 3-D points in
single precision, accumulates the arc length in double precision from the
single-precision coordinate differences, and integrates over each half segment the
piecewise-linear diameter ``d(s)`` sampled at the 3-D points (and interpolated at the
segment boundaries and centres):

* area = sum of frustum side areas ``pi/2 (d1 + d2) sqrt(ds^2 + ((d2 - d1)/2)^2)``,
* resistance of a half segment = ``4 Ra / pi * sum ds / (d1 d2)`` (exact for linear
  ``d``), and
* ``diam`` = the length-weighted mean diameter of the segment.

The resistance ``seg.ri()`` NEURON reports for segment ``j > 0`` is the right half of
segment ``j - 1`` plus the left half of segment ``j``; for ``j = 0`` it is the left half
only (the connection to the parent goes through the parent's end node).
:func:`compartment_geometry` returns the two halves separately as pure geometric
factors ``res = integral ds / (pi r(s)^2)`` in 1/µm, so that a resistance in MΩ is
``Ra[Ω·cm] * 1e-2 * res``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "arc_lengths",
    "compartment_geometry",
    "cylinder_geometry",
    "neuron_ri",
]


def arc_lengths(xyz, neuron_precision: bool = True) -> np.ndarray:
    """Cumulative arc length (µm) at each 3-D point, as NEURON's ``arc3d``.

    With ``neuron_precision`` the coordinates are rounded to single precision and the
    differences taken in single precision, as NEURON does; the sum is in double.
    """
    xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    if neuron_precision:
        diff = np.diff(xyz.astype(np.float32), axis=0).astype(np.float64)
    else:
        diff = np.diff(xyz, axis=0)
    dx, dy, dz = diff[:, 0], diff[:, 1], diff[:, 2]
    seg = np.sqrt(dx * dx + dy * dy + dz * dz)
    return np.concatenate([[0.0], np.cumsum(seg)])


def _half_integrals(arc: list, diam: list, ncomp: int) -> np.ndarray:
    """NEURON's trapezoid sweep; rows: (diam*len sum, area sum, ri left, ri right)."""
    npt = len(arc)
    ds = arc[-1] / ncomp
    out = np.zeros((ncomp, 4))
    j, x1, y1 = 0, arc[0], diam[0]
    for inode in range(ncomp):
        si = inode * ds
        dsum = area = 0.0
        for half in (0, 1):
            ri = 0.0
            sip = si + ds / 2.0
            while True:
                xj, xjp = arc[j], arc[j + 1]
                if xjp > sip or j + 1 == npt - 1:
                    frac = 1.0 if abs(xjp - xj) < 1e-10 else (sip - xj) / (xjp - xj)
                    x2, y2, jnext = sip, (1.0 - frac) * diam[j] + frac * diam[j + 1], j
                else:
                    x2, y2, jnext = xjp, diam[j + 1], j + 1
                delta = x2 - x1
                dsum += (y2 + y1) * delta
                delta = max(delta, 1e-15)
                temp = y2 * y1 / delta
                ri += 1.0 / (temp if temp != 0.0 else 1e-15)
                taper = 0.5 * (y2 - y1)
                area += (y2 + y1) * math.sqrt(delta * delta + taper * taper)
                x1, y1 = x2, y2
                if j == jnext:
                    break
                j = jnext
            out[inode, 2 + half] = ri
            si = sip
        out[inode, 0], out[inode, 1] = dsum, area
    return out


def compartment_geometry(
    xyz, radius, ncomp: int, neuron_precision: bool = True
) -> dict[str, np.ndarray]:
    """Geometry of ``ncomp`` equal-length compartments of a section with 3-D points.

    Args:
        xyz: (n, 3) 3-D points in µm (n >= 2).
        radius: (n,) radii at the points in µm.
        ncomp: number of compartments (NEURON's ``nseg``).
        neuron_precision: round the points to single precision like NEURON.

    Returns a dict of (ncomp,) arrays: ``length`` (µm), ``radius`` (µm, NEURON's
    ``seg.diam / 2``), ``area`` (µm², ``seg.area()``), ``res_lower`` and ``res_upper``
    (1/µm: ``integral ds / (pi r^2)`` from the compartment's start to its centre and
    from its centre to its end), and ``xyz`` ((ncomp, 3) compartment centres).
    """
    xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    radius = np.asarray(radius, dtype=np.float64).reshape(-1)
    ncomp = int(ncomp)
    if xyz.shape[0] < 2 or radius.shape[0] != xyz.shape[0] or ncomp < 1:
        raise ValueError(
            "compartment_geometry needs >= 2 points, one radius per point and ncomp"
            f" >= 1; got {xyz.shape[0]} points, {radius.shape[0]} radii, ncomp={ncomp}"
        )
    diam = 2.0 * radius
    if neuron_precision:
        diam = diam.astype(np.float32).astype(np.float64)
    arc = arc_lengths(xyz, neuron_precision)
    sums = _half_integrals(arc.tolist(), np.abs(diam).tolist(), ncomp)
    ds = arc[-1] / ncomp
    mean_diam = sums[:, 0] * 0.5 / ds if ds > 0 else np.full(ncomp, np.mean(diam))
    centres = (np.arange(ncomp) + 0.5) * ds
    pos = xyz.astype(np.float32).astype(np.float64) if neuron_precision else xyz
    return {
        "length": np.full(ncomp, ds),
        "radius": mean_diam / 2.0,
        "area": sums[:, 1] * 0.5 * math.pi,
        "res_lower": sums[:, 2] * 4.0 / math.pi,
        "res_upper": sums[:, 3] * 4.0 / math.pi,
        "xyz": np.stack([np.interp(centres, arc, pos[:, c]) for c in range(3)], 1),
    }


def cylinder_geometry(radius: float, length: float, ncomp: int) -> dict[str, np.ndarray]:
    """The same quantities for a plain cylinder (NEURON section without 3-D points).

    Compartment centres lie on the x axis, starting at the origin.
    """
    ncomp = int(ncomp)
    if not (radius > 0 and length >= 0 and ncomp >= 1):
        raise ValueError(f"bad cylinder radius={radius}, length={length}, ncomp={ncomp}")
    dx = length / ncomp
    half = (dx / 2.0) / (math.pi * radius * radius)
    centres = (np.arange(ncomp) + 0.5) * dx
    return {
        "length": np.full(ncomp, dx),
        "radius": np.full(ncomp, float(radius)),
        "area": np.full(ncomp, 2.0 * math.pi * radius * dx),
        "res_lower": np.full(ncomp, half),
        "res_upper": np.full(ncomp, half),
        "xyz": np.stack([centres, np.zeros(ncomp), np.zeros(ncomp)], axis=1),
    }


def neuron_ri(geom: dict[str, np.ndarray], axial_resistivity: float) -> np.ndarray:
    """NEURON's ``seg.ri()`` (MΩ) for each compartment of one section.

    Compartment 0: its own first half (NEURON's resistance to the section's start
    node); compartment j > 0: second half of j - 1 plus first half of j.
    """
    res = np.asarray(geom["res_lower"], dtype=float).copy()
    res[1:] += np.asarray(geom["res_upper"], dtype=float)[:-1]
    return axial_resistivity * 1e-2 * res
