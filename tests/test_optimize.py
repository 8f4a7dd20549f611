"""optax fitting: bounded optima, MAP with/without Jacobian against closed forms,
exact resume from checkpoints, and vmapped multi-start on a double well."""

import math
import os

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pytest  # noqa: E402

from inference.losses import gaussian_nll  # noqa: E402
from inference.optimize import (  # noqa: E402
    fit,
    fit_multistart,
    map_objective,
    mle_objective,
)
from inference.transforms import Exp, Identity, ParamTransform, Sigmoid, Softplus  # noqa: E402


def _quadratic(params):
    target = jnp.array([0.5, 1.0, 4.0])
    return (
        (params["p"] - 0.3) ** 2
        + (params["q"] - 1.7) ** 2  # optimum beyond the upper bound 1
        + jnp.sum((params["g"] - target) ** 2)
    )


TRANSFORM = ParamTransform({"p": Sigmoid(0.0, 1.0), "q": Sigmoid(0.0, 1.0), "g": Softplus()})
INIT = {"p": 0.9, "q": 0.5, "g": jnp.array([2.0, 2.0, 2.0])}


def test_fit_recovers_bounded_quadratic_optimum():
    res = fit(_quadratic, INIT, TRANSFORM, learning_rate=0.05, num_steps=1500, progress=False)
    np.testing.assert_allclose(res.params["p"], 0.3, atol=1e-3)
    np.testing.assert_allclose(res.params["g"], [0.5, 1.0, 4.0], atol=1e-3)
    assert 0.99 < float(res.params["q"]) < 1.0  # pushed against the bound, never past it
    assert res.steps_done == 1500 and res.loss_history.shape == (1500,)
    assert res.best_loss == pytest.approx(float(np.min(res.loss_history)))
    assert res.best_loss == pytest.approx(float(_quadratic(res.params)), rel=1e-12)


def test_gaussian_mle_matches_sample_moments():
    data = np.random.default_rng(0).normal(-65.0, 2.5, size=200)

    def log_lik(params):
        return -gaussian_nll(params["mu"] * jnp.ones_like(data), data, params["sigma"])

    tf = ParamTransform({"mu": Identity(), "sigma": Exp()})
    res = fit(
        mle_objective(log_lik),
        {"mu": -60.0, "sigma": 1.0},
        tf,
        optimizer=optax.adam(0.1),
        num_steps=1500,
        progress=False,
    )
    np.testing.assert_allclose(res.params["mu"], data.mean(), atol=1e-4)
    np.testing.assert_allclose(res.params["sigma"], data.std(), atol=1e-4)


MU, S = 0.7, 0.8


def _lognormal_log_prior(params):
    x = params["x"]
    z = (jnp.log(x) - MU) / S
    return -jnp.log(x) - math.log(S) - 0.5 * math.log(2 * math.pi) - 0.5 * z**2


def _zero_log_lik(params):
    return jnp.zeros(())


@pytest.mark.parametrize("jacobian, expected", [(True, math.exp(MU)), (False, math.exp(MU - S**2))])
def test_map_objective_jacobian(jacobian, expected):
    """With the Jacobian of Exp the unconstrained MAP of LogNormal(mu, s) is its median
    exp(mu); without it, the constrained mode exp(mu - s^2)."""
    tf = ParamTransform({"x": Exp()})
    objective = map_objective(_lognormal_log_prior, _zero_log_lik, tf, jacobian=jacobian)
    res = fit(objective, {"x": 5.0}, tf, learning_rate=0.05, num_steps=1500, progress=False)
    np.testing.assert_allclose(res.params["x"], expected, rtol=1e-4)
    u = tf.to_unconstrained(res.params)
    log_post = _lognormal_log_prior(res.params) + (tf.log_det_jac(u) if jacobian else 0.0)
    assert res.best_loss == pytest.approx(-float(log_post), rel=1e-12)


def _noisy_loss(params, key):
    noise = 0.05 * jax.random.normal(key, (4,))
    return (
        jnp.sum((params["g"] - jnp.array([0.5, 1.0, 4.0]) + noise[:3]) ** 2)
        + (params["p"] - 0.3) ** 2
        + (params["e"] + 65.0 + noise[3]) ** 2
    )


NOISY_TF = ParamTransform({"p": Sigmoid(0.0, 1.0), "g": Softplus(), "e": Identity()})
NOISY_INIT = {"p": 0.9, "g": jnp.array([2.0, 2.0, 2.0]), "e": -70.0}


def _assert_same(a, b):
    np.testing.assert_allclose(a.loss_history, b.loss_history, rtol=0, atol=1e-12)
    assert a.best_loss == pytest.approx(b.best_loss, abs=1e-12)
    assert a.steps_done == b.steps_done
    for tree_a, tree_b in [(a.params, b.params), (a.final_unconstrained, b.final_unconstrained)]:
        for name in tree_a:
            np.testing.assert_allclose(tree_a[name], tree_b[name], rtol=0, atol=1e-12)


def test_resume_after_kill_equals_uninterrupted_run(tmp_path):
    traces = []

    def counted_loss(params, key):
        traces.append(1)
        return _noisy_loss(params, key)

    kw = dict(learning_rate=0.1, checkpoint_every=20, progress=False, stochastic=True, seed=3)
    full = fit(_noisy_loss, NOISY_INIT, NOISY_TF, num_steps=60, **kw)
    path = tmp_path / "fit.npz"
    killed = fit(counted_loss, NOISY_INIT, NOISY_TF, num_steps=40, checkpoint_path=path, **kw)
    assert killed.steps_done == 40 and path.exists()
    assert not os.path.exists(f"{path}.tmp")
    resumed = fit(
        counted_loss, NOISY_INIT, NOISY_TF, num_steps=60, checkpoint_path=path, resume=True, **kw
    )
    _assert_same(resumed, full)
    assert len(traces) == 4  # one shape check + one jit trace per run: no retracing
    # a checkpoint already at num_steps returns its result without stepping
    again = fit(
        _noisy_loss, NOISY_INIT, NOISY_TF, num_steps=60, checkpoint_path=path, resume=True, **kw
    )
    _assert_same(again, full)


def test_resume_without_checkpoint_starts_fresh_and_mismatch_raises(tmp_path):
    path = tmp_path / "missing.npz"
    kw = dict(num_steps=10, checkpoint_every=5, progress=False)
    fresh = fit(_quadratic, INIT, TRANSFORM, checkpoint_path=path, resume=True, **kw)
    _assert_same(fresh, fit(_quadratic, INIT, TRANSFORM, **kw))
    with pytest.raises(ValueError, match="parameters"):
        fit(
            _noisy_loss,
            NOISY_INIT,
            NOISY_TF,
            checkpoint_path=path,
            resume=True,
            stochastic=True,
            **kw,
        )
    with pytest.raises(ValueError, match="optimi[sz]er"):
        fit(
            _quadratic,
            INIT,
            TRANSFORM,
            checkpoint_path=path,
            resume=True,
            optimizer=optax.sgd(0.1, momentum=0.9),
            **kw,
        )


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="scalar"):
        fit(lambda p: p["g"], INIT, TRANSFORM, num_steps=1, progress=False)
    with pytest.raises(ValueError, match="checkpoint_path"):
        fit(_quadratic, INIT, TRANSFORM, resume=True, progress=False)
    with pytest.raises(ValueError, match="leading"):
        fit_multistart(
            _quadratic,
            {"p": jnp.ones(3), "q": jnp.ones(2), "g": jnp.ones((3, 3))},
            TRANSFORM,
            num_steps=1,
            progress=False,
        )


def test_progress_lines(capsys):
    fit(_quadratic, INIT, TRANSFORM, num_steps=20, progress=True)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 10 and lines[-1].startswith("fit: step 20/20")
    assert "loss" in lines[0] and "best" in lines[0]


def _double_well(params):
    x = params["x"]
    return (x**2 - 1.0) ** 2 + 0.3 * x


def test_multistart_finds_global_minimum_of_double_well():
    inits = {"x": jnp.linspace(-2.0, 2.0, 8)}
    res = fit_multistart(
        _double_well, inits, None, learning_rate=0.05, num_steps=800, progress=False
    )
    grid = np.linspace(-2.0, 2.0, 400001)
    x_global = grid[np.argmin((grid**2 - 1) ** 2 + 0.3 * grid)]
    finals = np.array([float(r.params["x"]) for r in res.results])
    assert np.any(finals > 0.5) and np.any(finals < -0.5)  # both wells are reached
    np.testing.assert_allclose(res.best.params["x"], x_global, atol=1e-4)
    assert res.best_index == int(np.argmin(res.best_losses))
    assert res.best.loss_history.shape == (800,)
    # a vmapped start follows the same path as a single fit from that start
    single = fit(_double_well, {"x": inits["x"][5]}, None, num_steps=800, progress=False)
    np.testing.assert_allclose(res.results[5].loss_history, single.loss_history, atol=1e-10)


def test_multistart_resume(tmp_path):
    inits = {"p": jnp.array([0.1, 0.5, 0.9]), "g": jnp.ones((3, 3)), "e": jnp.zeros(3)}
    kw = dict(learning_rate=0.1, checkpoint_every=10, progress=False, stochastic=True)
    full = fit_multistart(_noisy_loss, inits, NOISY_TF, num_steps=30, **kw)
    path = tmp_path / "multi.npz"
    fit_multistart(_noisy_loss, inits, NOISY_TF, num_steps=20, checkpoint_path=path, **kw)
    resumed = fit_multistart(
        _noisy_loss, inits, NOISY_TF, num_steps=30, checkpoint_path=path, resume=True, **kw
    )
    for a, b in zip(resumed.results, full.results):
        _assert_same(a, b)
    assert resumed.best_index == full.best_index


@pytest.mark.slow
def test_smoke_fit_hh_sodium_conductance():
    """Smoke test with the simulator: recover gNa of an HH compartment from its trace."""
    import sim as jx
    from inference.losses import spike_count, trace_mse
    from sim.channels import HH

    dt, t_max = 0.025, 30.0
    comp = jx.Compartment()
    comp.insert(HH())
    comp.record()
    comp.stimulate(jx.step_current(5.0, 20.0, 0.02, dt, t_max))
    v_obs = jx.integrate(comp, delta_t=dt, t_max=t_max)[0]  # default gNa = 0.12

    def simulate(params):
        param_state = comp.data_set("HH_gNa", params["gNa"], None)
        return jx.integrate(comp, param_state=param_state, delta_t=dt, t_max=t_max)[0]

    tf = ParamTransform.from_bounds({"gNa": (0.0, None)}, log_scale=True)
    res = fit(
        lambda p: trace_mse(simulate(p), v_obs), {"gNa": 0.2}, tf, num_steps=60, progress=False
    )
    assert abs(float(res.params["gNa"]) - 0.12) < 5e-3
    assert spike_count(simulate(res.params)) == spike_count(v_obs) >= 1


def test_fit_takes_jaxleys_get_parameters_and_param_transform_pattern():
    """A Jaxley user's fitting script: ``get_parameters()`` + ``jx.ParamTransform``."""
    import sim as jx
    from sim.channels import HH
    from sim.optimize.transforms import SigmoidTransform

    def cell_with(g_na, g_k):
        cell = jx.Compartment()
        cell.insert(HH())
        cell.set("HH_gNa", g_na)
        cell.set("HH_gK", g_k)
        cell.record("v", verbose=False)
        cell.stimulate(jx.step_current(1.0, 6.0, 0.05, 0.025, 8.0), verbose=False)
        return cell

    v_obs = jx.integrate(cell_with(0.12, 0.036), delta_t=0.025)
    cell = cell_with(0.09, 0.05)
    cell.make_trainable("HH_gNa")
    cell.make_trainable("HH_gK")
    params = cell.get_parameters()
    tf = jx.ParamTransform(
        [{"HH_gNa": SigmoidTransform(0.0, 0.5)}, {"HH_gK": SigmoidTransform(0.0, 0.2)}]
    )

    def loss(p):
        v = jx.integrate(cell, params=p, delta_t=0.025)
        return jnp.mean((v - v_obs) ** 2)

    result = fit(loss, params, tf, num_steps=150, learning_rate=0.2, progress=False)
    assert isinstance(result.params, list) and list(result.params[0]) == ["HH_gNa"]
    g_na = float(np.asarray(result.params[0]["HH_gNa"]).ravel()[0])
    g_k = float(np.asarray(result.params[1]["HH_gK"]).ravel()[0])
    assert abs(g_na / 0.12 - 1) < 0.02 and abs(g_k / 0.036 - 1) < 0.02, (g_na, g_k)
    assert result.best_loss < 1e-3 * float(loss(params))
    # the optimiser ran in the transform's unconstrained space
    np.testing.assert_allclose(
        np.asarray(result.unconstrained[0]["HH_gNa"]),
        np.asarray(tf.inverse(result.params)[0]["HH_gNa"]),
        rtol=1e-9,
    )
    with pytest.raises(ValueError, match="structure of the transforms|parameter dict 0"):
        fit(loss, [{"HH_gK": params[1]["HH_gK"]}, params[1]], tf, num_steps=1, progress=False)
