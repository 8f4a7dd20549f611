"""Update rules for gating variables over one time step.

Every gate in a channel obeys a linear first-order ODE while the membrane voltage
is held fixed during a step,

    dx/dt = (x_inf - x) / tau        (equivalently  dx/dt = alpha (1 - x) - beta x),

so the step can be solved exactly: ``x(t + dt) = x_inf + (x - x_inf) exp(-dt / tau)``.
This is what NEURON's ``cnexp`` method does and what channels normally use. All
functions are pure ``jax.numpy`` code, broadcast over arrays and are differentiable.

Units follow the rest of the simulator: ``dt`` and ``tau`` in ms, rates ``alpha`` and
``beta`` in 1/ms, gates dimensionless.
"""

import jax.numpy as jnp

__all__ = [
    "save_exp",
    "exponential_euler",
    "solve_gate_exponential",
    "solve_inf_gate_exponential",
    "solve_gate_implicit",
]


def save_exp(x, max_value: float = 20.0):
    """``exp(min(x, max_value))``: an exponential that cannot overflow.

    Rate functions such as ``exp(-(v + 65) / 18)`` overflow for extreme voltages
    (which can be visited transiently during optimisation). Capping the exponent keeps
    every value and gradient finite. The name (sic) is kept for compatibility.

    Args:
        x: Exponent (array or scalar).
        max_value: Largest exponent that is evaluated; larger ones are capped.
    """
    return jnp.exp(jnp.minimum(x, max_value))


def exponential_euler(x, dt, x_inf, x_tau):
    """Exact one-step solution of ``dx/dt = (x_inf - x) / x_tau``.

    Args:
        x: Gate value at the start of the step.
        dt: Step size (ms).
        x_inf: Steady-state value, held constant over the step.
        x_tau: Time constant (ms), held constant over the step.

    Returns:
        The gate value after ``dt``.
    """
    decay = save_exp(-dt / x_tau)
    return x * decay + x_inf * (1.0 - decay)


def solve_gate_exponential(x, dt, alpha, beta):
    """Exact one-step update of a gate with opening rate ``alpha``, closing ``beta``.

    The gate obeys ``dx/dt = alpha (1 - x) - beta x``, i.e. ``x_inf = alpha /
    (alpha + beta)`` and ``tau = 1 / (alpha + beta)``.

    Args:
        x: Gate value at the start of the step.
        dt: Step size (ms).
        alpha: Opening rate (1/ms).
        beta: Closing rate (1/ms).
    """
    rate = alpha + beta
    # exp(-dt (alpha + beta)) directly: one division per gate (for x_inf) instead of
    # two (1/rate, then dt/tau); the same value up to rounding.
    decay = save_exp(-dt * rate)
    return x * decay + (alpha / rate) * (1.0 - decay)


def solve_inf_gate_exponential(x, dt, s_inf, tau_s):
    """Exact one-step update of a gate given as steady state and time constant.

    Same result as :func:`exponential_euler`; the gate obeys
    ``dx/dt = (s_inf - x) / tau_s``.

    Args:
        x: Gate value at the start of the step.
        dt: Step size (ms).
        s_inf: Steady-state value.
        tau_s: Time constant (ms).
    """
    decay = save_exp(-dt / tau_s)
    return x * decay + s_inf * (1.0 - decay)


def solve_gate_implicit(gating_state, dt, alpha, beta):
    """One backward-Euler step of ``dx/dt = alpha (1 - x) - beta x``.

    Solves ``x_new = x + dt (alpha (1 - x_new) - beta x_new)`` for ``x_new``. First
    order accurate but unconditionally stable; it stays in [0, 1] for any ``dt``.

    Args:
        gating_state: Gate value at the start of the step.
        dt: Step size (ms).
        alpha: Opening rate (1/ms).
        beta: Closing rate (1/ms).
    """
    return (gating_state + dt * alpha) / (1.0 + dt * alpha + dt * beta)
