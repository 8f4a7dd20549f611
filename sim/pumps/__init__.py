"""Pumps: mechanisms that change ion concentrations (``jaxley.pumps``)."""

from sim.pumps.calcium import CaFaradayConcentrationChange, CaNernstReversal, CaPump
from sim.pumps.pump import Pump

__all__ = ["CaFaradayConcentrationChange", "CaNernstReversal", "CaPump", "Pump"]
