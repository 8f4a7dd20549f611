"""A double-exponential conductance synapse, comparable to NEURON's ``Exp2Syn``."""

from __future__ import annotations

import math

import jax.numpy as jnp

from sim.synapses.synapse import Synapse

__all__ = ["DoubleExponentialSynapse"]


class DoubleExponentialSynapse(Synapse):
    """Conductance ``g = weight * factor * (B - A)`` with ``A``, ``B`` decaying with
    ``tau1 < tau2`` (ms) towards ``e`` (mV): NEURON's ``Exp2Syn`` driven by a ``NetCon``.

    A presynaptic *event* (the presynaptic voltage crossing ``threshold`` upwards
    between two steps) adds ``weight`` (µS, via ``factor``, which normalises the
    peak of ``B - A`` to 1) to both ``A`` and ``B``, as NEURON's ``NET_RECEIVE``
    does. Delay semantics: the event is delivered at the end of the step in which
    the crossing is detected, so it first acts in the next step; this is exactly
    NEURON's fixed step with ``NetCon.delay = 0`` (NEURON checks the threshold
    after the step and delivers the zero-delay event before the next one; see
    ``tests/test_exp2syn_neuron.py``). ``A`` and ``B`` then decay exactly
    (``exp(-dt / tau)``) and the current ``g (v_post - e)`` enters the implicit
    voltage solve.

    Parameters (defaults): ``tau1`` 0.5 ms, ``tau2`` 3 ms, ``e`` 0 mV, ``weight``
    1e-3 µS, ``threshold`` -20 mV. States: ``A``, ``B`` (µS before the factor) and
    ``v_prev`` (the presynaptic voltage of the previous step, mV).
    """

    def __init__(self, name: str | None = None):
        super().__init__(name)
        p = self._name
        self.synapse_params = {
            f"{p}_tau1": 0.5,
            f"{p}_tau2": 3.0,
            f"{p}_e": 0.0,
            f"{p}_weight": 1e-3,
            f"{p}_threshold": -20.0,
        }
        self.synapse_states = {f"{p}_A": 0.0, f"{p}_B": 0.0, f"{p}_v_prev": -70.0}
        self.param_bounds = {
            f"{p}_tau1": (0.0, math.inf),
            f"{p}_tau2": (0.0, math.inf),
            f"{p}_weight": (0.0, math.inf),
        }

    def factor(self, params):
        """NEURON's normalisation: ``1 / (exp(-tp/tau2) - exp(-tp/tau1))`` at the peak tp."""
        p = self._name
        tau1, tau2 = params[f"{p}_tau1"], params[f"{p}_tau2"]
        tp = tau1 * tau2 / (tau2 - tau1) * jnp.log(tau2 / tau1)
        return 1.0 / (jnp.exp(-tp / tau2) - jnp.exp(-tp / tau1))

    def update_states(self, states, delta_t, pre_voltage, post_voltage, params):
        p = self._name
        crossed = (states[f"{p}_v_prev"] < params[f"{p}_threshold"]) & (
            pre_voltage >= params[f"{p}_threshold"]
        )
        kick = jnp.where(crossed, params[f"{p}_weight"] * self.factor(params), 0.0)
        a = states[f"{p}_A"] * jnp.exp(-delta_t / params[f"{p}_tau1"]) + kick
        b = states[f"{p}_B"] * jnp.exp(-delta_t / params[f"{p}_tau2"]) + kick
        return {f"{p}_A": a, f"{p}_B": b, f"{p}_v_prev": pre_voltage}

    def compute_current(self, states, pre_voltage, post_voltage, params):
        p = self._name
        g = states[f"{p}_B"] - states[f"{p}_A"]
        return g * (post_voltage - params[f"{p}_e"])
