"""Hodgkin-Huxley channel with the rate functions of NEURON's built-in ``hh.mod``."""

import math

import jax.numpy as jnp
from jax import lax

from sim.channels.channel import Channel
from sim.solver_gate import solve_gate_exponential

__all__ = ["HH", "hh_rates", "vtrap"]

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


_SERIES_EPS = 1e-3  # |u| below which hh_rates uses the series of u / (exp(u) - 1)
_E_HALF, _E_MINUS_1_5 = math.exp(0.5), math.exp(-1.5)


def _trap(x, y, e):
    """``x / (e - 1)`` with ``e = exp(x / y)`` given, and its series near ``x = 0``.

    Outside ``|x / y| < 1e-3`` this is hh.mod's own formula; inside, the series
    ``y (1 - u/2 + u²/12 - u⁴/720)`` (error < 1e-22 relative) keeps value and
    gradient exact where ``e - 1`` cancels.
    """
    u = x / y
    near = jnp.abs(u) < _SERIES_EPS
    u2 = u * u
    series = y * (1.0 - 0.5 * u + u2 / 12.0 - u2 * u2 / 720.0)
    return jnp.where(near, series, x / jnp.where(near, 2.0, e - 1.0))


def hh_rates(v):
    """All six HH rates (1/ms) at ``v`` from two exponentials.

    Returns ``(alpha_m, beta_m, alpha_h, beta_h, alpha_n, beta_n)`` of NEURON's
    hh.mod at 6.3 °C. The exponentials of hh.mod share two bases:
    ``exp(-(v + 40) / 10)`` (times constants for the ``-(v + 35) / 10`` and
    ``-(v + 55) / 10`` terms) and ``w = exp(-(v + 65) / 720)``, whose powers 40, 36
    and 9 are the ``/18``, ``/20`` and ``/80`` terms (by repeated squaring: a
    relative error of a few 1e-15). Exponents are capped as in
    :func:`sim.solver_gate.save_exp`, so nothing overflows; the caps bind only
    below -235 mV.
    """
    a = jnp.exp(jnp.minimum(-(v + 40.0) / 10.0, 20.0))
    w = jnp.exp(jnp.minimum(-(v + 65.0) / 720.0, 0.5))
    # Materialise the two exponentials once: without the barrier XLA fuses (and so
    # recomputes) them into each of the three gate updates.
    a, w = lax.optimization_barrier((a, w))
    w2 = w * w
    w4 = w2 * w2
    w9 = w4 * w4 * w
    w36 = (w9 * w9) * (w9 * w9)
    alpha_m = 0.1 * _trap(-(v + 40.0), 10.0, a)
    beta_m = 4.0 * (w36 * w4)
    alpha_h = 0.07 * w36
    beta_h = 1.0 / (a * _E_HALF + 1.0)
    alpha_n = 0.01 * _trap(-(v + 55.0), 10.0, a * _E_MINUS_1_5)
    beta_n = 0.125 * w9
    return alpha_m, beta_m, alpha_h, beta_h, alpha_n, beta_n


class HH(Channel):
    """Hodgkin-Huxley sodium, potassium and leak currents (squid axon, 6.3 °C).

    Identical in parameters and rate functions to NEURON's ``hh`` mechanism at the
    default ``celsius = 6.3`` (temperature factor 1). Gates are advanced with the
    exact exponential update (NEURON's ``cnexp``).

    Parameters (defaults): ``HH_gNa`` 0.12, ``HH_gK`` 0.036, ``HH_gLeak`` 0.0003
    (S/cm²); ``HH_eNa`` 50, ``HH_eK`` -77, ``HH_eLeak`` -54.3 (mV). States:
    ``HH_m``, ``HH_h``, ``HH_n`` (all 0.2 by default; use ``init_states()`` to start
    at the steady state of the initial voltage). Current name: ``i_HH``.
    Bounds: conductances >= 0, gates in [0, 1].
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
        self.param_bounds = {f"{p}_{g}": (0.0, math.inf) for g in ("gNa", "gK", "gLeak")}
        self.state_bounds = {f"{p}_{x}": (0.0, 1.0) for x in "mhn"}

    def update_states(self, states, dt, v, params):
        """Advance ``m``, ``h`` and ``n`` exactly over ``dt`` at fixed ``v``."""
        p = self._name
        am, bm, ah, bh, an, bn = hh_rates(v)
        return {
            f"{p}_m": solve_gate_exponential(states[f"{p}_m"], dt, am, bm),
            f"{p}_h": solve_gate_exponential(states[f"{p}_h"], dt, ah, bh),
            f"{p}_n": solve_gate_exponential(states[f"{p}_n"], dt, an, bn),
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
        am, bm, ah, bh, an, bn = hh_rates(v)
        return {f"{p}_m": am / (am + bm), f"{p}_h": ah / (ah + bh), f"{p}_n": an / (an + bn)}

    @staticmethod
    def m_gate(v):
        """Opening and closing rates (1/ms) of the sodium activation gate."""
        return hh_rates(v)[0:2]

    @staticmethod
    def h_gate(v):
        """Opening and closing rates (1/ms) of the sodium inactivation gate."""
        return hh_rates(v)[2:4]

    @staticmethod
    def n_gate(v):
        """Opening and closing rates (1/ms) of the potassium activation gate."""
        return hh_rates(v)[4:6]
