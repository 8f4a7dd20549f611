"""Jaxley's ``jaxley.modules.base`` names: the `Module` base class and `to_graph`."""

from sim.io.export import to_graph
from sim.modules.module import Module

__all__ = ["Module", "to_graph"]
