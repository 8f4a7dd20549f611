"""Readers for recorded sweeps: the Allen ``.npz`` format and NWB 2 files.

The npz format (``../shared/data/README.md``) holds one sweep per file with the keys
``v_mV``, ``i_nA`` (1-D arrays), ``dt_ms``, ``stim_on_ms``, ``stim_off_ms`` (scalars)
and ``specimen_id``, ``sweep_number`` (integers). Only ``v_mV``, ``i_nA`` and ``dt_ms``
are required here; :meth:`Recording.save_npz` writes the same format plus
``meta_json`` and ``hidden__<name>`` entries, which :func:`load_npz` reads back.

NWB support lives in :mod:`datasets.nwb` and is re-exported here.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from datasets.nwb import list_nwb_sweeps, load_nwb, write_nwb
from datasets.recording import Recording

__all__ = [
    "allen_sweeps",
    "list_nwb_sweeps",
    "load_npz",
    "load_nwb",
    "load_recording",
    "write_nwb",
]

REQUIRED_KEYS = ("v_mV", "i_nA", "dt_ms")
_HIDDEN_PREFIX = "hidden__"


def default_allen_dir() -> Path:
    """``<repo root>/../shared/data/allen``, where the shared Allen sweeps live."""
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "allen"


def allen_sweeps(data_dir: str | Path | None = None) -> list[Path]:
    """Sorted ``*.npz`` files in `data_dir` (default :func:`default_allen_dir`).

    Returns ``[]`` when the folder does not exist, so callers can skip real-data
    steps on machines without the shared data.
    """
    folder = default_allen_dir() if data_dir is None else Path(data_dir)
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.npz"))


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} is not a readable .npz archive (not a zip file); save recordings with "
            "Recording.save_npz or np.savez."
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except ValueError as err:
        raise TypeError(
            f"{path} stores Python objects (pickled arrays); the recording format holds "
            "only numeric arrays and strings. Re-save it with plain numpy arrays."
        ) from err
    except (OSError, zipfile.BadZipFile, EOFError) as err:
        raise ValueError(f"{path} is not a readable .npz archive ({err}).") from err


def _scalar(path: Path, key: str, value: np.ndarray, kinds: str) -> Any:
    """The single number in `value`, checking its dtype kind."""
    if value.dtype.kind not in kinds or value.size != 1:
        what = "an integer" if kinds == "iu" else "a number"
        raise TypeError(
            f"{path}: {key!r} must be {what} (a scalar), got dtype {value.dtype} with "
            f"shape {value.shape}."
        )
    return value.reshape(()).item()


def _trace(path: Path, key: str, value: np.ndarray) -> np.ndarray:
    if value.dtype.kind not in "fiu":
        raise TypeError(
            f"{path}: {key!r} must be a numeric array, got dtype {value.dtype}; "
            "store it as float32/float64."
        )
    return value


def _meta_from(path: Path, data: dict[str, np.ndarray]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if "meta_json" in data:
        raw = data["meta_json"]
        if raw.dtype.kind not in "US" or raw.size != 1:
            raise TypeError(f"{path}: 'meta_json' must be one JSON string, got {raw.dtype}.")
        try:
            parsed = json.loads(str(raw.reshape(()).item()))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: 'meta_json' is not valid JSON ({err}).") from err
        if not isinstance(parsed, dict):
            raise TypeError(
                f"{path}: 'meta_json' must hold a JSON object, got {type(parsed).__name__}."
            )
        meta.update(parsed)
    for key in ("specimen_id", "sweep_number"):
        if key in data:
            meta[key] = int(_scalar(path, key, data[key], "iu"))
    known = {*REQUIRED_KEYS, "stim_on_ms", "stim_off_ms", "specimen_id", "sweep_number"}
    for key, value in data.items():
        if key in known or key == "meta_json" or key.startswith(_HIDDEN_PREFIX):
            continue
        meta[key] = value.reshape(()).item() if value.size == 1 else value
    default_source = "allen" if path.name.startswith("allen_") else "npz"
    meta.setdefault("source", default_source)
    meta["path"] = str(path)
    return meta


def load_npz(path: str | Path) -> Recording:
    """Read one sweep in the Allen npz format into a :class:`Recording`.

    Missing ``stim_on_ms``/``stim_off_ms`` (or NaN values) give ``None``;
    ``specimen_id``, ``sweep_number`` and any other scalar keys go to ``meta``, as do
    ``source`` (``"allen"`` for files named ``allen_*``, else ``"npz"``) and ``path``.

    Raises:
        FileNotFoundError: No file at `path`.
        ValueError: Not an npz archive, a required key is missing, or the data are
            invalid (e.g. NaN in ``v_mV``; the message names the first bad sample).
        TypeError: A key holds the wrong kind of value (e.g. a non-scalar ``dt_ms``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"No recording file at {path}; check the path (the shared Allen sweeps are "
            f"listed by datasets.allen_sweeps(), default folder {default_allen_dir()})."
        )
    try:
        return _load_npz(path)
    except (FileNotFoundError, TypeError, ValueError) as err:
        if isinstance(err, FileNotFoundError) or str(path) in str(err):
            raise
        raise _named(path, err) from err
    except Exception as err:  # noqa: BLE001 - anything else a malformed file triggers
        raise ValueError(
            f"{path}: not a readable recording ({type(err).__name__}: {err})."
        ) from err


def _load_npz(path: Path) -> Recording:
    data = _read_npz(path)
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise ValueError(
            f"{path} lacks the required key(s) {missing}; it has {sorted(data)}. A "
            f"recording npz needs {list(REQUIRED_KEYS)} (plus optional stim_on_ms, "
            "stim_off_ms, specimen_id, sweep_number)."
        )
    times = {}
    for key in ("stim_on_ms", "stim_off_ms"):
        value = _scalar(path, key, data[key], "fiu") if key in data else None
        times[key] = None if value is None or not math.isfinite(value) else float(value)
    hidden = {
        key[len(_HIDDEN_PREFIX) :]: _trace(path, key, value)
        for key, value in data.items()
        if key.startswith(_HIDDEN_PREFIX)
    }
    fields = {
        "v_mV": _trace(path, "v_mV", data["v_mV"]),
        "i_nA": _trace(path, "i_nA", data["i_nA"]),
        "dt_ms": _scalar(path, "dt_ms", data["dt_ms"], "fiu"),
        "meta": _meta_from(path, data),
        "hidden": hidden or None,
        **times,
    }
    try:
        return Recording(**fields)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{path}: {err}") from err


def _named(path: Path, err: Exception) -> Exception:
    """``err`` as ValueError/TypeError whose message names ``path``."""
    kind = err.__class__ if isinstance(err, (TypeError, ValueError)) else ValueError
    text = str(err)
    return kind(text if str(path) in text else f"{path}: {text or type(err).__name__}")


def load_recording(
    path: str | Path, sweep: int | str | None = None, *, stimulus: str | None = None
) -> Recording:
    """Read a recording file, choosing the reader by suffix.

    ``.nwb`` files go to :func:`load_nwb` (with `sweep` and `stimulus`), anything else
    to :func:`load_npz`, which holds one sweep, so `sweep`/`stimulus` must be None.
    Units are those of :class:`Recording`: mV, nA, ms.
    """
    if Path(path).suffix.lower() == ".nwb":
        return load_nwb(path, sweep, stimulus=stimulus)
    if sweep is not None or stimulus is not None:
        raise TypeError(
            f"{path}: sweep=/stimulus= select a sweep of an NWB file; an npz file holds "
            "one sweep, so leave them None."
        )
    return load_npz(path)
