"""Point-neuron and rate mechanisms that set the voltage themselves (Jaxley's
``non_capacitive`` channels): ``Fire``, ``Izhikevich``, ``AdEx``, ``Rate``.

They carry no membrane current (``compute_current`` is 0); instead
``update_states`` returns a new ``"v"`` for their compartments: a threshold/reset
rule, or the whole integrate-and-fire / rate dynamics integrated explicitly. In
the step this happens after the cable solve (NEURON's order, see
:mod:`sim.core.step`), so a reset or an explicit voltage update is what the next
step starts from. Spikes are piecewise constant: gradients are zero after a
spike (no surrogate gradients).
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from sim.channels.channel import Channel
from sim.solver_gate import exponential_euler, save_exp

__all__ = ["Fire", "Izhikevich", "AdEx", "Rate"]


class Fire(Channel):
    """Reset ``v`` to ``vreset`` when it exceeds ``vth`` (with ``Leak``: an LIF neuron).

    Parameters (defaults): ``vth`` -50 mV, ``vreset`` -70 mV. State ``spikes`` (1 in the
    step a spike occurred, else 0).
    """

    def __init__(self, name: str | None = None):
        super().__init__(name)
        p = self._name
        self.channel_params = {f"{p}_vth": -50.0, f"{p}_vreset": -70.0}
        self.channel_states = {f"{p}_spikes": 0.0}
        self.current_name = f"{p}_fire"

    def update_states(self, states, dt, v, params):
        p = self._name
        spike = v > params[f"{p}_vth"]
        return {"v": jnp.where(spike, params[f"{p}_vreset"], v), f"{p}_spikes": spike * 1.0}

    def compute_current(self, states, v, params):
        return jnp.zeros_like(v)


class Izhikevich(Channel):
    """Izhikevich (2003): ``v' = 0.04 v² + 5 v + 140 - u``, ``u' = a (b v - u)``;
    at ``v >= 30`` mV: ``v = c``, ``u += d``.

    ``u`` is advanced exactly at fixed ``v``, then ``v`` by explicit Euler.
    Parameters (defaults): ``a`` 0.02, ``b`` 0.2, ``c`` -65 mV, ``d`` 8. State ``u``.
    """

    def __init__(self, name: str | None = None):
        super().__init__(name)
        p = self._name
        self.channel_params = {f"{p}_a": 0.02, f"{p}_b": 0.2, f"{p}_c": -65.0, f"{p}_d": 8.0}
        self.channel_states = {f"{p}_u": 0.0}
        self.current_name = f"{p}_izhikevich"

    def update_states(self, states, dt, v, params):
        p = self._name
        a, b = params[f"{p}_a"], params[f"{p}_b"]
        u = exponential_euler(states[f"{p}_u"], dt, b * v, 1.0 / a)
        v = v + dt * (0.04 * v**2 + 5.0 * v + 140.0 - u)
        spike = v >= 30.0
        return {
            "v": jnp.where(spike, params[f"{p}_c"], v),
            f"{p}_u": jnp.where(spike, u + params[f"{p}_d"], u),
        }

    def compute_current(self, states, v, params):
        return jnp.zeros_like(v)

    def init_state(self, states, v, params, delta_t):
        return {f"{self._name}_u": params[f"{self._name}_b"] * v}


class AdEx(Channel):
    """Adaptive exponential integrate-and-fire (Brette & Gerstner 2005).

    ``C v' = -g_L (v - E_L) + g_L delta_T exp((v - v_T) / delta_T) - w`` and
    ``tau_w w' = a (v - E_L) - w``; at ``v >= v_threshold``: ``v = v_reset``,
    ``w += b``. ``C`` is the compartment's ``capacitance``; densities as for
    channels (S/cm², mA/cm²). ``w`` is advanced exactly at fixed ``v``, ``v`` by
    explicit Euler with the exponential capped at ``exp(10)``.

    Parameters (defaults): ``g_L`` 10, ``E_L`` -70 mV, ``v_T`` -50 mV, ``delta_T`` 2 mV,
    ``v_threshold`` 0 mV, ``v_reset`` -58 mV, ``tau_w`` 30 ms, ``a`` 2, ``b`` 0.
    States ``w`` and ``spikes``.
    """

    def __init__(self, name: str | None = None, surrogate_warning: bool = True):
        super().__init__(name)
        p = self._name
        self.channel_params = {
            f"{p}_g_L": 10.0,
            f"{p}_E_L": -70.0,
            f"{p}_v_T": -50.0,
            f"{p}_delta_T": 2.0,
            f"{p}_v_threshold": 0.0,
            f"{p}_v_reset": -58.0,
            f"{p}_tau_w": 30.0,
            f"{p}_a": 2.0,
            f"{p}_b": 0.0,
        }
        self.channel_states = {f"{p}_w": 0.0, f"{p}_spikes": 0.0}
        self.current_name = f"i_{p}"
        self.param_bounds = {
            f"{p}_g_L": (0.0, math.inf),
            f"{p}_delta_T": (0.0, math.inf),
            f"{p}_tau_w": (0.0, math.inf),
        }

    def update_states(self, states, dt, v, params):
        p = self._name
        g_l, e_l = params[f"{p}_g_L"], params[f"{p}_E_L"]
        w = exponential_euler(
            states[f"{p}_w"], dt, params[f"{p}_a"] * (v - e_l), params[f"{p}_tau_w"]
        )
        spike_term = (
            g_l
            * params[f"{p}_delta_T"]
            * save_exp(jnp.minimum((v - params[f"{p}_v_T"]) / params[f"{p}_delta_T"], 10.0))
        )
        v = v + dt * (-g_l * (v - e_l) + spike_term - w) / params["capacitance"]
        spike = v >= params[f"{p}_v_threshold"]
        return {
            "v": jnp.where(spike, params[f"{p}_v_reset"], v),
            f"{p}_w": jnp.where(spike, w + params[f"{p}_b"], w),
            f"{p}_spikes": spike * 1.0,
        }

    def compute_current(self, states, v, params):
        return jnp.zeros_like(v)


class Rate(Channel):
    """Leaky rate unit: ``v`` relaxes to 0 with time constant ``tau`` (ms, default 1).

    With synapses such as ``TanhRateSynapse`` this gives rate networks; ``v`` is
    advanced exactly at each step.
    """

    def __init__(self, name: str | None = None):
        super().__init__(name)
        p = self._name
        self.channel_params = {f"{p}_tau": 1.0}
        self.channel_states = {}
        self.current_name = f"{p}_rate"
        self.param_bounds = {f"{p}_tau": (0.0, math.inf)}

    def update_states(self, states, dt, v, params):
        return {"v": exponential_euler(v, dt, 0.0, params[f"{self._name}_tau"])}

    def compute_current(self, states, v, params):
        return jnp.zeros_like(v)
