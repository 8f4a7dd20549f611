"""Reading and writing morphologies and modules: SWC files and compartment graphs.

``sim.io.read_swc`` is :func:`sim.read_swc`; ``sim.io.from_graph`` is
:func:`sim.io.graph.from_graph` (the graph functions need ``networkx``).
"""

from sim.io.graph import from_graph
from sim.morphology.read import read_swc

__all__ = ["from_graph", "read_swc"]
