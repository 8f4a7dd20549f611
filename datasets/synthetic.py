"""Synthetic current-clamp recordings with known ground truth, simulated with ``sim``.

Every generator builds a small model with ``sim`` (``import sim as jx``), injects a
step current (or a custom ``current=`` array), integrates once with ``jx.integrate``
and returns a :class:`Recording` whose ``meta["truth"]`` holds the parameters that
were set and whose ``hidden`` holds the simulated gates (and the noise-free voltage
``v_clean_mV``). Gaussian observation noise of standard deviation ``noise_std`` (mV)
is added to ``v_mV`` only; it is drawn from ``numpy.random.default_rng(seed)``, so
outputs are deterministic given ``seed``.

Time grid: with the step stimulus, ``jx.step_current(i_delay, i_dur, i_amp, dt, t_max)``
has ``N = int(t_max // dt) + 2`` samples and ``jx.integrate(cell, t_max=t_max)``
returns ``N`` voltages; ``v[k]`` is at ``t = k * dt`` and ``i_nA[k]`` is the current
applied during step ``k -> k + 1`` (the last sample is never applied and is stored
as 0). A custom ``current`` of length ``N`` gives ``N`` samples the same way (it
overrides ``t_max``, ``i_amp``, ``i_delay`` and ``i_dur``).

Precision: the outputs are float64 numpy arrays, but the simulation runs in JAX's
default precision. Enable ``jax.config.update("jax_enable_x64", True)`` before calling
a generator for float64 simulations (recorded in ``meta["x64"]``); the generators do
not change this global setting themselves.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

import sim as jx
from datasets.recording import Recording
from sim.channels import HH, CaL, CaT, K, Km, Leak, Na

__all__ = [
    "EMBEDDED_TRUTH",
    "HH_DEFAULTS",
    "POSPISCHIL_DEFAULTS",
    "embedded_example",
    "hh_compartment",
    "make_branched_hh_cell",
    "make_hh_cell",
    "make_pospischil_cell",
    "pospischil_compartment",
    "small_multicompartment_cell",
]

HH_DEFAULTS = {"HH_gNa": 0.12, "HH_gK": 0.036, "HH_gLeak": 3e-4}
"""Conductances (S/cm²) of ``sim.channels.HH``; the truth when ``params`` is None."""

EMBEDDED_TRUTH = {"HH_gNa": 0.1, "HH_gK": 0.04, "HH_gLeak": 4e-4}
"""Ground truth of :func:`embedded_example` (deliberately away from HH_DEFAULTS)."""

POSPISCHIL_DEFAULTS = {"Na_gNa": 0.05, "K_gK": 5e-3, "Km_gKm": 7e-5, "Leak_gLeak": 1e-4}
"""Conductances (S/cm²) used by :func:`pospischil_compartment` unless overridden.

Na, K and Leak are the channel defaults; ``Km_gKm`` is 7e-5 (the fitted value used
for cortical cells, e.g. in Gonçalves et al. 2020) instead of the channel's 4e-6."""

_POSPISCHIL = {"Na": Na, "K": K, "Km": Km, "Leak": Leak, "CaL": CaL, "CaT": CaT}

# A cylinder with length == diameter has the side area of a sphere of that diameter:
# 2*pi*r*L = pi*d**2 = 15394 µm² (~1.5e-4 cm²) for d = 70 µm, a small cortical soma.
SOMA_RADIUS_UM, SOMA_LENGTH_UM = 35.0, 70.0


def _apply(cell, params: dict[str, float]) -> None:
    for key, value in params.items():
        cell.set(key, value)


def make_hh_cell(params: dict[str, float] | None = None):
    """One-compartment ``jx.Cell()`` (radius 1 µm, length 10 µm) with HH, at rest.

    `params` are applied with ``cell.set`` after inserting ``HH``; then
    ``cell.init_states()`` puts the gates at their steady state at -70 mV.
    """
    cell = jx.Cell()
    cell.insert(HH())
    _apply(cell, params or {})
    cell.init_states()
    return cell


def make_pospischil_cell(
    params: dict[str, float] | None = None,
    channels: Sequence[str] = ("Na", "K", "Km", "Leak"),
    radius: float = SOMA_RADIUS_UM,
    length: float = SOMA_LENGTH_UM,
):
    """One-compartment soma-sized cell with Pospischil et al. (2008) channels."""
    unknown = [c for c in channels if c not in _POSPISCHIL]
    if unknown or not channels:
        raise ValueError(
            f"channels must be a non-empty subset of {sorted(_POSPISCHIL)}, got {channels!r}."
        )
    cell = jx.Cell()
    cell.set("radius", radius)
    cell.set("length", length)
    for name in dict.fromkeys(channels):
        cell.insert(_POSPISCHIL[name]())
    _apply(cell, params or {})
    cell.init_states()
    return cell


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def make_branched_hh_cell(
    params: dict[str, float] | None = None, nbranches: int = 3, ncomp: int = 2
):
    """Branched HH cell: branch ``b > 0`` hangs off branch ``(b - 1) // 2`` (a binary
    tree; 3 branches = a soma-side root with two children), ``ncomp`` default
    compartments (radius 1 µm, length 10 µm) per branch."""
    nbranches, ncomp = _check_count("nbranches", nbranches), _check_count("ncomp", ncomp)
    parents = [-1] + [(b - 1) // 2 for b in range(1, nbranches)]
    cell = jx.Cell(jx.Branch(jx.Compartment(), ncomp=ncomp), parents=parents)
    cell.insert(HH())
    _apply(cell, params or {})
    cell.init_states()
    return cell


def _step(t_max, dt, i_amp, i_delay, i_dur) -> tuple[np.ndarray, float | None, float | None]:
    """Step current of ``jx.step_current`` (float64) and its sample-aligned on/off."""
    current = np.asarray(jx.step_current(i_delay, i_dur, i_amp, dt, t_max), dtype=np.float64)
    last = current.size - 1  # the last sample is never applied
    start, stop = int(i_delay / dt), int((i_delay + i_dur) / dt)
    if start >= last:  # the step begins after the simulated window
        return current, None, None
    return current, start * dt, min(stop, last) * dt


def _stimulus(current, t_max, dt, i_amp, i_delay, i_dur):
    """``(current, stim_on_ms, stim_off_ms)`` from a custom array or the step args."""
    if not (isinstance(dt, (int, float, np.floating)) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive, finite time step in ms, got {dt!r}.")
    if current is None:
        return _step(t_max, dt, i_amp, i_delay, i_dur)
    arr = np.asarray(current, dtype=np.float64)
    if arr.ndim != 1 or arr.size < 2 or not np.isfinite(arr).all():
        raise ValueError(
            "current must be a finite 1-D array of at least 2 samples (nA, one per time "
            f"step), got shape {arr.shape}."
        )
    nonzero = np.flatnonzero(arr[:-1])
    if nonzero.size == 0:
        return arr, None, None
    return arr, float(nonzero[0] * dt), float((nonzero[-1] + 1) * dt)


def _simulate(cell, stim_site, records, stim, dt, noise_std, seed, meta) -> Recording:
    """Stimulate, record, integrate once, add noise; `records` = [(label, view, state)]
    with the observed voltage first."""
    current, on, off = stim
    if not (math.isfinite(noise_std) and noise_std >= 0):
        raise ValueError(f"noise_std must be a finite number >= 0 (mV), got {noise_std!r}.")
    stim_site.stimulate(current[:-1], verbose=False)
    for _, view, state in records:
        view.record(state, verbose=False)
    out = np.asarray(jx.integrate(cell, delta_t=dt), dtype=np.float64)
    v_clean = out[0]
    noise = np.random.default_rng(seed).standard_normal(v_clean.size)
    applied = current.copy()
    applied[-1] = 0.0
    hidden = {"v_clean_mV": v_clean}
    hidden.update({label: row for (label, _, _), row in zip(records[1:], out[1:])})
    meta = {
        "source": "synthetic",
        **meta,
        "noise_std": float(noise_std),
        "seed": seed,
        "x64": bool(jax.config.jax_enable_x64),
    }
    return Recording(
        v_mV=v_clean + noise_std * noise,
        i_nA=applied,
        dt_ms=float(dt),
        stim_on_ms=on,
        stim_off_ms=off,
        meta=meta,
        hidden=hidden,
    )


def _gate_records(cell, channels, view=None, suffix: str = "") -> list:
    """``(label, view, state)`` for every state of `channels` (e.g. ``HH_m``)."""
    view = cell if view is None else view
    return [(f"{s}{suffix}", view, s) for ch in channels for s in ch.channel_states]


def _truth(defaults: dict[str, float], params: dict[str, float] | None) -> dict[str, float]:
    if params is not None and not isinstance(params, dict):
        raise TypeError(f"params must be a dict of parameter name -> value, got {params!r}.")
    return {k: float(v) for k, v in {**defaults, **(params or {})}.items()}


def hh_compartment(
    params: dict[str, float] | None = None,
    *,
    t_max: float = 50.0,
    dt: float = 0.025,
    i_amp: float = 0.02,
    i_delay: float = 5.0,
    i_dur: float = 40.0,
    current: np.ndarray | None = None,
    noise_std: float = 1.0,
    seed: int = 0,
) -> Recording:
    """Single-compartment Hodgkin-Huxley recording (see :func:`make_hh_cell`).

    ``meta["truth"]`` is :data:`HH_DEFAULTS` updated with `params` (any settable
    key may be given, e.g. ``"HH_eLeak"``); ``hidden`` holds ``HH_m``, ``HH_h``,
    ``HH_n`` and ``v_clean_mV``. Stimulus and time grid: see the module docstring.
    """
    truth = _truth(HH_DEFAULTS, params)
    cell = make_hh_cell(truth)
    records = [("v", cell, "v"), *_gate_records(cell, [HH()])]
    stim = _stimulus(current, t_max, dt, i_amp, i_delay, i_dur)
    meta = {"generator": "hh_compartment", "truth": truth, "radius_um": 1.0, "length_um": 10.0}
    return _simulate(cell, cell, records, stim, dt, noise_std, seed, meta)


def pospischil_compartment(
    params: dict[str, float] | None = None,
    *,
    channels: Sequence[str] = ("Na", "K", "Km", "Leak"),
    radius: float = SOMA_RADIUS_UM,
    length: float = SOMA_LENGTH_UM,
    t_max: float = 120.0,
    dt: float = 0.025,
    i_amp: float = 0.3,
    i_delay: float = 10.0,
    i_dur: float = 100.0,
    current: np.ndarray | None = None,
    noise_std: float = 1.0,
    seed: int = 0,
) -> Recording:
    """Single-compartment cortical-neuron recording with Pospischil et al. (2008) channels.

    The compartment is a cylinder of radius 35 µm and length 70 µm: its side area,
    ~1.54e-4 cm², equals that of a 70 µm spherical soma. With the defaults it fires
    a few spikes for the 0.3 nA, 100 ms step. ``meta["truth"]`` is the subset of
    :data:`POSPISCHIL_DEFAULTS` for the inserted `channels`, updated with `params`;
    ``hidden`` holds every channel state (``Na_m``, ``Na_h``, ``K_n``, ``Km_p``, ...).
    """
    prefixes = tuple(f"{c}_" for c in channels)
    defaults = {k: v for k, v in POSPISCHIL_DEFAULTS.items() if k.startswith(prefixes)}
    truth = _truth(defaults, params)
    cell = make_pospischil_cell(truth, channels, radius, length)
    instances = [_POSPISCHIL[c]() for c in dict.fromkeys(channels)]
    records = [("v", cell, "v"), *_gate_records(cell, instances)]
    stim = _stimulus(current, t_max, dt, i_amp, i_delay, i_dur)
    meta = {
        "generator": "pospischil_compartment",
        "truth": truth,
        "channels": list(dict.fromkeys(channels)),
        "radius_um": float(radius),
        "length_um": float(length),
    }
    return _simulate(cell, cell, records, stim, dt, noise_std, seed, meta)


def small_multicompartment_cell(
    params: dict[str, float] | None = None,
    *,
    nbranches: int = 3,
    ncomp: int = 2,
    record_at: Sequence[tuple[int, int]] = (),
    t_max: float = 50.0,
    dt: float = 0.025,
    i_amp: float = 0.05,
    i_delay: float = 5.0,
    i_dur: float = 40.0,
    current: np.ndarray | None = None,
    noise_std: float = 1.0,
    seed: int = 0,
) -> Recording:
    """Small branched HH cell (see :func:`make_branched_hh_cell`), stimulated and
    recorded in the soma (branch 0, compartment 0). With the defaults (0.05 nA for
    40 ms) the soma fires a few spikes; much stronger steps drive the small soma into
    depolarisation block (one spike, then a plateau).

    ``hidden`` holds the soma gates ``HH_m``/``HH_h``/``HH_n``, ``v_clean_mV`` and,
    for each ``(branch, comp)`` in `record_at`, the noise-free voltage there as
    ``v_b{branch}_c{comp}``. ``meta["truth"]`` is :data:`HH_DEFAULTS` updated with
    `params` (set on every compartment).
    """
    truth = _truth(HH_DEFAULTS, params)
    cell = make_branched_hh_cell(truth, nbranches, ncomp)
    soma = cell.branch(0).comp(0)
    records = [("v", soma, "v"), *_gate_records(cell, [HH()], soma)]
    for b, c in record_at:
        records.append((f"v_b{b}_c{c}", cell.branch(b).comp(c), "v"))
    stim = _stimulus(current, t_max, dt, i_amp, i_delay, i_dur)
    meta = {
        "generator": "small_multicompartment_cell",
        "truth": truth,
        "nbranches": int(nbranches),
        "ncomp": int(ncomp),
    }
    return _simulate(cell, soma, records, stim, dt, noise_std, seed, meta)


def embedded_example() -> Recording:
    """The flagship demo dataset, generated on the fly (no files needed).

    HH compartment with truth :data:`EMBEDDED_TRUTH` (gNa 0.1, gK 0.04, gLeak 4e-4
    S/cm²), 50 ms at dt = 0.025 ms, 0.02 nA step from 5 to 45 ms, noise σ = 1 mV,
    seed 0.
    """
    rec = hh_compartment(
        EMBEDDED_TRUTH,
        t_max=50.0,
        dt=0.025,
        i_amp=0.02,
        i_delay=5.0,
        i_dur=40.0,
        noise_std=1.0,
        seed=0,
    )
    return dataclasses.replace(rec, meta={**rec.meta, "name": "embedded_example"})
