"""Checkpoints and result files: npz + json only, fingerprinted, written atomically.

* **No pickle.** Checkpoints are ``.npz`` archives of plain arrays read with
  ``allow_pickle=False``, plus one JSON string; a pytree (e.g. a numpyro sampler
  state) is stored as its leaves and rebuilt from a *template* of the same
  structure, which the caller constructs itself. Opening a results folder can
  never run code.
* **Fingerprints.** Every checkpoint records a fingerprint of everything that
  determines its result (data hash, model, priors, likelihood, noise, sampler
  settings, seed, package version). :func:`check_fingerprint` refuses to resume
  from a checkpoint made for a different run and names the fields that differ.
* **Atomic writes.** :func:`atomic_path` writes to a temporary file in the same
  folder and renames it over the target only when the write completed, so a run
  killed mid-write leaves the previous complete file intact.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import jax
import numpy as np

from sim.utils.files import atomic_path, atomic_write_text

__all__ = [
    "ResumeMismatchError",
    "CheckpointError",
    "atomic_path",
    "atomic_write_text",
    "fingerprint",
    "check_fingerprint",
    "save_arrays",
    "load_arrays",
    "save_tree",
    "load_tree",
    "package_version",
    "RunClock",
]

FORMAT = "neurofit-checkpoint-1"
_META = "__meta__"


class ResumeMismatchError(ValueError):
    """A checkpoint was made for a different run than the one asked to resume it."""


class CheckpointError(ValueError):
    """A checkpoint file is unreadable, not ours, or of another structure."""


def package_version() -> str:
    try:
        return metadata.version("neurofit")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare tree
        return "unknown"


class RunClock:
    """Wall time of a run over all its invocations (interrupted and resumed ones).

    Checkpoints store :meth:`elapsed` in their header; a resumed run calls
    :meth:`restore` with the stored value, so the total counts the killed parts.
    """

    def __init__(self, offset: float = 0.0) -> None:
        import time

        self._time = time.perf_counter
        self._start = self._time()
        self.offset = float(offset)

    def elapsed(self) -> float:
        return self.offset + self._time() - self._start

    def restore(self, elapsed: float) -> None:
        """Continue from a checkpoint that was written ``elapsed`` seconds into the run."""
        self.offset = float(elapsed)
        self._start = self._time()


# ----------------------------------------------------------------------------- fingerprints
def _canonical(value: Any) -> Any:
    """A JSON-able, order-independent description of ``value`` (arrays by hash)."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (np.ndarray, jax.Array)) or hasattr(value, "__array__"):
        arr = np.ascontiguousarray(np.asarray(value))
        digest = hashlib.sha256(arr.tobytes() + str((arr.dtype, arr.shape)).encode()).hexdigest()
        return f"sha256:{digest[:16]}"
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def fingerprint(**fields: Any) -> dict[str, Any]:
    """Canonical description of a run: arrays are hashed, the package version added."""
    out = {k: _canonical(v) for k, v in fields.items()}
    out.setdefault("package_version", package_version())
    return out


def check_fingerprint(saved: Mapping[str, Any], current: Mapping[str, Any], where: Path) -> None:
    """Raise :class:`ResumeMismatchError` naming every field in which the runs differ."""
    keys = sorted(set(saved) | set(current))
    diff = [k for k in keys if saved.get(k) != current.get(k)]
    if diff:
        shown = "; ".join(f"{k}: saved {saved.get(k)!r}, now {current.get(k)!r}" for k in diff)
        raise ResumeMismatchError(
            f"{where} was written by a different run ({shown}). Resuming would mix results "
            "of different runs: use a new output folder, or rerun without --resume."
        )


# ----------------------------------------------------------------------------- npz archives
def save_arrays(
    path: str | Path,
    arrays: Mapping[str, Any],
    *,
    fingerprint: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write named arrays and a JSON header (fingerprint, ``extra``) atomically."""
    meta = {"format": FORMAT, "fingerprint": dict(fingerprint), "extra": dict(extra or {})}
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    for name, arr in payload.items():
        if arr.dtype == object:
            raise TypeError(f"checkpoint array {name!r} has dtype object; store numbers only.")
    payload[_META] = np.asarray(json.dumps(meta, default=_json_default))
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **payload)


def _json_default(value):
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint header")


def load_arrays(
    path: str | Path, *, fingerprint: Mapping[str, Any] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read an archive written by :func:`save_arrays`; checks the fingerprint if given."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - zip, format and pickle errors alike
        raise CheckpointError(f"{path} is not a readable checkpoint ({err}).") from err
    raw = arrays.pop(_META, None)
    try:
        meta = json.loads(str(raw)) if raw is not None else None
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path} has a corrupt header ({err}).") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a {FORMAT} checkpoint.")
    if fingerprint is not None:
        check_fingerprint(meta.get("fingerprint", {}), fingerprint, path)
    return arrays, meta.get("extra", {})


def save_tree(
    path: str | Path,
    tree: Any,
    *,
    fingerprint: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write a pytree's leaves (and its structure, for checking) atomically."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    arrays = {f"leaf_{k:05d}": np.asarray(leaf) for k, leaf in enumerate(leaves)}
    save_arrays(
        path,
        arrays,
        fingerprint=fingerprint,
        extra={**(extra or {}), "treedef": str(treedef), "num_leaves": len(leaves)},
    )


def load_tree(
    path: str | Path, template: Any, *, fingerprint: Mapping[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """Rebuild a pytree saved by :func:`save_tree` into the structure of ``template``."""
    arrays, extra = load_arrays(path, fingerprint=fingerprint)
    leaves, treedef = jax.tree_util.tree_flatten(template)
    if extra.get("treedef") != str(treedef) or extra.get("num_leaves") != len(leaves):
        raise CheckpointError(
            f"{path} holds a state of another structure than this run expects; it was "
            "written by another version or configuration. Use a new output folder."
        )
    saved = [arrays[f"leaf_{k:05d}"] for k in range(len(leaves))]
    for k, (old, new) in enumerate(zip(leaves, saved)):
        if np.shape(old) != new.shape:
            raise CheckpointError(
                f"{path}: leaf {k} has shape {new.shape}, expected {np.shape(old)}."
            )
    return jax.tree_util.tree_unflatten(treedef, saved), extra
