"""Several cells simulated together."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sim.modules.assembly import stack
from sim.modules.cell import Cell
from sim.modules.module import Module


class Network(Module):
    """A network of cells (synapses between them are added with ``sim.connect``)."""

    #: Network-level parameters and states (none; kept for Jaxley's attribute names).
    network_params: dict[str, float] = {}
    network_states: dict[str, float] = {}

    def __init__(self, cells, vectorize_cells: bool = True) -> None:
        """``vectorize_cells`` is accepted for Jaxley compatibility: mechanisms of all
        cells are always evaluated as one vectorised kernel here."""
        super().__init__()
        cell_list = list(cells)
        if not cell_list or not all(isinstance(c, Cell) for c in cell_list):
            raise TypeError("Network() takes a non-empty list of Cells.")
        stack(self, cell_list, level="cell")

    def arrange_in_layers(
        self,
        layers: Sequence[int],
        within_layer_offset: float = 500.0,
        between_layer_offset: float = 1500.0,
        vertical_layers: bool = False,
    ) -> None:
        """Place the cells in layers (for plotting; positions never affect simulation).

        ``layers[l]`` consecutive cells form layer ``l``. Layers are ``between_layer_offset``
        µm apart along x (along y, top to bottom, with ``vertical_layers``); cells of a
        layer are centred and spaced ``within_layer_offset`` µm apart along the other axis.
        Each cell is moved so that its first traced point lands on its position.
        """
        counts = np.asarray(list(layers))
        ncells = len(np.unique(self.nodes["global_cell_index"].to_numpy()))
        if counts.ndim != 1 or not np.issubdtype(counts.dtype, np.integer) or (counts < 0).any():
            raise ValueError(f"layers must be a list of cell counts, got {layers!r}.")
        if int(counts.sum()) != ncells:
            raise ValueError(
                f"layers {counts.tolist()} hold {int(counts.sum())} cells but the network "
                f"has {ncells}; the counts must add up to the number of cells."
            )
        xs, ys = [], []
        for layer, n in enumerate(counts):
            across = (np.arange(n) - (n - 1) / 2) * within_layer_offset
            along = np.full(n, float(layer) * between_layer_offset)
            if vertical_layers:
                xs.append(across)
                ys.append((len(counts) - 1) * between_layer_offset - along)
            else:
                xs.append(along)
                ys.append(across)
        x, y = np.concatenate(xs), np.concatenate(ys)
        self.move_to(x=x, y=y, z=np.zeros(ncells))

    def vis(  # pyright: ignore[reportIncompatibleMethodOverride]  (Jaxley's signature)
        self,
        detail: str = "full",
        ax=None,
        color: str = "k",
        synapse_color: str = "b",
        dims=(0, 1),
        cell_plot_kwargs: dict = {},  # noqa: B006  (Jaxley's defaults; never mutated)
        synapse_plot_kwargs: dict = {},  # noqa: B006
        synapse_scatter_kwargs: dict = {},  # noqa: B006
        **kwargs,
    ):
        """Plot the cells at their positions and a line per synapse (pre to post).

        ``detail="full"`` draws every cell's morphology (``Module.vis`` with
        ``cell_plot_kwargs``, e.g. ``{"type": "comp"}``); ``"point"`` one dot per cell
        at the mean of its traced points. Each synapse is a line in `synapse_color`
        (``synapse_plot_kwargs``) with a dot at its postsynaptic end
        (``synapse_scatter_kwargs``). See :func:`sim.vis.vis_network`. Returns the Axes.
        """
        from sim.vis import vis_network

        return vis_network(
            self,
            detail=detail,
            ax=ax,
            color=color,
            synapse_color=synapse_color,
            dims=dims,
            cell_plot_kwargs=cell_plot_kwargs,
            synapse_plot_kwargs=synapse_plot_kwargs,
            synapse_scatter_kwargs=synapse_scatter_kwargs,
            **kwargs,
        )
