"""A generic ionotropic (transmitter-gated) synapse."""

from __future__ import annotations

import math

from sim.solver_gate import save_exp
from sim.synapses.synapse import Synapse

__all__ = ["IonotropicSynapse"]


class IonotropicSynapse(Synapse):
    """Ionotropic synapse of Abbott & Marder (1998), as in Jaxley.

    The open fraction ``s`` relaxes towards ``s_inf = 1 / (1 + exp((v_th - v_pre) /
    delta))`` with time constant ``(1 - s_inf) / k_minus``; the current is
    ``gS * s * (v_post - e_syn)``.

    Parameters (defaults): ``gS`` 1e-4 µS, ``e_syn`` 0 mV, ``k_minus`` 0.025 1/ms,
    ``v_th`` -35 mV, ``delta`` 10 mV. State: ``s`` (0.2).
    """

    def __init__(self, name: str | None = None):
        super().__init__(name)
        p = self._name
        self.synapse_params = {
            f"{p}_gS": 1e-4,
            f"{p}_e_syn": 0.0,
            f"{p}_k_minus": 0.025,
            f"{p}_v_th": -35.0,
            f"{p}_delta": 10.0,
        }
        self.synapse_states = {f"{p}_s": 0.2}
        self.param_bounds = {f"{p}_gS": (0.0, math.inf), f"{p}_k_minus": (0.0, math.inf)}
        self.state_bounds = {f"{p}_s": (0.0, 1.0)}

    @property
    def presynaptic_params(self) -> tuple[str, ...]:
        """Parameters of :meth:`presynaptic_terms` (shared by a compartment's edges)."""
        p = self._name
        return (f"{p}_v_th", f"{p}_delta", f"{p}_k_minus")

    def presynaptic_terms(self, delta_t, pre_voltage, params):
        """``(s_inf, decay)``: they depend on the presynaptic voltage alone.

        The step evaluates them once per presynaptic compartment when the edges
        leaving it share ``v_th``, ``delta`` and ``k_minus`` (see
        :mod:`sim.core.sites`); :meth:`update_states` is the same computation per edge.
        """
        p = self._name
        s_inf = 1.0 / (1.0 + save_exp((params[f"{p}_v_th"] - pre_voltage) / params[f"{p}_delta"]))
        tau_s = (1.0 - s_inf) / params[f"{p}_k_minus"]
        return s_inf, save_exp(-delta_t / tau_s)

    def update_from_presynaptic(self, states, terms, delta_t, post_voltage, params):
        """The new ``s`` from the terms of :meth:`presynaptic_terms` (per edge)."""
        s_inf, decay = terms
        p = self._name
        return {f"{p}_s": states[f"{p}_s"] * decay + s_inf * (1.0 - decay)}

    def update_states(self, states, delta_t, pre_voltage, post_voltage, params):
        terms = self.presynaptic_terms(delta_t, pre_voltage, params)
        return self.update_from_presynaptic(states, terms, delta_t, post_voltage, params)

    def compute_current(self, states, pre_voltage, post_voltage, params):
        p = self._name
        g = params[f"{p}_gS"] * states[f"{p}_s"]
        return g * (post_voltage - params[f"{p}_e_syn"])
