"""Stateless rate-style synapses: a tanh of the presynaptic voltage (as in Jaxley)."""

from __future__ import annotations

import math

import jax.numpy as jnp

from sim.synapses.synapse import Synapse

__all__ = ["TanhRateSynapse", "TanhConductanceSynapse"]


class TanhRateSynapse(Synapse):
    """Current ``-gS tanh((v_pre - x_offset) slope)`` (nA), independent of ``v_post``.

    Parameters (defaults): ``gS`` 1e-4, ``x_offset`` -70 mV, ``slope`` 1 /mV. No states.
    """

    def __init__(self, name: str | None = None):
        super().__init__(name)
        p = self._name
        self.synapse_params = {f"{p}_gS": 1e-4, f"{p}_x_offset": -70.0, f"{p}_slope": 1.0}
        self.synapse_states = {}

    def update_states(self, states, delta_t, pre_voltage, post_voltage, params):
        return {}

    def compute_current(self, states, pre_voltage, post_voltage, params):
        p = self._name
        drive = jnp.tanh((pre_voltage - params[f"{p}_x_offset"]) * params[f"{p}_slope"])
        return -params[f"{p}_gS"] * drive


class TanhConductanceSynapse(Synapse):
    """Conductance ``gS tanh((v_pre - x_offset) slope)`` (µS) towards ``e_syn``.

    Parameters (defaults): ``gS`` 1e-4 µS, ``e_syn`` 0 mV, ``x_offset`` -70 mV,
    ``slope`` 1 /mV. No states.
    """

    def __init__(self, name: str | None = None):
        super().__init__(name)
        p = self._name
        self.synapse_params = {
            f"{p}_gS": 1e-4,
            f"{p}_e_syn": 0.0,
            f"{p}_x_offset": -70.0,
            f"{p}_slope": 1.0,
        }
        self.synapse_states = {}
        self.param_bounds = {f"{p}_gS": (0.0, math.inf)}

    def update_states(self, states, delta_t, pre_voltage, post_voltage, params):
        return {}

    def compute_current(self, states, pre_voltage, post_voltage, params):
        p = self._name
        drive = jnp.tanh((pre_voltage - params[f"{p}_x_offset"]) * params[f"{p}_slope"])
        return drive * params[f"{p}_gS"] * (post_voltage - params[f"{p}_e_syn"])
