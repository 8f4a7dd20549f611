"""Hodgkin-Huxley channel with the rate functions of NEURON's built-in ``hh.mod``."""

import jax.numpy as jnp

from sim.channels.channel import Channel
from sim.solver_gate import save_exp, solve_gate_exponential

__all__ = ["HH", "vtrap"]

_VTRAP_EPS = 1e-6  # |x/y| below which NEURON switches to the series expansion


def vtrap(x, y):
    """``x / (exp(x / y) - 1)``, finite and smooth at its removable singularity.

    Same definition as the ``vtrap`` function in NEURON's ``hh.mod``: for
    ``|x / y| < 1e-6`` the first-order series ``y (1 - x / (2 y))`` is used;
    elsewhere ``x / expm1(x / y)``, with the exponent capped at 20 as in
    :func:`sim.solver_gate.save_exp`.
    Unlike a plain ``jnp.where`` around the quotient, both the value and the
    gradient are finite there (the unused branch is evaluated at a safe point), and
    the gradient, -1/2, is the exact derivative of the limit.

    Args:
        x: Numerator (array).
        y: Scale (non-zero).
    """
    u = x / y
    near = jnp.abs(u) < _VTRAP_EPS
    u_safe = jnp.where(near, 1.0, u)
    x_safe = jnp.where(near, y, x)
    # expm1 instead of exp(.) - 1: same value up to rounding, but no cancellation,
    # so the gradient stays accurate next to the switch (|u| slightly above 1e-6).
    # The exponent is capped at 20 like save_exp.
    regular = x_safe / jnp.expm1(jnp.minimum(u_safe, 20.0))
    series = y * (1.0 - u / 2.0)
    return jnp.where(near, series, regular)


class HH(Channel):
    """Hodgkin-Huxley sodium, potassium and leak currents (squid axon, 6.3 °C).

    Identical in parameters and rate functions to NEURON's ``hh`` mechanism at the
    default ``celsius = 6.3`` (temperature factor 1). Gates are advanced with the
    exact exponential update (NEURON's ``cnexp``).

    Parameters (defaults): ``HH_gNa`` 0.12, ``HH_gK`` 0.036, ``HH_gLeak`` 0.0003
    (S/cm²); ``HH_eNa`` 50, ``HH_eK`` -77, ``HH_eLeak`` -54.3 (mV). States:
    ``HH_m``, ``HH_h``, ``HH_n`` (all 0.2 by default; use ``init_states()`` to start
    at the steady state of the initial voltage). Current name: ``i_HH``.
    """

    def __init__(self, name: str | None = None):
        self.current_is_in_mA_per_cm2 = True
        super().__init__(name)
        p = self._name
        self.channel_params = {
            f"{p}_gNa": 0.12,
            f"{p}_gK": 0.036,
            f"{p}_gLeak": 0.0003,
            f"{p}_eNa": 50.0,
            f"{p}_eK": -77.0,
            f"{p}_eLeak": -54.3,
        }
        self.channel_states = {f"{p}_m": 0.2, f"{p}_h": 0.2, f"{p}_n": 0.2}
        self.current_name = "i_HH"

    def update_states(self, states, dt, v, params):
        """Advance ``m``, ``h`` and ``n`` exactly over ``dt`` at fixed ``v``."""
        p = self._name
        return {
            f"{p}_m": solve_gate_exponential(states[f"{p}_m"], dt, *self.m_gate(v)),
            f"{p}_h": solve_gate_exponential(states[f"{p}_h"], dt, *self.h_gate(v)),
            f"{p}_n": solve_gate_exponential(states[f"{p}_n"], dt, *self.n_gate(v)),
        }

    def compute_current(self, states, v, params):
        """Sum of sodium, potassium and leak currents in mA/cm²."""
        p = self._name
        m, h, n = states[f"{p}_m"], states[f"{p}_h"], states[f"{p}_n"]
        g_na = params[f"{p}_gNa"] * m**3 * h
        g_k = params[f"{p}_gK"] * n**4
        g_leak = params[f"{p}_gLeak"]
        return (
            g_na * (v - params[f"{p}_eNa"])
            + g_k * (v - params[f"{p}_eK"])
            + g_leak * (v - params[f"{p}_eLeak"])
        )

    def init_state(self, states, v, params, delta_t):
        """Steady state ``alpha / (alpha + beta)`` of each gate at voltage ``v``."""
        p = self._name
        out = {}
        for key, gate in (("m", self.m_gate), ("h", self.h_gate), ("n", self.n_gate)):
            alpha, beta = gate(v)
            out[f"{p}_{key}"] = alpha / (alpha + beta)
        return out

    @staticmethod
    def m_gate(v):
        """Opening and closing rates (1/ms) of the sodium activation gate."""
        alpha = 0.1 * vtrap(-(v + 40.0), 10.0)
        beta = 4.0 * save_exp(-(v + 65.0) / 18.0)
        return alpha, beta

    @staticmethod
    def h_gate(v):
        """Opening and closing rates (1/ms) of the sodium inactivation gate."""
        alpha = 0.07 * save_exp(-(v + 65.0) / 20.0)
        beta = 1.0 / (save_exp(-(v + 35.0) / 10.0) + 1.0)
        return alpha, beta

    @staticmethod
    def n_gate(v):
        """Opening and closing rates (1/ms) of the potassium activation gate."""
        alpha = 0.01 * vtrap(-(v + 55.0), 10.0)
        beta = 0.125 * save_exp(-(v + 65.0) / 80.0)
        return alpha, beta
