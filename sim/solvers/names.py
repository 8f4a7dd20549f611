"""Tree solvers by name: the strings of the seed API, resolved in one place.

``voltage_solver`` strings are accepted only at the API surface (``integrate``,
``build_init_and_step_fn``); everything below works with solver objects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import numpy as np

from sim.solvers.segments import SegmentTreeSolver
from sim.solvers.tree import DenseTreeSolver, LevelTreeSolver, SequentialTreeSolver, TreeSolver

__all__ = ["solver_from_name", "SOLVER_NAMES", "default_solver_name"]


def _segments_cpu(parent, force_junction=None) -> TreeSolver:
    return SegmentTreeSolver(parent, force_junction=force_junction)


def _segments_gpu(parent, force_junction=None) -> TreeSolver:
    return SegmentTreeSolver(parent, force_junction=force_junction, junction_solver=LevelTreeSolver)


def _auto(parent, force_junction=None) -> TreeSolver:
    """Segments + sequential junction solve on CPU, + level-parallel junctions on GPU."""
    if jax.default_backend() == "cpu":
        return _segments_cpu(parent, force_junction)
    return _segments_gpu(parent, force_junction)


def _plain(cls) -> Callable[..., TreeSolver]:
    def make(parent, force_junction=None) -> TreeSolver:
        return cls(parent)

    return make


#: Accepted ``voltage_solver`` names. The Jaxley names map to our solvers:
#: ``"jaxley.dhs"`` (Jaxley's default) and ``"jaxley.stone"`` choose per backend,
#: ``"jaxley.dhs.cpu"`` / ``"jaxley.dhs.gpu"`` force one variant,
#: ``"jaxley.thomas"`` is NEURON's node-by-node Hines elimination and
#: ``"jax.sparse"`` a general (dense) solve.
SOLVER_NAMES: dict[str, Callable[..., TreeSolver]] = {
    "jaxley.dhs": _auto,
    "jaxley.stone": _auto,
    "jaxley.dhs.cpu": _segments_cpu,
    "jaxley.dhs.gpu": _segments_gpu,
    "jaxley.thomas": _plain(SequentialTreeSolver),
    "jax.sparse": _plain(DenseTreeSolver),
    "segments": _segments_cpu,
    "hines": _plain(SequentialTreeSolver),
    "levels": _plain(LevelTreeSolver),
    "dense": _plain(DenseTreeSolver),
}


def default_solver_name() -> str:
    return "jaxley.dhs"


def solver_from_name(
    name: str | type[TreeSolver],
    parent: np.ndarray | Sequence[int],
    *,
    force_junction: np.ndarray | None = None,
) -> TreeSolver:
    """Construct a tree solver from a name (see :data:`SOLVER_NAMES`) or a class.

    Raises:
        ValueError: For an unknown name or an unsuitable class.
    """
    if isinstance(name, type):
        if issubclass(name, TreeSolver) and not getattr(name, "__abstractmethods__", None):
            return name(parent)
        raise ValueError(f"solver class must be a concrete TreeSolver subclass, got {name!r}.")
    make = SOLVER_NAMES.get(name) if isinstance(name, str) else None
    if make is None:
        valid = ", ".join(repr(k) for k in SOLVER_NAMES)
        raise ValueError(f"unknown tree solver {name!r}; valid names are {valid}.")
    return make(parent, force_junction)
