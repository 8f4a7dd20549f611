"""NWB 2 current-clamp sweeps <-> :class:`Recording` (needs the optional ``pynwb``).

A sweep is a ``CurrentClampSeries`` in the file's acquisition (the voltage response)
and its ``CurrentClampStimulusSeries`` in the stimulus group (the injected current).
Pairs are matched by ``sweep_number``, else by name (Allen style
``data_00039_AD0`` <-> ``data_00039_DA0``), else by position. Values are converted
with ``data * conversion + offset`` into the series' ``unit`` (volts, amperes, or any
SI-prefixed variant such as ``mV``/``pA``) and then to mV and nA.
"""

from __future__ import annotations

import json
import re
import uuid
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from datasets.recording import Recording, _json_default

__all__ = ["NwbSweep", "list_nwb_sweeps", "load_nwb", "unit_scale", "write_nwb"]

_MARKER = "neurofit_recording"  # key of the JSON we store in CurrentClampSeries.comments
_PREFIXES = {
    "": 1.0,
    "k": 1e3,
    "kilo": 1e3,
    "m": 1e-3,
    "milli": 1e-3,
    "u": 1e-6,
    "\u00b5": 1e-6,
    "\u03bc": 1e-6,
    "micro": 1e-6,
    "n": 1e-9,
    "nano": 1e-9,
    "p": 1e-12,
    "pico": 1e-12,
}
_BASES = {"volts": "V", "volt": "V", "v": "V", "amperes": "A", "ampere": "A"}
_BASES |= {"amps": "A", "amp": "A", "a": "A"}
_MV_PER_V, _NA_PER_A = 1e3, 1e9


class NwbSweep(NamedTuple):
    """One current-clamp sweep found by :func:`list_nwb_sweeps`."""

    name: str
    sweep_number: int | None
    stimulus_name: str | None
    n_samples: int
    dt_ms: float
    stimulus_description: str | None


def _pynwb():
    try:
        import pynwb
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Reading/writing NWB files needs the optional package pynwb: pip install pynwb"
        ) from err
    return pynwb


def unit_scale(unit: str, quantity: str) -> float:
    """SI factor of `unit` (``"mV"`` -> 1e-3), checking it measures `quantity` (V or A).

    Accepts NWB's ``"volts"``/``"amperes"`` and prefixed forms (``"mV"``,
    ``"millivolts"``, ``"pA"``, ``"nanoamperes"``, ...), case-insensitively.
    """
    text = str(unit).strip().lower()
    for base in sorted(_BASES, key=len, reverse=True):
        prefix = text[: len(text) - len(base)]
        if text.endswith(base) and prefix in _PREFIXES:
            if _BASES[base] != quantity:
                raise ValueError(
                    f"unit {unit!r} measures {_BASES[base]}, expected {quantity}; is this "
                    "series a voltage response (V) or a current stimulus (A)?"
                )
            return _PREFIXES[prefix]
    raise ValueError(
        f"Unknown unit {unit!r} (expected {quantity} with an optional SI prefix, e.g. "
        f"{'mV or volts' if quantity == 'V' else 'pA or amperes'})."
    )


def _values(series, quantity: str) -> np.ndarray:
    """Data of `series` in mV (quantity V) or nA (quantity A), float64."""
    data = np.asarray(series.data[:])
    if data.dtype.kind not in "fiu":
        raise TypeError(f"{series.name}: data must be numeric, got dtype {data.dtype}.")
    raw = data.astype(np.float64)
    if raw.ndim != 1:
        raise ValueError(f"{series.name}: expected 1-D data, got shape {raw.shape}.")
    offset = float(getattr(series, "offset", 0.0) or 0.0)
    in_unit = raw * float(series.conversion) + offset
    target = _MV_PER_V if quantity == "V" else _NA_PER_A
    return in_unit * unit_scale(_unit(series), quantity) * target


def _unit(series) -> str:
    """The unit stored in the file; pynwb reports 'volts'/'amperes' for icephys series
    whatever the file says, so the raw HDF5 attribute wins when there is one."""
    stored = getattr(series.data, "attrs", {}).get("unit", series.unit)
    return stored.decode() if isinstance(stored, bytes) else str(stored)


def _dt_ms(series) -> float:
    if series.rate is not None:
        if not series.rate > 0:
            raise ValueError(f"{series.name}: sampling rate must be > 0 Hz, got {series.rate}.")
        return 1000.0 / float(series.rate)
    stamps = np.asarray(series.timestamps[:], dtype=np.float64)
    steps = np.diff(stamps)
    if steps.size == 0 or not np.allclose(steps, steps[0], rtol=1e-6) or steps[0] <= 0:
        raise ValueError(
            f"{series.name}: timestamps are not regularly spaced; a Recording needs a "
            "fixed sampling step (resample the data first)."
        )
    return float(steps[0]) * 1000.0


def _stem(name: str) -> str:
    return re.sub(r"_(AD|DA)\d*$", "", name, flags=re.IGNORECASE)


def _series_lists(nwb) -> tuple[list, list]:
    from pynwb.icephys import CurrentClampSeries, CurrentClampStimulusSeries

    responses = [s for s in nwb.acquisition.values() if isinstance(s, CurrentClampSeries)]
    stimuli = [s for s in nwb.stimulus.values() if isinstance(s, CurrentClampStimulusSeries)]
    return sorted(responses, key=lambda s: s.name), sorted(stimuli, key=lambda s: s.name)


def _pair(response, responses: list, stimuli: list):
    """The stimulus series of `response`, or None for an I=0 clamp without one."""
    from pynwb.icephys import IZeroClampSeries

    candidates = stimuli
    if response.sweep_number is not None:
        same = [s for s in stimuli if s.sweep_number == response.sweep_number]
        if len(same) == 1:
            return same[0]
        candidates = same or stimuli
    by_name = [s for s in candidates if _stem(s.name) == _stem(response.name)]
    if len(by_name) == 1:
        return by_name[0]
    if len(stimuli) == len(responses) and stimuli:
        return stimuli[responses.index(response)]
    if isinstance(response, IZeroClampSeries):
        return None
    raise ValueError(
        f"No stimulus series matches the response {response.name!r} (sweep_number "
        f"{response.sweep_number}); stimuli in the file: {[s.name for s in stimuli]}."
    )


def _open(path: str | Path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No NWB file at {path}; check the path.")
    pynwb = _pynwb()
    try:
        return path, pynwb.NWBHDF5IO(str(path), "r")
    except Exception as err:  # h5py/hdmf raise many types for corrupt files
        raise ValueError(f"{path} is not a readable NWB 2 file ({err}).") from err


def _read(io, path: Path):
    try:
        return io.read()
    except Exception as err:  # h5py/hdmf raise many types for corrupt files
        raise ValueError(f"{path} is not a readable NWB 2 file ({err}).") from err


def _sweep_number(series) -> int | None:
    return None if series.sweep_number is None else int(series.sweep_number)


def _guarded(func):
    """Make every failure of a reader a FileNotFoundError, TypeError or ValueError
    whose message names the file (hdmf/h5py raise many other types on bad files)."""
    import functools

    @functools.wraps(func)
    def wrapper(path, *args, **kwargs):
        try:
            return func(path, *args, **kwargs)
        except (FileNotFoundError, ImportError):
            raise
        except (TypeError, ValueError) as err:
            if str(path) in str(err):
                raise
            raise err.__class__(f"{path}: {err}") from err
        except Exception as err:  # noqa: BLE001
            raise ValueError(
                f"{path}: not a readable NWB current-clamp file ({type(err).__name__}: {err})."
            ) from err

    return wrapper


@_guarded
def list_nwb_sweeps(path: str | Path) -> list[NwbSweep]:
    """The current-clamp sweeps of an NWB file, sorted by acquisition name."""
    path, io = _open(path)
    with io:
        nwb = _read(io, path)
        responses, stimuli = _series_lists(nwb)
        out = []
        for resp in responses:
            stim = _pair(resp, responses, stimuli)
            desc = getattr(resp, "stimulus_description", None)
            out.append(
                NwbSweep(
                    name=resp.name,
                    sweep_number=_sweep_number(resp),
                    stimulus_name=None if stim is None else stim.name,
                    n_samples=int(resp.data.shape[0]),
                    dt_ms=_dt_ms(resp),
                    stimulus_description=None if desc in (None, "N/A") else str(desc),
                )
            )
    return out


def _select(responses: list, sweep: int | str | None, path: Path):
    summary = [(r.name, _sweep_number(r)) for r in responses]
    if not responses:
        raise ValueError(f"{path} has no CurrentClampSeries in its acquisition group.")
    if sweep is None:
        if len(responses) == 1:
            return responses[0]
        raise ValueError(
            f"{path} holds {len(responses)} current-clamp sweeps; choose one with "
            f"sweep=<sweep_number> or sweep='<name>'. (name, sweep_number): {summary}"
        )
    if isinstance(sweep, str):
        found = [r for r in responses if r.name == sweep]
    elif isinstance(sweep, (int, np.integer)) and not isinstance(sweep, bool):
        found = [r for r in responses if _sweep_number(r) == int(sweep)]
        if all(r.sweep_number is None for r in responses) and 0 <= sweep < len(responses):
            found = [responses[int(sweep)]]  # no sweep numbers: position in the listing
    else:
        raise TypeError(f"sweep must be an int, a series name or None, got {sweep!r}.")
    if len(found) != 1:
        raise ValueError(
            f"sweep={sweep!r} matches {len(found)} current-clamp sweeps in {path}; "
            f"available (name, sweep_number): {summary}"
        )
    return found[0]


def _infer_step(i_nA: np.ndarray, dt_ms: float) -> tuple[float | None, float | None]:
    """Start and end time of the longest run of one constant non-zero current."""
    change = np.flatnonzero(np.diff(i_nA) != 0) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [i_nA.size]])
    lengths = (ends - starts) * (i_nA[starts] != 0)
    if lengths.max() < 2:
        return None, None
    k = int(np.argmax(lengths))
    return float(starts[k] * dt_ms), float(ends[k] * dt_ms)


def _saved(response) -> dict[str, Any]:
    """What :func:`write_nwb` stored in the response's ``comments`` (or ``{}``)."""
    try:
        data = json.loads(response.comments or "")
    except (TypeError, ValueError):
        return {}
    return data.get(_MARKER, {}) if isinstance(data, dict) else {}


def _trim(v: np.ndarray, i: np.ndarray, meta: dict) -> tuple[np.ndarray, np.ndarray]:
    """Align lengths and cut a trailing NaN padding (common at the end of sweeps)."""
    n = min(v.size, i.size)
    if v.size != i.size:
        warnings.warn(
            f"Response has {v.size} samples, stimulus {i.size}; keeping the first {n}.",
            stacklevel=3,
        )
        meta["truncated_to"] = n
    v, i = v[:n], i[:n]
    good = np.isfinite(v) & np.isfinite(i)
    if n and not good.all() and good.any():
        last = int(np.flatnonzero(good)[-1]) + 1
        if good[:last].all():
            meta["trimmed_trailing_nan"] = n - last
            v, i = v[:last], i[:last]
    return v, i


@_guarded
def load_nwb(path: str | Path, sweep: int | str | None = None) -> Recording:
    """Read one current-clamp sweep of an NWB 2 file into a :class:`Recording`.

    Args:
        path: The ``.nwb`` file.
        sweep: ``sweep_number`` (int; the position in :func:`list_nwb_sweeps` if the
            file has no sweep numbers), the acquisition name (str), or None when the
            file holds exactly one current-clamp sweep.

    Stimulus times come from what :func:`write_nwb` stored, else they are the start
    and end of the longest constant non-zero stretch of the current (the main step).
    Hidden states are not stored in NWB files.
    """
    path, io = _open(path)
    with io:
        nwb = _read(io, path)
        responses, stimuli = _series_lists(nwb)
        response = _select(responses, sweep, path)
        stimulus = _pair(response, responses, stimuli)
        saved = _saved(response)
        meta = dict(saved.get("meta", {}))
        dt = _dt_ms(response)
        v = _values(response, "V")
        if stimulus is None:
            i = np.zeros_like(v)
        else:
            if not np.isclose(_dt_ms(stimulus), dt, rtol=1e-9):
                raise ValueError(
                    f"{path}: response {response.name!r} and stimulus {stimulus.name!r} "
                    "are sampled at different rates."
                )
            i = _values(stimulus, "A")
        meta.setdefault("source", "nwb")
        if response.sweep_number is not None:
            meta.setdefault("sweep_number", int(response.sweep_number))
        meta.update(
            path=str(path),
            nwb_identifier=str(nwb.identifier),
            nwb_acquisition=response.name,
            nwb_stimulus=None if stimulus is None else stimulus.name,
            starting_time_s=float(response.starting_time or 0.0),
        )
    v, i = _trim(v, i, meta)
    on, off = saved.get("stim_on_ms"), saved.get("stim_off_ms")
    if "stim_on_ms" not in saved:
        on, off = _infer_step(i, dt)
    return Recording(v_mV=v, i_nA=i, dt_ms=dt, stim_on_ms=on, stim_off_ms=off, meta=meta)


def write_nwb(recording: Recording, path: str | Path) -> Path:
    """Write `recording` as one NWB 2 current-clamp sweep (overwriting `path`).

    As in Allen files, the values are stored as recorded (mV and nA) with the SI
    unit and a ``conversion`` factor (``volts`` with 1e-3, ``amperes`` with 1e-9).
    ``stim_on_ms``, ``stim_off_ms`` and ``meta`` (as JSON) are kept in the response's
    ``comments`` so that :func:`load_nwb` returns the same recording; hidden states
    are not written.
    """
    pynwb = _pynwb()
    from pynwb.icephys import CurrentClampSeries, CurrentClampStimulusSeries

    path = Path(path)
    meta = recording.meta
    sweep = meta.get("sweep_number")
    sweep = int(sweep) if isinstance(sweep, (int, np.integer)) and sweep >= 0 else 0
    nwb = pynwb.NWBFile(
        session_description=str(meta.get("source", "recording")),
        identifier=str(meta.get("nwb_identifier", uuid.uuid4())),
        session_start_time=datetime.now(UTC),
    )
    device = nwb.create_device(name="amplifier")
    electrode = nwb.create_icephys_electrode(
        name="electrode_0", description="current-clamp electrode", device=device
    )
    common = {
        "rate": 1000.0 / recording.dt_ms,
        "starting_time": 0.0,
        "electrode": electrode,
        "gain": 1.0,
        "sweep_number": np.uint32(sweep),
    }
    stored = {
        "stim_on_ms": recording.stim_on_ms,
        "stim_off_ms": recording.stim_off_ms,
        "meta": meta,
    }
    nwb.add_stimulus(
        CurrentClampStimulusSeries(
            name=f"data_{sweep:05d}_DA0", data=recording.i_nA, conversion=1e-9, **common
        )
    )
    nwb.add_acquisition(
        CurrentClampSeries(
            name=f"data_{sweep:05d}_AD0",
            data=recording.v_mV,
            conversion=1e-3,
            comments=json.dumps({_MARKER: stored}, default=_json_default),
            **common,
        )
    )
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path
