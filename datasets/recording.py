"""The one recording type of the project: :class:`Recording`.

A recording is a single current-clamp sweep: membrane voltage and injected current
sampled on a common, regular time grid, plus metadata. Real data (Allen npz, NWB) and
synthetic ground-truth data (:mod:`datasets.synthetic`) are all returned as a
:class:`Recording`, so every consumer (inference, plots, experiments) sees one type.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Recording"]

_FLOAT_KINDS = "fiu"  # float, signed and unsigned integer dtypes are accepted for traces


#: Largest accepted sampling step (ms): coarser "recordings" are almost surely a unit mistake.
MAX_DT_MS = 10.0


def _check_dt(dt_ms: Any) -> float:
    """Return ``dt_ms`` as a positive finite float or raise naming the value."""
    if isinstance(dt_ms, (bool, np.bool_, str, bytes)) or dt_ms is None:
        raise TypeError(f"dt_ms must be a number of milliseconds, got {dt_ms!r}; e.g. 0.025.")
    try:
        dt = float(dt_ms)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"dt_ms must be a single number of milliseconds, got {dt_ms!r}; e.g. 0.025."
        ) from err
    if not math.isfinite(dt) or dt <= 0:
        raise ValueError(
            f"dt_ms must be a positive, finite sampling step in ms, got {dt_ms!r}; "
            "e.g. dt_ms=0.025 (40 kHz) or 0.02 (50 kHz)."
        )
    if dt > MAX_DT_MS:
        raise ValueError(
            f"dt_ms = {dt_ms!r} ms is not a plausible sampling step of a current-clamp "
            f"recording (at most {MAX_DT_MS:g} ms); is it in seconds or a sampling rate?"
        )
    return dt


def _check_trace(name: str, values: Any, dt: float) -> np.ndarray:
    """Return ``values`` as a read-only 1-D float64 copy or raise naming the problem."""
    try:
        arr = np.array(values)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a 1-D numeric array, got {type(values)}.") from err
    if arr.dtype.kind not in _FLOAT_KINDS:
        raise TypeError(
            f"{name} must be a 1-D array of real numbers, got dtype {arr.dtype}; "
            "convert it with np.asarray(..., dtype=float)."
        )
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (one sample per time step), got shape {arr.shape}; "
            "pass a single sweep (e.g. data[0]) or flatten a (T, 1) column with .ravel()."
        )
    if arr.size == 0:
        raise ValueError(f"{name} is empty; a recording needs at least one sample.")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        first = int(np.argmax(bad))
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN/inf value(s) out of {arr.size}; the "
            f"first is {arr[first]} at index {first} (t = {first * dt:g} ms). Cut them "
            "off (e.g. keep arr[:index]) or interpolate them before building a Recording."
        )
    arr.flags.writeable = False
    return arr


def _check_time(name: str, value: Any) -> float | None:
    """``None`` or a finite float for an optional time in ms."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise TypeError(f"{name} must be a number of milliseconds or None, got {value!r}.")
    try:
        out = float(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a number of milliseconds or None, got {value!r}.") from err
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {value!r}; use None if it is unknown.")
    return out


def _json_default(obj: Any) -> Any:
    """Make numpy scalars/arrays JSON-serialisable; everything else becomes its str."""
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    return str(obj)


@dataclass(frozen=True, eq=False)
class Recording:
    """One current-clamp sweep: voltage and injected current on a regular grid.

    Alignment convention (used by every loader and generator):

    * ``v_mV[k]`` is the membrane voltage at time ``t = k * dt_ms``;
    * ``i_nA[k]`` is the current injected during ``[k * dt_ms, (k + 1) * dt_ms)``,
      i.e. the input of the step that takes ``v[k]`` to ``v[k + 1]``. The last sample
      therefore has no effect on ``v``; synthetic generators set it to 0.

    Both arrays are stored as read-only float64 copies. Equality is identity (``eq``
    on arrays is ambiguous); use :meth:`allclose` to compare contents.

    Attributes:
        v_mV: Membrane voltage (mV), shape ``(T,)``.
        i_nA: Injected current (nA), shape ``(T,)``.
        dt_ms: Sampling step (ms), > 0.
        stim_on_ms: Onset of the main current step (ms), if known.
        stim_off_ms: Offset of the main current step (ms), if known.
        meta: Free-form metadata, e.g. ``specimen_id``, ``sweep_number``, ``source``
            and, for synthetic data, ``truth`` (a ``dict[str, float]`` of the
            ground-truth parameters).
        hidden: For synthetic data, ground-truth hidden states (e.g. ``HH_m``), each a
            ``(T,)`` array on the same grid as ``v_mV``; ``None`` for real data.
    """

    v_mV: np.ndarray
    i_nA: np.ndarray
    dt_ms: float
    stim_on_ms: float | None = None
    stim_off_ms: float | None = None
    meta: dict = field(default_factory=dict)
    hidden: dict[str, np.ndarray] | None = None

    def __post_init__(self) -> None:
        dt = _check_dt(self.dt_ms)
        v = _check_trace("v_mV", self.v_mV, dt)
        i = _check_trace("i_nA", self.i_nA, dt)
        if v.shape != i.shape:
            raise ValueError(
                f"v_mV has {v.size} samples but i_nA has {i.size}; both must be sampled "
                "on the same grid (i_nA[k] is the current during [k*dt, (k+1)*dt)). "
                "Resample or trim them to one length."
            )
        on = _check_time("stim_on_ms", self.stim_on_ms)
        off = _check_time("stim_off_ms", self.stim_off_ms)
        if on is not None and off is not None and off < on:
            raise ValueError(
                f"stim_off_ms ({off:g}) is before stim_on_ms ({on:g}); pass the offset "
                "time, not the duration (stim_off_ms = stim_on_ms + duration)."
            )
        if not isinstance(self.meta, dict):
            raise TypeError(f"meta must be a dict, got {type(self.meta).__name__}.")
        object.__setattr__(self, "dt_ms", dt)
        object.__setattr__(self, "v_mV", v)
        object.__setattr__(self, "i_nA", i)
        object.__setattr__(self, "stim_on_ms", on)
        object.__setattr__(self, "stim_off_ms", off)
        object.__setattr__(self, "meta", dict(self.meta))
        object.__setattr__(self, "hidden", self._checked_hidden(dt, v.size))

    def _checked_hidden(self, dt: float, n: int) -> dict[str, np.ndarray] | None:
        if self.hidden is None:
            return None
        if not isinstance(self.hidden, dict):
            raise TypeError(
                f"hidden must be a dict of name -> (T,) array or None, got "
                f"{type(self.hidden).__name__}."
            )
        out = {}
        for name, values in self.hidden.items():
            arr = _check_trace(f"hidden[{name!r}]", values, dt)
            if arr.size != n:
                raise ValueError(
                    f"hidden[{name!r}] has {arr.size} samples but v_mV has {n}; hidden "
                    "states must be on the same time grid as the voltage."
                )
            out[str(name)] = arr
        return out

    def __reduce__(self):
        # Pickle/deepcopy through __init__, so copies are validated and read-only too.
        fields = (self.v_mV, self.i_nA, self.dt_ms, self.stim_on_ms, self.stim_off_ms)
        return (type(self), (*fields, self.meta, self.hidden))

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return int(self.v_mV.size)

    def __repr__(self) -> str:
        stim = (
            f", stim {self.stim_on_ms:g}-{self.stim_off_ms:g} ms"
            if self.stim_on_ms is not None and self.stim_off_ms is not None
            else ""
        )
        hidden = f", hidden={sorted(self.hidden)}" if self.hidden else ""
        return (
            f"Recording(T={len(self)}, dt_ms={self.dt_ms:g}, "
            f"duration_ms={self.duration_ms:g}{stim}, meta keys={sorted(self.meta)}{hidden})"
        )

    @property
    def t_ms(self) -> np.ndarray:
        """Sample times ``k * dt_ms`` (ms), shape ``(T,)``."""
        return np.arange(len(self)) * self.dt_ms

    @property
    def duration_ms(self) -> float:
        """``T * dt_ms``: the time covered when each sample holds for one step."""
        return len(self) * self.dt_ms

    @property
    def truth(self) -> dict[str, float] | None:
        """Ground-truth parameters (``meta["truth"]``) of synthetic data, else None."""
        return self.meta.get("truth")

    def allclose(self, other: Recording, rtol: float = 1e-7, atol: float = 0.0) -> bool:
        """True if `other` has the same grid, stimulus times and (close) traces."""
        if not isinstance(other, Recording) or len(self) != len(other):
            return False
        same_grid = math.isclose(self.dt_ms, other.dt_ms, rel_tol=1e-9)
        same_stim = (self.stim_on_ms, self.stim_off_ms) == (other.stim_on_ms, other.stim_off_ms)
        return (
            same_grid
            and same_stim
            and np.allclose(self.v_mV, other.v_mV, rtol=rtol, atol=atol)
            and np.allclose(self.i_nA, other.i_nA, rtol=rtol, atol=atol)
        )

    # ------------------------------------------------------------------ transforms
    def slice(self, t0_ms: float, t1_ms: float | None = None) -> Recording:
        """The samples with ``t0_ms <= t < t1_ms`` (``t1_ms=None``: to the end).

        The result starts again at ``t = 0``: stimulus times are shifted by the time
        of its first sample, which is added to ``meta["t_offset_ms"]``.
        """
        t0 = _check_time("t0_ms", t0_ms)
        t1 = self.duration_ms if t1_ms is None else _check_time("t1_ms", t1_ms)
        if t0 is None or t0 < 0 or t1 > self.duration_ms * (1 + 1e-12) or t1 <= t0:
            raise ValueError(
                f"slice({t0_ms!r}, {t1_ms!r}) needs 0 <= t0_ms < t1_ms <= duration_ms "
                f"({self.duration_ms:g} ms)."
            )
        k0 = int(math.ceil(t0 / self.dt_ms - 1e-9))
        k1 = min(int(math.ceil(t1 / self.dt_ms - 1e-9)), len(self))
        if k1 <= k0:
            raise ValueError(
                f"slice({t0_ms!r}, {t1_ms!r}) contains no sample (dt_ms = {self.dt_ms:g})."
            )
        shift = k0 * self.dt_ms
        meta = copy.deepcopy(self.meta)
        meta["t_offset_ms"] = meta.get("t_offset_ms", 0.0) + shift
        hidden = None if self.hidden is None else {k: v[k0:k1] for k, v in self.hidden.items()}
        return Recording(
            v_mV=self.v_mV[k0:k1],
            i_nA=self.i_nA[k0:k1],
            dt_ms=self.dt_ms,
            stim_on_ms=None if self.stim_on_ms is None else self.stim_on_ms - shift,
            stim_off_ms=None if self.stim_off_ms is None else self.stim_off_ms - shift,
            meta=meta,
            hidden=hidden,
        )

    def downsample(self, factor: int) -> Recording:
        """Coarser recording with ``dt_ms * factor``, keeping the alignment convention.

        Samples are grouped into blocks ``[j * factor, (j + 1) * factor)`` (the last
        block may be shorter). The voltage (and hidden states) of block ``j`` is the
        sample at the block start, ``v[j * factor]``: a voltage is a value *at* a time.
        The current of block ``j`` is the mean current over the block: a current is
        injected *during* an interval, so the mean keeps the injected charge. The
        result has ``ceil(T / factor)`` samples.
        """
        if isinstance(factor, (bool, np.bool_)) or not isinstance(factor, (int, np.integer)):
            raise TypeError(f"factor must be a positive int, got {factor!r}.")
        if factor < 1:
            raise ValueError(f"factor must be >= 1, got {factor}; use 1 to keep all samples.")
        factor = int(factor)
        n = len(self)
        starts = np.arange(0, n, factor)
        i_mean = np.add.reduceat(self.i_nA, starts) / np.diff(np.append(starts, n))
        hidden = None if self.hidden is None else {k: v[starts] for k, v in self.hidden.items()}
        meta = copy.deepcopy(self.meta)
        meta["downsample_factor"] = meta.get("downsample_factor", 1) * factor
        return Recording(
            v_mV=self.v_mV[starts],
            i_nA=i_mean,
            dt_ms=self.dt_ms * factor,
            stim_on_ms=self.stim_on_ms,
            stim_off_ms=self.stim_off_ms,
            meta=meta,
            hidden=hidden,
        )

    # ------------------------------------------------------------------ export
    def to_dict(self) -> dict[str, Any]:
        """Plain dict (array copies) such that ``Recording(**rec.to_dict())`` is equal."""
        hidden = None if self.hidden is None else {k: v.copy() for k, v in self.hidden.items()}
        return {
            "v_mV": self.v_mV.copy(),
            "i_nA": self.i_nA.copy(),
            "dt_ms": self.dt_ms,
            "stim_on_ms": self.stim_on_ms,
            "stim_off_ms": self.stim_off_ms,
            "meta": copy.deepcopy(self.meta),
            "hidden": hidden,
        }

    def save_npz(self, path: str | Path) -> Path:
        """Write the Allen npz format (see :func:`datasets.loaders.load_npz`).

        Keys: ``v_mV``, ``i_nA`` (float64), ``dt_ms``, ``stim_on_ms``, ``stim_off_ms``
        (NaN when unknown), ``specimen_id``/``sweep_number`` when they are in ``meta``,
        ``meta_json`` (all of ``meta`` as JSON; numpy values become lists, other
        objects their ``str``) and ``hidden__<name>`` per hidden state. Returns the
        path written (exactly `path`; no suffix is added).
        """
        path = Path(path)
        arrays: dict[str, Any] = {
            "v_mV": self.v_mV,
            "i_nA": self.i_nA,
            "dt_ms": np.float64(self.dt_ms),
            "stim_on_ms": np.float64(np.nan if self.stim_on_ms is None else self.stim_on_ms),
            "stim_off_ms": np.float64(np.nan if self.stim_off_ms is None else self.stim_off_ms),
            "meta_json": np.array(json.dumps(self.meta, default=_json_default)),
        }
        for key in ("specimen_id", "sweep_number"):
            if isinstance(self.meta.get(key), (int, np.integer)):
                arrays[key] = np.int64(self.meta[key])
        for name, values in (self.hidden or {}).items():
            arrays[f"hidden__{name}"] = values
        from sim.utils.files import atomic_path

        with atomic_path(path) as tmp, tmp.open("wb") as fh:
            np.savez(fh, **arrays)
        return path
