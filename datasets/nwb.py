"""NWB 2 current-clamp sweeps <-> :class:`Recording` (needs the optional ``pynwb``).

A sweep is a ``CurrentClampSeries`` in the file's acquisition (the voltage response)
and its ``CurrentClampStimulusSeries`` in the stimulus group (the injected current).
Responses are paired with stimuli through the file's ``IntracellularRecordingsTable``
when it has one, else by sweep number, else by name (Allen style
``data_00039_AD0`` <-> ``data_00039_DA0``); files where none of these decides are
refused rather than guessed (see :mod:`datasets.nwb_pairing`). Values are converted
with ``data * conversion + offset`` into the series' ``unit`` (volts, amperes, or any
SI-prefixed variant such as ``mV``/``pA``) and then to mV and nA. The sampling step
comes from ``rate`` or from regularly spaced ``timestamps``.

:func:`write_nwb` writes one or several recordings as an icephys file (device,
electrode, sweep numbers, ``IntracellularRecordingsTable``) that :func:`load_nwb`
reads back exactly; ``python -m datasets.to_nwb IN.npz OUT.nwb`` converts npz files.
"""

from __future__ import annotations

import itertools
import json
import uuid
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from datasets.nwb_pairing import Pair, find_pairs, sweep_numbers
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
    """One current-clamp sweep found by :func:`list_nwb_sweeps`.

    ``name`` is the response (``CurrentClampSeries``) name, ``n_samples`` its length
    (the table's sample range, if any), ``dt_ms`` its sampling step (ms).
    ``stimulus_name`` is the paired stimulus (None for an I=0 clamp or when no
    stimulus could be paired) and ``paired_by`` says how it was found:
    ``"intracellular_recordings"``, ``"sweep_number"``, ``"name"``, ``"only pair"``,
    ``"I=0 clamp"``, or ``""`` when :func:`load_nwb` would refuse the sweep unless
    given ``stimulus=``.
    """

    name: str
    sweep_number: int | None
    stimulus_name: str | None
    n_samples: int
    dt_ms: float
    stimulus_description: str | None
    paired_by: str = ""


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


def _window(series, rng: tuple[int, int] | None) -> slice:
    """The samples of `series` that `rng` = (start, count) from the icephys table selects."""
    n = int(series.data.shape[0]) if len(series.data.shape) else 0
    if rng is None:
        return slice(0, n)
    start, count = rng
    if start + count > n:
        raise ValueError(
            f"the IntracellularRecordingsTable gives {series.name!r} samples {start} to "
            f"{start + count - 1}, but the series has only {n} samples."
        )
    return slice(start, start + count)


def _values(series, quantity: str, rng: tuple[int, int] | None = None) -> np.ndarray:
    """Data of `series` (the `rng` part) in mV (quantity V) or nA (quantity A), float64."""
    if len(series.data.shape) != 1:
        raise ValueError(f"{series.name}: expected 1-D data, got shape {series.data.shape}.")
    data = np.asarray(series.data[_window(series, rng)])
    if data.dtype.kind not in "fiu":
        raise TypeError(f"{series.name}: data must be numeric, got dtype {data.dtype}.")
    raw = data.astype(np.float64)
    offset = float(getattr(series, "offset", 0.0) or 0.0)
    target = _MV_PER_V if quantity == "V" else _NA_PER_A
    to_target = unit_scale(_unit(series), quantity) * target
    # One combined factor (exactly 1.0 for mV stored with conversion 1e-3): files written
    # by write_nwb read back bit-identical to the recording.
    return raw * (float(series.conversion) * to_target) + offset * to_target


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


def _series_lists(nwb) -> tuple[list, list]:
    from pynwb.icephys import CurrentClampSeries, CurrentClampStimulusSeries

    responses = [s for s in nwb.acquisition.values() if isinstance(s, CurrentClampSeries)]
    stimuli = [s for s in nwb.stimulus.values() if isinstance(s, CurrentClampStimulusSeries)]
    return sorted(responses, key=lambda s: s.name), sorted(stimuli, key=lambda s: s.name)


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
    """The current-clamp sweeps of an NWB file, sorted by acquisition name.

    Never raises for a sweep whose stimulus cannot be paired: its ``paired_by`` is
    ``""`` (see :class:`NwbSweep`), so the listing shows what ``stimulus=`` could be.
    """
    path, io = _open(path)
    with io:
        nwb = _read(io, path)
        responses, stimuli = _series_lists(nwb)
        pairs = find_pairs(nwb, responses, stimuli)
        numbers = sweep_numbers(nwb)
        out = []
        for resp in responses:
            pair = pairs[resp.name]
            window = _window(resp, pair.resp_range)
            desc = getattr(resp, "stimulus_description", None)
            out.append(
                NwbSweep(
                    name=resp.name,
                    sweep_number=numbers.get(resp.object_id),
                    stimulus_name=None if pair.stimulus is None else pair.stimulus.name,
                    n_samples=window.stop - window.start,
                    dt_ms=_dt_ms(resp),
                    stimulus_description=None if desc in (None, "N/A") else str(desc),
                    paired_by=pair.paired_by,
                )
            )
    return out


def _select(responses: list, sweep: int | str | None, numbers: dict[str, int], path: Path):
    """The response that `sweep` (number, name, or None for the only one) names."""
    summary = [(r.name, numbers.get(r.object_id)) for r in responses]
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
        found = [r for r in responses if numbers.get(r.object_id) == int(sweep)]
        unnumbered = not any(r.object_id in numbers for r in responses)
        if unnumbered and 0 <= sweep < len(responses):
            found = [responses[int(sweep)]]  # no sweep numbers: position in the listing
    else:
        raise TypeError(f"sweep must be an int, a series name or None, got {sweep!r}.")
    if len(found) != 1:
        raise ValueError(
            f"sweep={sweep!r} matches {len(found)} current-clamp sweeps in {path}; "
            f"available (name, sweep_number): {summary}"
        )
    return found[0]


def _chosen_stimulus(pair: Pair, stimuli: list, name: str | None, path: Path) -> Pair:
    """`pair` with the stimulus the caller named (the whole series), if any."""
    if name is None:
        return pair
    if not isinstance(name, str):
        raise TypeError(f"stimulus must be a stimulus series name or None, got {name!r}.")
    found = [s for s in stimuli if s.name == name]
    if not found:
        raise ValueError(
            f"{path} has no CurrentClampStimulusSeries named {name!r}; available: "
            f"{[s.name for s in stimuli]}."
        )
    return Pair(pair.response, found[0], "stimulus argument", None, pair.resp_range)


def _start_s(series, window: slice) -> float:
    """Time (s) of the first sample in `window` of `series`."""
    if series.rate is not None:
        return float(series.starting_time or 0.0) + window.start / float(series.rate)
    return float(series.timestamps[window.start])


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
            stacklevel=5,
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


def _aligned(pair: Pair, dt: float, meta: dict) -> tuple[np.ndarray, np.ndarray]:
    """Voltage (mV) and current (nA) of `pair` on the response's time grid.

    A stimulus that starts a whole number of samples before or after its response
    (different ``starting_time``/``timestamps``) is shifted onto the response grid and
    both are cut to the time they share, with a warning and ``meta["stimulus_lag_ms"]``.
    """
    response, stimulus = pair.response, pair.stimulus
    v = _values(response, "V", pair.resp_range)
    if stimulus is None:
        return v, np.zeros_like(v)
    if not np.isclose(_dt_ms(stimulus), dt, rtol=1e-9):
        raise ValueError(
            f"response {response.name!r} (dt {dt:g} ms) and stimulus {stimulus.name!r} "
            f"(dt {_dt_ms(stimulus):g} ms) are sampled at different rates."
        )
    i = _values(stimulus, "A", pair.stim_range)
    start_v = _start_s(response, _window(response, pair.resp_range))
    lag_ms = (_start_s(stimulus, _window(stimulus, pair.stim_range)) - start_v) * 1000.0
    shift = int(round(lag_ms / dt))
    if shift:
        warnings.warn(
            f"stimulus {stimulus.name!r} starts {lag_ms:g} ms after response "
            f"{response.name!r}; keeping only the samples both cover.",
            stacklevel=5,
        )
        meta["stimulus_lag_ms"] = lag_ms
        v, i = (v[shift:], i) if shift > 0 else (v, i[-shift:])
        n = min(v.size, i.size)
        v, i = v[:n], i[:n]
        meta["starting_time_s"] = start_v + max(shift, 0) * dt / 1000.0
    return v, i


def _read_sweep(nwb, path: Path, sweep, stimulus: str | None) -> Recording:
    """The sweep that `sweep` selects, paired with its stimulus (see :func:`load_nwb`)."""
    responses, stimuli = _series_lists(nwb)
    numbers = sweep_numbers(nwb)
    response = _select(responses, sweep, numbers, path)
    pair = find_pairs(nwb, responses, stimuli)[response.name]
    pair = _chosen_stimulus(pair, stimuli, stimulus, path)
    if pair.problem:
        raise ValueError(f"{path}: {pair.problem}")
    saved = _saved(response)
    meta = dict(saved.get("meta", {}))
    meta.setdefault("source", "nwb")
    if response.object_id in numbers:
        meta.setdefault("sweep_number", numbers[response.object_id])
    meta.update(
        path=str(path),
        nwb_identifier=str(nwb.identifier),
        nwb_acquisition=response.name,
        nwb_stimulus=None if pair.stimulus is None else pair.stimulus.name,
        nwb_paired_by=pair.paired_by,
        starting_time_s=_start_s(response, _window(response, pair.resp_range)),
    )
    dt = _dt_ms(response)
    v, i = _aligned(pair, dt, meta)
    v, i = _trim(v, i, meta)
    on, off = saved.get("stim_on_ms"), saved.get("stim_off_ms")
    if "stim_on_ms" not in saved:
        on, off = _infer_step(i, dt)
    return Recording(v_mV=v, i_nA=i, dt_ms=dt, stim_on_ms=on, stim_off_ms=off, meta=meta)


@_guarded
def load_nwb(
    path: str | Path, sweep: int | str | None = None, *, stimulus: str | None = None
) -> Recording:
    """Read one current-clamp sweep of an NWB 2 file into a :class:`Recording`.

    Args:
        path: The ``.nwb`` file.
        sweep: ``sweep_number`` (int; the position in :func:`list_nwb_sweeps` if the
            file has no sweep numbers), the response (acquisition) series name (str),
            or None when the file holds exactly one current-clamp sweep.
        stimulus: Name of the ``CurrentClampStimulusSeries`` to use, for files that
            do not say which stimulus belongs to the response (no
            ``IntracellularRecordingsTable``, sweep numbers or matching names).

    Returns:
        The sweep with ``v_mV`` in mV, ``i_nA`` in nA and ``dt_ms`` in ms. A trailing
        NaN padding (common at the end of sweeps in DANDI files) is cut off and its
        length stored in ``meta["trimmed_trailing_nan"]``; NaNs elsewhere are an
        error. ``meta`` also has ``nwb_acquisition``, ``nwb_stimulus``,
        ``nwb_paired_by`` (see :class:`NwbSweep`), ``sweep_number`` (if any) and
        ``starting_time_s``. Stimulus times come from what :func:`write_nwb` stored,
        else they are the start and end of the longest constant non-zero stretch of
        the current (the main step). Hidden states are not stored in NWB files.

    Raises:
        FileNotFoundError: No file at `path`.
        ValueError: Unreadable file, no or several matching sweeps, a response whose
            stimulus cannot be told (the message lists the candidates), or bad data.
        TypeError: `sweep`/`stimulus` of the wrong type, or non-numeric data.

    A file whose HDF5 metadata has overwritten bytes can crash the interpreter inside
    libhdf5 (about 1 in 500 random byte flips of a small file does), which does not
    validate every block it reads; no Python code can catch that. Check a file of
    unknown integrity in a subprocess first
    (``python -c "import datasets; datasets.load_nwb('F.nwb')"``).
    """
    path, io = _open(path)
    with io:
        nwb = _read(io, path)
        return _read_sweep(nwb, path, sweep, stimulus)


def _as_recordings(recordings) -> list[Recording]:
    if isinstance(recordings, Recording):
        return [recordings]
    if isinstance(recordings, (str, bytes)) or not isinstance(recordings, Sequence):
        raise TypeError(
            f"write_nwb needs a Recording or a sequence of them, got {type(recordings).__name__}."
        )
    bad = [k for k, r in enumerate(recordings) if not isinstance(r, Recording)]
    if bad:
        raise TypeError(f"write_nwb: items {bad} are not Recording objects.")
    if not recordings:
        raise ValueError("write_nwb needs at least one recording, got an empty sequence.")
    return list(recordings)


def _sweep_plan(recordings: list[Recording]) -> list[int]:
    """One distinct sweep number per recording: ``meta["sweep_number"]`` when it is a
    non-negative int, else the smallest numbers not used by the others."""

    def given(value) -> int | None:
        ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        return int(value) if ok and 0 <= value < 2**32 else None

    numbers = [given(r.meta.get("sweep_number")) for r in recordings]
    taken = [n for n in numbers if n is not None]
    shared = sorted({n for n in taken if taken.count(n) > 1})
    if shared:
        raise ValueError(
            f"write_nwb: several recordings have sweep_number {shared} in their meta; an "
            "NWB file needs one number per sweep. Give them distinct meta['sweep_number'] "
            "values or remove the key to number them automatically."
        )
    free = (n for n in itertools.count() if n not in taken)
    return [next(free) if n is None else n for n in numbers]


def _add_sweep(nwb, electrode, recording: Recording, sweep: int) -> None:
    """Add `recording` as response + stimulus series and an icephys table row."""
    from pynwb.icephys import CurrentClampSeries, CurrentClampStimulusSeries

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
        "meta": recording.meta,
    }
    stimulus = CurrentClampStimulusSeries(
        name=f"data_{sweep:05d}_DA0",
        data=recording.i_nA,
        conversion=1e-9,
        description="injected current, stored in nA (amperes x 1e-9)",
        **common,
    )
    response = CurrentClampSeries(
        name=f"data_{sweep:05d}_AD0",
        data=recording.v_mV,
        conversion=1e-3,
        description="membrane voltage, stored in mV (volts x 1e-3)",
        comments=json.dumps({_MARKER: stored}, default=_json_default),
        **common,
    )
    nwb.add_stimulus(stimulus)
    nwb.add_acquisition(response)
    nwb.add_intracellular_recording(electrode=electrode, stimulus=stimulus, response=response)


def write_nwb(recordings: Recording | Sequence[Recording], path: str | Path) -> Path:
    """Write one or several recordings as an NWB 2 icephys file (overwriting `path`).

    Each recording becomes one sweep with sweep number ``n``: a ``CurrentClampSeries``
    ``data_<n:05d>_AD0`` (acquisition) and a ``CurrentClampStimulusSeries``
    ``data_<n:05d>_DA0`` (stimulus), both on one electrode of one device, plus a row of
    the ``IntracellularRecordingsTable`` that pairs them. ``n`` is
    ``meta["sweep_number"]`` when it is a non-negative int, else the smallest number
    the other recordings do not use; two recordings with one number are refused
    (ValueError). As in Allen files, values are stored as given (mV and nA, float64)
    with the SI unit and a ``conversion`` factor (``volts`` x 1e-3, ``amperes`` x
    1e-9), sampled at ``rate = 1000 / dt_ms`` Hz from ``starting_time`` 0 s.
    ``stim_on_ms``, ``stim_off_ms`` and ``meta`` (as JSON) are kept in the response's
    ``comments`` so that :func:`load_nwb` returns the same recording; hidden states
    are not written. The file is written to a temporary name and then renamed, so a
    failed write leaves `path` as it was. Returns `path`.
    """
    recs = _as_recordings(recordings)
    sweeps = _sweep_plan(recs)
    pynwb = _pynwb()
    first = recs[0].meta
    identifier = first.get("nwb_identifier") if len(recs) == 1 else None
    nwb = pynwb.NWBFile(
        session_description=str(first.get("source", "recording")),
        identifier=str(identifier or uuid.uuid4()),
        session_start_time=datetime.now(UTC),
    )
    device = nwb.create_device(name="amplifier")
    electrode = nwb.create_icephys_electrode(
        name="electrode_0", description="current-clamp electrode", device=device
    )
    for rec, sweep in zip(recs, sweeps):
        _add_sweep(nwb, electrode, rec, sweep)
    from sim.utils.files import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp, pynwb.NWBHDF5IO(str(tmp), "w") as io:
        io.write(nwb)
    return path
