"""``Network.vis``: the cells at their positions, and the synapses between them."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from sim.vis.options import parse_dims, parse_type, prepare_axes

_DETAILS = ("full", "point")
#: Keyword arguments of ``Network.vis`` that are options of ``Module.vis`` (the cells'
#: drawing with ``detail="full"``); any other extra keyword argument is ignored.
_CELL_OPTIONS = ("type", "resolution", "true_comp_length")


def _comp_table(net) -> tuple[np.ndarray, np.ndarray]:
    """Per global compartment index, its global branch index and global cell index."""
    nodes = net.base.nodes
    comp = nodes["global_comp_index"].to_numpy(dtype=int)
    branch_of = np.full(int(comp.max()) + 1, -1, dtype=int)
    cell_of = np.full(int(comp.max()) + 1, -1, dtype=int)
    branch_of[comp] = nodes["global_branch_index"].to_numpy(dtype=int)
    cell_of[comp] = nodes["global_cell_index"].to_numpy(dtype=int)
    return branch_of, cell_of


def _cell_branches(net) -> dict[int, np.ndarray]:
    """Global branch indices (ascending) of every cell of the base network, by cell."""
    pairs = net.base.nodes[["global_cell_index", "global_branch_index"]].drop_duplicates()
    return {
        int(c): np.sort(g["global_branch_index"].to_numpy())
        for c, g in pairs.groupby("global_cell_index")
    }


def cell_positions(net) -> dict[int, np.ndarray]:
    """Per cell (by global index), the mean of its traced points, as ``detail="point"`` shows."""
    xyzr = net.base.xyzr
    return {
        cell: np.concatenate([np.asarray(xyzr[b], dtype=float)[:, :3] for b in branches]).mean(0)
        for cell, branches in _cell_branches(net).items()
    }


def _warn_if_stacked(net) -> None:
    """Warn (as Jaxley does) when the first branches of all cells have the same coordinates."""
    firsts = [np.asarray(net.base.xyzr[b[0]])[:, :3] for b in _cell_branches(net).values()]
    if len(firsts) > 1 and all(
        f.shape == firsts[0].shape and np.all(f == firsts[0]) for f in firsts
    ):
        warnings.warn(
            "All cells are at the same position, so they are drawn on top of each other; "
            "place them with net.arrange_in_layers(), net.cell(i).move_to() or "
            "net.cell(i).move().",
            UserWarning,
            stacklevel=4,
        )


def synapse_ends(net, detail: str) -> np.ndarray:
    """Pre- and postsynaptic 3-D points of every synapse, ``(nedges, 2, 3)``.

    With ``detail="full"`` a synapse end sits at its location (``pre_locs`` /
    ``post_locs``, a fraction of the branch) on the traced path of its branch,
    interpolated by path length; with ``"point"`` at its cell's position
    (:func:`cell_positions`).
    """
    from sim.modules.layout import interpolate_path

    base = net.base
    edges = base.edges
    ends = np.zeros((len(edges), 2, 3))
    if len(edges) == 0:
        return ends
    branch_of, cell_of = _comp_table(net)
    positions = cell_positions(net) if detail == "point" else {}
    for side, prefix in enumerate(("pre", "post")):
        comps = edges[f"{prefix}_index"].to_numpy(dtype=int)
        if detail == "point":
            ends[:, side] = np.asarray([positions[int(c)] for c in cell_of[comps]])
            continue
        locs = edges[f"{prefix}_locs"].to_numpy(dtype=float)
        branches = branch_of[comps]
        for b in np.unique(branches):
            at = branches == b
            pts = np.asarray(base.xyzr[int(b)], dtype=float).reshape(-1, 4)
            ends[at, side] = interpolate_path(pts, locs[at])[:, :3]
    return ends


def _split_cell_kwargs(cell_plot_kwargs: dict | None, kwargs: dict) -> dict:
    """The keyword arguments for drawing the cells: `cell_plot_kwargs` and vis options.

    Like Jaxley, ``Network.vis`` absorbs extra keyword arguments; the options of
    ``Module.vis`` among them (``type``, ``resolution``, ``true_comp_length``) are
    used, the rest are ignored with a warning.
    """
    options = {k: kwargs[k] for k in _CELL_OPTIONS if k in kwargs}
    ignored = sorted(set(kwargs) - set(options))
    if ignored:
        warnings.warn(
            f"Network.vis ignores the keyword arguments {ignored}; pass matplotlib "
            "options for the cells in cell_plot_kwargs and for the synapses in "
            "synapse_plot_kwargs / synapse_scatter_kwargs.",
            UserWarning,
            stacklevel=4,
        )
    return {**options, **(cell_plot_kwargs or {})}


def vis_network(
    net,
    detail: str = "full",
    ax=None,
    color="k",
    synapse_color="b",
    dims: Sequence[int] = (0, 1),
    cell_plot_kwargs: dict | None = None,
    synapse_plot_kwargs: dict | None = None,
    synapse_scatter_kwargs: dict | None = None,
    **kwargs,
):
    """Draw a network: its cells, then a line per synapse with a dot at the postsynaptic end.

    ``detail="full"`` draws every cell's morphology with ``Module.vis``
    (``cell_plot_kwargs``, e.g. ``{"type": "comp", "lw": 0.5}``); ``"point"`` draws each
    cell as one dot at the mean of its traced points (``cell_plot_kwargs`` go to
    ``scatter``). Branches without coordinates are laid out first; a warning says
    when all cells are at one place. Returns the Axes.
    """
    from sim.modules.layout import ensure_coordinates
    from sim.vis import draw_module

    if not isinstance(detail, str) or detail not in _DETAILS:
        raise ValueError(f"detail must be one of {list(_DETAILS)}, got {detail!r}.")
    cell_kwargs = _split_cell_kwargs(cell_plot_kwargs, kwargs)
    kind = cell_kwargs.pop("type", "line") if detail == "full" else "line"
    dims = parse_dims(dims, parse_type(kind))
    ensure_coordinates(net)
    _warn_if_stacked(net)
    ax = prepare_axes(ax, dims)
    if detail == "full":
        draw_module(net, ax=ax, color=color, dims=dims, type=kind, **cell_kwargs)
    else:
        for option in _CELL_OPTIONS:
            cell_kwargs.pop(option, None)
        for pos in cell_positions(net).values():
            ax.scatter(*pos[list(dims), None], color=color, **cell_kwargs)
    for pre_post in synapse_ends(net, detail):
        points = pre_post[:, list(dims)]
        ax.plot(*points.T, color=synapse_color, **(synapse_plot_kwargs or {}))
        ax.scatter(*points[1:].T, color=synapse_color, **(synapse_scatter_kwargs or {}))
    return ax
