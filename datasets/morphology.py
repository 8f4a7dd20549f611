"""Morphologies: locating the shared SWC reconstructions and loading them as cells."""

from __future__ import annotations

from pathlib import Path


def default_morphology_dir() -> Path:
    """``../shared/data/morphologies`` relative to the repository root."""
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "morphologies"


def morphology_paths(data_dir: str | Path | None = None) -> dict[str, Path]:
    """``{name: path}`` of every ``*.swc`` file (name without ``morph_`` and ``.swc``).

    Empty when the folder does not exist.
    """
    folder = default_morphology_dir() if data_dir is None else Path(data_dir)
    if not folder.is_dir():
        return {}
    return {p.stem.removeprefix("morph_"): p for p in sorted(folder.glob("*.swc"))}


def load_morphology(name_or_path: str | Path, ncomp: int = 1, **read_swc_kwargs):
    """A ``sim`` Cell read from a shared morphology name (e.g. ``"ca1_n120"``) or a path.

    Extra keyword arguments go to :func:`sim.read_swc` (``max_branch_len``,
    ``min_radius``, ``assign_groups``).
    """
    from sim.morphology.read import read_swc

    path = Path(name_or_path)
    if not path.suffix:
        known = morphology_paths()
        if str(name_or_path) not in known:
            raise ValueError(
                f"Unknown morphology {name_or_path!r}; available: {sorted(known)} "
                f"(in {default_morphology_dir()}), or pass a path to an .swc file."
            )
        path = known[str(name_or_path)]
    return read_swc(path, ncomp=ncomp, **read_swc_kwargs)
