"""NEURON's d_lambda rule for choosing the number of compartments of a section."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["d_lambda_ncomp", "lambda_f"]


def lambda_f(
    length: float,
    radius,
    axial_resistivity: float,
    capacitance: float,
    frequency: float = 100.0,
    arc=None,
) -> float:
    """AC length constant (µm) at ``frequency`` (Hz), as NEURON's ``lambda_f``.

    For a cylinder (scalar ``radius``): ``1e5 * sqrt(d / (4 pi f Ra cm))``. With 3-D
    points (``radius`` per point and their cumulative ``arc`` lengths), as NEURON's
    ``stdlib.hoc``: the section's electrotonic length is summed over the frusta,
    ``sum ds / sqrt(d1 + d2) * sqrt(2) * 1e-5 * sqrt(4 pi f Ra cm)``, and
    ``length`` divided by it. Returns ``1e10`` when ``capacitance`` is 0 and ``inf``
    for a zero-length 3-D section.
    """
    if capacitance == 0:
        return 1e10
    k = 4.0 * math.pi * frequency * axial_resistivity * capacitance
    if not k > 0 or np.any(np.asarray(radius) <= 0):
        raise ValueError("lambda_f needs positive radius, Ra, frequency and cm")
    if arc is None or np.size(radius) < 2:
        diam = 2.0 * float(np.mean(radius))
        return 1e5 * math.sqrt(diam / k)
    diam = 2.0 * np.asarray(radius, dtype=float)
    arc = np.asarray(arc, dtype=float)
    lam = float(np.cumsum(np.diff(arc) / np.sqrt(diam[:-1] + diam[1:]))[-1])  # in order
    lam *= math.sqrt(2.0) * 1e-5 * math.sqrt(k)
    return length / lam if lam > 0 else math.inf


def d_lambda_ncomp(
    length: float,
    radius,
    axial_resistivity: float,
    capacitance: float,
    frequency: float = 100.0,
    d_lambda: float = 0.1,
    arc=None,
) -> int:
    """Odd number of compartments so that each is at most ``d_lambda`` of lambda_f.

    NEURON's rule (``fixnseg.hoc``): ``int((L / (d_lambda * lambda_f) + 0.9) / 2) * 2
    + 1``. Units: µm, µm, Ω·cm, µF/cm², Hz. See :func:`lambda_f` for ``arc``.
    """
    if not d_lambda > 0:
        raise ValueError(f"d_lambda must be positive, got {d_lambda}")
    lam = lambda_f(length, radius, axial_resistivity, capacitance, frequency, arc)
    return int((length / (d_lambda * lam) + 0.9) / 2) * 2 + 1
