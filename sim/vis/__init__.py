"""Plotting morphologies with matplotlib (``Module.vis`` and ``Network.vis``).

``draw_module`` draws a module or a view in one of :data:`VIS_TYPES`;
``vis_network`` adds a network's synapses (and the ``detail="point"`` overview).
Coordinates come from :mod:`sim.modules.layout`; nothing here affects simulation.
"""

from __future__ import annotations

from collections.abc import Sequence

from sim.vis.network import vis_network
from sim.vis.options import VIS_TYPES, parse_dims, parse_type, prepare_axes

__all__ = ["VIS_TYPES", "draw_module", "vis_network"]


def draw_module(
    module,
    ax=None,
    color="k",
    dims: Sequence[int] = (0, 1),
    type: str = "line",
    **kwargs,
):
    """Draw what is in view of `module` into `ax` (a new figure if None); returns the Axes.

    ``type``: ``"line"`` (the traced points of each branch joined by lines),
    ``"scatter"`` (the traced points), ``"comp"`` (every compartment as a cylinder of
    its radius and length), ``"morph"`` (the traced morphology with its radii) or
    ``"volume"`` (``"morph"`` as 3-D surfaces). ``dims``: the two coordinates of the
    projection (0=x, 1=y, 2=z) or three for a 3-D plot. Branches without
    coordinates are laid out first (``compute_xyz``). ``resolution`` sets the
    number of points of round outlines; ``true_comp_length`` (``"comp"`` only, default
    True) whether cylinders are as long as the compartments or as the straight
    distance between their ends. Other keyword arguments go to matplotlib.
    """
    from sim.modules.layout import geometry_in_view
    from sim.vis.draw import DRAWERS

    kind = parse_type(type)
    dims = parse_dims(dims, kind)
    ax = prepare_axes(ax, dims)
    resolution = kwargs.pop("resolution", None)
    if resolution is not None and (int(resolution) != resolution or resolution < 3):
        raise ValueError(f"resolution must be an integer >= 3, got {resolution!r}.")
    if kind in ("comp", "morph", "volume") and resolution is not None:
        kwargs["resolution"] = int(resolution)
    DRAWERS[kind](ax, geometry_in_view(module), color, dims, **kwargs)
    return ax
