"""Several cells simulated together."""

from __future__ import annotations

from sim.modules.assembly import stack
from sim.modules.cell import Cell
from sim.modules.module import Module


class Network(Module):
    """A network of cells (synapses between them are added with ``sim.connect``)."""

    def __init__(self, cells) -> None:
        super().__init__()
        cell_list = list(cells)
        if not cell_list or not all(isinstance(c, Cell) for c in cell_list):
            raise TypeError("Network() takes a non-empty list of Cells.")
        stack(self, cell_list, level="cell")
