"""Membrane mechanisms: the :class:`Channel` base class and ready-made channels."""

from sim.channels.channel import Channel
from sim.channels.hh import HH
from sim.channels.pospischil import CaL, CaT, K, Km, Leak, Na

__all__ = ["Channel", "HH", "Na", "K", "Km", "Leak", "CaL", "CaT"]
