"""Utilities (``sim.utils.dynamics`` mirrors ``jaxley.utils.dynamics``)."""
