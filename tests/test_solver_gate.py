"""Gate solvers against the exact solution of the linear gate ODE."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

from sim.solver_gate import (  # noqa: E402
    exponential_euler,
    save_exp,
    solve_gate_exponential,
    solve_gate_implicit,
    solve_inf_gate_exponential,
)


def _ode_solution(x0, t, x_inf, tau):
    """Integrate dx/dt = (x_inf - x) / tau numerically to time t."""
    sol = solve_ivp(lambda _, x: (x_inf - x) / tau, (0.0, t), [x0], rtol=1e-12, atol=1e-14)
    return sol.y[0, -1]


def test_save_exp_below_cap_is_exp_and_above_is_capped():
    x = jnp.asarray([-30.0, -1.0, 0.0, 5.0, 19.9])
    np.testing.assert_allclose(save_exp(x), np.exp(np.asarray(x)), rtol=1e-15)
    assert float(save_exp(25.0)) == pytest.approx(np.exp(20.0), rel=1e-15)
    assert float(save_exp(25.0, max_value=3.0)) == pytest.approx(np.exp(3.0))
    assert np.isfinite(float(save_exp(1e6)))
    # Gradient: exp below the cap, zero above it, never NaN.
    assert float(jax.grad(save_exp)(1.0)) == pytest.approx(np.e)
    assert float(jax.grad(save_exp)(1e6)) == 0.0


@pytest.mark.parametrize(
    "x0, x_inf, tau, dt",
    [(0.1, 0.8, 3.0, 0.7), (0.9, 0.05, 0.2, 0.025), (0.0, 1.0, 1e3, 10.0)],
)
def test_exponential_euler_matches_ode(x0, x_inf, tau, dt):
    expected = _ode_solution(x0, dt, x_inf, tau)
    got = float(exponential_euler(x0, dt, x_inf, tau))
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)
    closed_form = x_inf + (x0 - x_inf) * np.exp(-dt / tau)
    assert got == pytest.approx(closed_form, rel=1e-14)


@pytest.mark.parametrize("alpha, beta", [(0.5, 0.1), (2.0, 7.0), (1e-4, 3e-3)])
def test_solve_gate_exponential_many_steps_is_exact(alpha, beta):
    """With constant rates, N exact steps land on the ODE solution at N * dt."""
    x, dt, n = 0.3, 0.1, 50

    def step(x, _):
        return solve_gate_exponential(x, dt, alpha, beta), None

    x_end, _ = jax.lax.scan(step, jnp.asarray(x), None, length=n)
    sol = solve_ivp(
        lambda _, y: alpha * (1 - y) - beta * y,
        (0.0, n * dt),
        [x],
        rtol=1e-12,
        atol=1e-14,
    )
    assert float(x_end) == pytest.approx(sol.y[0, -1], rel=1e-9, abs=1e-12)


def test_inf_gate_solver_equals_exponential_euler():
    x = jnp.linspace(0.0, 1.0, 7)
    s_inf = jnp.linspace(0.9, 0.1, 7)
    tau = jnp.linspace(0.1, 50.0, 7)
    np.testing.assert_allclose(
        solve_inf_gate_exponential(x, 0.025, s_inf, tau),
        exponential_euler(x, 0.025, s_inf, tau),
        rtol=1e-15,
    )


def test_solvers_broadcast_over_arrays():
    x = jnp.full((4,), 0.2)
    alpha = jnp.asarray([0.1, 1.0, 2.0, 3.0])
    out = solve_gate_exponential(x, 0.025, alpha, 0.5)
    assert out.shape == (4,)
    # Larger opening rate -> larger gate after the step.
    assert np.all(np.diff(np.asarray(out)) > 0)


def test_implicit_solver_solves_backward_euler_equation():
    x, dt, alpha, beta = 0.2, 0.3, 1.5, 0.7
    x_new = float(solve_gate_implicit(x, dt, alpha, beta))
    assert x_new == pytest.approx(x + dt * (alpha * (1 - x_new) - beta * x_new))


def test_implicit_solver_is_first_order_and_bounded():
    x0, alpha, beta, t = 0.1, 0.8, 0.4, 2.0
    exact = _ode_solution(x0, t, alpha / (alpha + beta), 1 / (alpha + beta))
    errors = []
    for n in (100, 200, 400):
        x = x0
        for _ in range(n):
            x = solve_gate_implicit(x, t / n, alpha, beta)
        errors.append(abs(float(x) - exact))
    ratios = np.asarray(errors[:-1]) / np.asarray(errors[1:])
    np.testing.assert_allclose(ratios, 2.0, rtol=0.02)
    # Huge steps jump to (near) the steady state without overshooting [0, 1].
    big = float(solve_gate_implicit(0.0, 1e9, 5.0, 1.0))
    assert 0.0 <= big <= 1.0 and big == pytest.approx(5.0 / 6.0)


@settings(max_examples=200, deadline=None)
@given(
    x0=st.floats(0.0, 1.0),
    alpha=st.floats(1e-3, 50.0),
    beta=st.floats(1e-3, 50.0),
    dt=st.floats(1e-4, 5.0),
)
def test_exponential_update_properties(x0, alpha, beta, dt):
    """Two half steps equal one full step, and the gate stays in [0, 1]."""
    full = float(solve_gate_exponential(x0, dt, alpha, beta))
    half = solve_gate_exponential(x0, dt / 2, alpha, beta)
    two_halves = float(solve_gate_exponential(half, dt / 2, alpha, beta))
    assert two_halves == pytest.approx(full, rel=1e-12, abs=1e-14)
    assert -1e-15 <= full <= 1.0 + 1e-15
