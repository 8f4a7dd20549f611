"""Membrane mechanisms: the :class:`Channel` base class and ready-made channels."""

from sim.channels.channel import Channel
from sim.channels.hh import HH
from sim.channels.point import AdEx, Fire, Izhikevich, Rate
from sim.channels.pospischil import CaL, CaT, K, Km, Leak, Na

__all__ = [
    "AdEx",
    "CaL",
    "CaT",
    "Channel",
    "Fire",
    "HH",
    "Izhikevich",
    "K",
    "Km",
    "Leak",
    "Na",
    "Rate",
]
