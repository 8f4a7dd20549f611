"""A small ionotropic synapse with fixed kinetics, for tests (as Jaxley's ``TestSynapse``)."""

from __future__ import annotations

from sim.solver_gate import save_exp
from sim.synapses.synapse import Synapse

__all__ = ["TestSynapse"]


class TestSynapse(Synapse):
    """Open fraction ``c`` driven by the presynaptic voltage (``v_th`` -35 mV, ``delta``
    10 mV, ``k_minus`` 1/40 per ms), current ``gC c (v_post - 0)``. Parameter ``gC``
    (1e-4 µS), state ``c`` (0.2)."""

    __test__ = False  # not a pytest test class

    def __init__(self, name: str | None = None):
        super().__init__(name)
        p = self._name
        self.synapse_params = {f"{p}_gC": 1e-4}
        self.synapse_states = {f"{p}_c": 0.2}

    def update_states(self, states, delta_t, pre_voltage, post_voltage, params):
        p = self._name
        s_inf = 1.0 / (1.0 + save_exp((-35.0 - pre_voltage) / 10.0))
        tau = (1.0 - s_inf) / (1.0 / 40.0)
        decay = save_exp(-delta_t / tau)
        return {f"{p}_c": states[f"{p}_c"] * decay + s_inf * (1.0 - decay)}

    def compute_current(self, states, pre_voltage, post_voltage, params):
        p = self._name
        return params[f"{p}_gC"] * states[f"{p}_c"] * post_voltage
