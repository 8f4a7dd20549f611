"""Checking the arguments of ``vis`` and preparing the matplotlib Axes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: The plot types of ``Module.vis``.
VIS_TYPES = ("line", "scatter", "comp", "morph", "volume")
_AXIS_NAMES = ("x", "y", "z")


def parse_type(type: str) -> str:
    """The plot type named by `type` (case-insensitive).

    As in Jaxley, a name containing a type is that type (``"compartments"`` is
    ``"comp"``, ``"morphology"`` is ``"morph"``).
    """
    if isinstance(type, str):
        name = type.strip().lower()
        for kind in ("comp", "morph", "volume", "line", "scatter"):
            if kind in name:
                return kind
    raise ValueError(f"type must be one of {', '.join(repr(t) for t in VIS_TYPES)}; got {type!r}.")


def parse_dims(dims: Sequence[int], kind: str) -> tuple[int, ...]:
    """The coordinates to draw: two (a projection) or three (3-D) of 0=x, 1=y, 2=z.

    ``type="volume"`` is always 3-D: two dims are completed by the remaining one.
    """
    try:
        values = np.asarray(dims)
        valid = (
            values.ndim == 1
            and values.size in (2, 3)
            and np.issubdtype(values.dtype, np.integer)
            and set(values.tolist()) <= {0, 1, 2}
            and len(set(values.tolist())) == values.size
        )
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(
            "dims must be two or three different coordinates out of 0 (x), 1 (y), 2 (z), "
            f"e.g. (0, 1) or (0, 1, 2); got {dims!r}."
        )
    out = tuple(int(d) for d in np.asarray(dims))
    if kind == "volume" and len(out) == 2:
        out = out + tuple(d for d in range(3) if d not in out)
    return out


def _is_3d(ax) -> bool:
    return getattr(ax, "name", "") == "3d"


def prepare_axes(ax, dims: tuple[int, ...]):
    """`ax`, or a new 3 x 3 inch figure's Axes (3-D for three dims), checked against `dims`."""
    import matplotlib.pyplot as plt

    three_d = len(dims) == 3
    if ax is None:
        fig = plt.figure(figsize=(3, 3))
        return fig.add_subplot(111, projection="3d" if three_d else None)
    if three_d and not _is_3d(ax):
        raise ValueError(
            f"dims {dims} draw in 3-D and need 3-D Axes (e.g. "
            "fig.add_subplot(projection='3d')) or ax=None; pass two dims for a 2-D plot."
        )
    if not three_d and _is_3d(ax):
        raise ValueError(
            f"dims {dims} draw a 2-D projection but ax is 3-D; pass three dims, e.g. (0, 1, 2)."
        )
    return ax


def axis_labels(dims: tuple[int, ...]) -> list[str]:
    """Names (x, y, z) of the coordinates in `dims`."""
    return [_AXIS_NAMES[d] for d in dims]
