"""Calcium mechanisms: buffering pump, current-to-concentration and Nernst reversal.

Units: concentrations in mM, currents in mA/cm² (as channels), time in ms,
lengths in µm. The calcium current ``i_Ca`` is that of ``CaL``/``CaT`` (and any
other channel with ``current_name = "i_Ca"``).
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from sim.pumps.pump import Pump

__all__ = ["CaPump", "CaFaradayConcentrationChange", "CaNernstReversal", "FARADAY"]

FARADAY = 96485.3329  # C/mol
GAS_CONSTANT = 8.314  # J/(mol K)


class CaPump(Pump):
    """Calcium influx from ``i_Ca`` into a shell of ``depth`` and first-order removal
    towards ``minCaCon_i`` (Destexhe et al. 1994, as in Jaxley):

        dCa/dt = -1e4 i_Ca gamma / (2 F depth) - (Ca - minCaCon_i) / decay

    Parameters (defaults): ``gamma`` 0.05 (free fraction), ``decay`` 80 ms,
    ``depth`` 0.1 µm, ``minCaCon_i`` 1e-4 mM. States ``i_Ca`` (read), ``CaCon_i``.
    """

    def __init__(self, name: str | None = None):
        super().__init__(name)
        p = self._name
        self.channel_params = {
            f"{p}_gamma": 0.05,
            f"{p}_decay": 80.0,
            f"{p}_depth": 0.1,
            f"{p}_minCaCon_i": 1e-4,
        }
        self.channel_states = {"i_Ca": 1e-8, "CaCon_i": 5e-05}
        self.ion_name = "CaCon_i"
        self.current_name = f"i_{p}"
        self.param_bounds = {
            f"{p}_gamma": (0.0, 1.0),
            f"{p}_decay": (0.0, math.inf),
            f"{p}_depth": (0.0, math.inf),
            f"{p}_minCaCon_i": (0.0, math.inf),
        }
        self.state_bounds = {"CaCon_i": (0.0, math.inf)}

    def compute_current(self, states, modified_state, params):
        p = self._name
        influx = -1e4 * states["i_Ca"] * params[f"{p}_gamma"] / (2 * FARADAY * params[f"{p}_depth"])
        removal = (modified_state - params[f"{p}_minCaCon_i"]) / params[f"{p}_decay"]
        return -(influx - removal)


class CaFaradayConcentrationChange(Pump):
    """Passive calcium accumulation by Faraday's law: ``dCa/dt = -i_Ca (2/r) 1e4 / (2 F)``
    (surface-to-volume ratio ``2 / radius`` of a cylinder). No removal: the
    concentration can become negative. States ``i_Ca`` (read), ``CaCon_i``."""

    def __init__(self, name: str | None = None):
        super().__init__(name)
        self.channel_params = {}
        self.channel_states = {"i_Ca": 1e-8, "CaCon_i": 5e-05}
        self.ion_name = "CaCon_i"
        self.current_name = "i_CaCurrent"

    def compute_current(self, states, modified_state, params):
        return states["i_Ca"] * (2.0 / params["radius"]) * 1e4 / FARADAY / 2.0


class CaNernstReversal(Pump):
    """The calcium reversal ``eCa = R T / (2 F) log(CaCon_e / CaCon_i)`` (mV), updated
    every step from the concentrations; no flux of its own.

    Constants: ``T`` 279.45 K, ``R`` 8.314 J/(mol K), ``F`` 96485.3329 C/mol.
    States ``eCa``, ``CaCon_i`` (5e-5 mM), ``CaCon_e`` (2 mM).
    """

    def __init__(self, name: str | None = None):
        super().__init__(name)
        self.channel_constants = {"F": FARADAY, "T": 279.45, "R": GAS_CONSTANT}
        self.channel_params = {}
        self.channel_states = {"eCa": 0.0, "CaCon_i": 5e-05, "CaCon_e": 2.0}
        self.ion_name = "CaCon_i"
        self.current_name = "i_Ca"
        self.state_bounds = {"CaCon_i": (0.0, math.inf), "CaCon_e": (0.0, math.inf)}

    def update_states(self, states, dt, v, params):
        c = self.channel_constants
        scale = c["R"] * c["T"] / (2 * c["F"]) * 1000.0
        return {"eCa": scale * jnp.log(states["CaCon_e"] / states["CaCon_i"])}

    def compute_current(self, states, modified_state, params):
        return jnp.zeros_like(modified_state)
