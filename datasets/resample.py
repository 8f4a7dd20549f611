"""Cutting recordings to a time window and resampling them to a simulation step.

:func:`resample` moves a :class:`~datasets.recording.Recording` to a coarser step
``dt_ms`` that is an integer multiple ``q`` of its own: the voltage goes through an
anti-aliasing FIR low-pass (``scipy.signal.resample_poly``, Kaiser window, cut-off at
the new Nyquist frequency, zero phase, edges padded by a fitted line), the current is
the block mean over each new step (it keeps the injected charge, and a step current
stays a step: no ringing). :func:`prepare` applies an optional ``(t0, t1)`` window
(ms) and then the resampling.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from datasets.recording import Recording

__all__ = ["parse_window", "prepare", "resample"]


def parse_window(text: str) -> tuple[float, float]:
    """``"t0:t1"`` (ms) -> (t0, t1); ValueError unless 0 <= t0 < t1 are finite numbers."""
    parts = text.split(":")
    try:
        t0, t1 = (float(p) for p in parts) if len(parts) == 2 else (None, None)
    except ValueError:
        t0 = t1 = None
    if t0 is None or not (math.isfinite(t0) and math.isfinite(t1)) or not 0 <= t0 < t1:
        raise ValueError(f"--window expects t0:t1 in ms with 0 <= t0 < t1, got {text!r}")
    return t0, t1


def _factor(rec_dt: float, dt_ms: float) -> int:
    q = dt_ms / rec_dt
    if q < 1 - 1e-9:
        raise ValueError(
            f"--dt {dt_ms:g} ms is finer than the recording's step {rec_dt:g} ms; "
            "upsampling is not supported (use --dt >= the recording's dt)"
        )
    if abs(q - round(q)) > 1e-6 * q:
        raise ValueError(
            f"--dt {dt_ms:g} ms must be an integer multiple of the recording's step "
            f"{rec_dt:g} ms (ratio {q:.6g})"
        )
    return int(round(q))


def resample(rec: Recording, dt_ms: float) -> Recording:
    """`rec` on the step `dt_ms` (an integer multiple of ``rec.dt_ms``), anti-aliased."""
    from scipy.signal import resample_poly

    q = _factor(rec.dt_ms, float(dt_ms))
    if q == 1:
        return rec
    coarse = rec.downsample(q)  # block-mean current, v at block starts, metadata
    v = np.asarray(rec.v_mV, dtype=np.float64)
    v_f = resample_poly(v, 1, q, padtype="line")[: len(coarse)]
    meta = {**coarse.meta, "anti_alias": f"resample_poly FIR, factor {q}"}
    return dataclasses.replace(coarse, v_mV=v_f, meta=meta)


def prepare(rec: Recording, window: tuple[float, float] | None, dt_ms: float | None) -> Recording:
    """Cut `rec` to ``window`` (ms, from its start) and resample it to `dt_ms`.

    ValueError (naming the recording's duration) when the window is outside it.
    """
    if window is not None:
        t0, t1 = window
        if t1 > rec.duration_ms * (1 + 1e-12):
            raise ValueError(
                f"--window {t0:g}:{t1:g} ms ends after the recording (0 to {rec.duration_ms:g} ms)"
            )
        rec = rec.slice(t0, t1)
    if dt_ms is not None:
        rec = resample(rec, dt_ms)
    return rec
