"""Priors, forward model, likelihoods and NUTS resume of ``inference.model``/``sampling``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest

import sim as jx
from inference.model import BayesianModel, ForwardModel, KalmanSpec
from inference.priors import Param
from inference.sampling import run_nuts
from sim.channels import HH, Leak

jax.config.update("jax_enable_x64", True)
DT = 0.025


def _branched_cell():
    cell = jx.Cell(jx.Branch(jx.Compartment(), ncomp=2), parents=[-1, 0, 0])
    cell.insert(HH())
    cell.init_states()
    cell.branch(0).comp(0).record("v", verbose=False)
    cell.branch(2).comp(1).record("v", verbose=False)
    cell.branch(0).comp(0).stimulate(jx.step_current(0.5, 3.0, 0.05, DT, 4.0), verbose=False)
    return cell


def _passive_compartment(t_max=3.0):
    cell = jx.Cell()
    cell.insert(Leak())
    cell.record("v", verbose=False)
    cell.stimulate(jx.step_current(0.5, 2.0, 0.01, DT, t_max), verbose=False)
    return cell


def test_per_branch_prior_simulates_like_manual_data_set():
    cell = _branched_cell()
    param = Param(
        "HH_gNa", dist.LogNormal(jnp.log(0.12), 0.3), where=cell.branch("all"), per="branch"
    )
    fwd = ForwardModel(cell, [param], delta_t=DT)
    assert fwd.site_shapes() == {"HH_gNa": (3,)}
    values = jnp.array([0.08, 0.12, 0.2])
    v_model = fwd.simulate({"HH_gNa": values})
    pstate = None
    for b, val in enumerate(values):
        pstate = cell.branch(b).data_set("HH_gNa", val, pstate)
    v_manual = jx.integrate(cell, param_state=pstate, delta_t=DT)
    np.testing.assert_allclose(v_model, v_manual, atol=1e-12)
    assert not np.allclose(v_model, jx.integrate(cell, delta_t=DT))


def test_group_prior_acts_on_group_only():
    cell = _branched_cell()
    cell.branch(1).add_to_group("apical")
    fwd = ForwardModel(
        cell, [Param("radius", dist.LogNormal(0.0, 0.5), where="apical")], delta_t=DT
    )
    assert fwd.site_names == ["radius_apical"]
    pstate = fwd.param_state({"radius_apical": 2.0})
    assert set(pstate[0]["indices"].tolist()) == {2, 3}


@pytest.mark.parametrize(
    "param, match",
    [
        (Param("HH_gNaa", dist.LogNormal(0.0, 1.0)), "Unknown parameter 'HH_gNaa'"),
        (Param("HH_gNa", dist.Normal(0.1, 0.1)), "support"),
        (Param("radius", dist.Uniform(-1.0, 2.0)), "support"),
        (Param("HH_gNa", dist.LogNormal(jnp.zeros(2), 1.0)), "scalar"),
        (Param("HH_gNa", dist.LogNormal(0.0, 1.0), per="dendrite"), "per must be"),
        (Param("HH_gNa", dist.LogNormal(0.0, 1.0), where="nogroup"), "Unknown group"),
    ],
)
def test_bad_priors_raise_clear_errors(param, match):
    with pytest.raises(ValueError, match=match):
        ForwardModel(_branched_cell(), [param], delta_t=DT)


def test_prior_inside_valid_range_is_accepted():
    fwd = ForwardModel(
        _branched_cell(),
        [Param("HH_gNa", dist.Uniform(0.0, 0.5)), Param("HH_eNa", dist.Normal(50.0, 5.0))],
        delta_t=DT,
    )
    assert fwd.site_names == ["HH_gNa", "HH_eNa"]


def test_kalman_likelihood_without_noise_equals_gaussian():
    """With no process noise and a known initial state the EKF marginal likelihood is the
    Gaussian likelihood of the deterministic simulation (an independent identity)."""
    cell = _branched_cell()
    fwd = ForwardModel(cell, [Param("HH_gK", dist.LogNormal(jnp.log(0.036), 0.3))], delta_t=DT)
    theta = {"HH_gK": 0.03}
    y = np.asarray(fwd.simulate(theta)) + np.random.default_rng(0).normal(0, 1.0, (2, 162))
    gauss = BayesianModel(fwd, obs_noise=1.0, likelihood="gaussian")
    kalman = BayesianModel(
        fwd,
        obs_noise=1.0,
        likelihood="kalman",
        kalman=KalmanSpec(
            process_std={"v": 0.0},
            initial_std={"v": 0.0},
            default_process_std=0.0,
            default_initial_std=0.0,
        ),
    )
    ll_g = float(gauss.log_likelihood(theta, y, 1.0))
    ll_k = float(kalman.log_likelihood(theta, y, 1.0))
    assert abs(ll_g - ll_k) < 1e-5 * abs(ll_g)


def test_observation_checks():
    fwd = ForwardModel(
        _passive_compartment(), [Param("Leak_gLeak", dist.LogNormal(-8.0, 1.0))], delta_t=DT
    )
    model = BayesianModel(fwd, obs_noise=1.0)
    n = fwd.simulate({"Leak_gLeak": 1e-4}).shape[1]
    with pytest.raises(ValueError, match="shape"):
        model.check_observations(np.zeros(n + 3))
    bad = np.zeros(n)
    bad[4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.check_observations(bad)
    with pytest.raises(ValueError, match="obs_noise"):
        BayesianModel(fwd, obs_noise=-1.0)
    with pytest.raises(ValueError, match="likelihood"):
        BayesianModel(fwd, likelihood="poisson")


def _small_problem():
    cell = _passive_compartment()
    fwd = ForwardModel(cell, [Param("Leak_gLeak", dist.LogNormal(jnp.log(1e-4), 0.5))], delta_t=DT)
    model = BayesianModel(fwd, obs_noise=0.5)
    v = fwd.simulate({"Leak_gLeak": 1.5e-4})
    y = np.asarray(v) + np.random.default_rng(1).normal(0, 0.5, v.shape)
    return model, y


def test_nuts_killed_and_resumed_loses_nothing(tmp_path: Path):
    """A run interrupted after its first block and resumed equals an uninterrupted run."""
    model, y = _small_problem()
    kw = dict(
        num_chains=2,
        num_warmup=40,
        num_samples=60,
        block_size=30,
        seed=3,
        map_kwargs={"num_steps": 20, "num_candidates": 16, "num_starts": 2},
        progress=False,
    )
    full = run_nuts(model, y, checkpoint_dir=tmp_path / "full", **kw)
    # "Kill" after the first block: the same run asked for only 30 draws...
    part = run_nuts(model, y, checkpoint_dir=tmp_path / "cut", **{**kw, "num_samples": 30})
    assert part.samples["Leak_gLeak"].shape == (2, 30)
    # ... then restarted with --resume for the full 60.
    resumed = run_nuts(model, y, checkpoint_dir=tmp_path / "cut", resume=True, **kw)
    np.testing.assert_array_equal(resumed.samples["Leak_gLeak"], full.samples["Leak_gLeak"])
    np.testing.assert_array_equal(resumed.stats["diverging"], full.stats["diverging"])


def test_nuts_adapts_the_mass_matrix_when_the_map_hessian_is_not_positive_definite(
    monkeypatch,
):
    """An unconverged MAP (a saddle: laplace refuses) warns and falls back to an adapted
    mass matrix with chains started at the MAP optima, instead of failing the run."""
    import inference.sampling as sampling

    model, y = _small_problem()
    calls = []

    def refuse(*args, **kwargs):
        calls.append(1)
        raise ValueError("The Hessian of the log posterior at the MAP is not positive definite.")

    monkeypatch.setattr(sampling, "laplace", refuse)
    with pytest.warns(RuntimeWarning, match="not positive definite.*adapts a dense mass"):
        result = run_nuts(
            model,
            y,
            num_chains=2,
            num_warmup=30,
            num_samples=20,
            max_warmup=30,
            seed=1,
            map_kwargs={"num_steps": 20, "num_candidates": 16, "num_starts": 2},
            progress=False,
        )
    assert calls == [1]
    g = np.asarray(result.samples["Leak_gLeak"])
    assert g.shape == (2, 20) and np.all(np.isfinite(g)) and np.all(g > 0)


def test_chains_are_sharded_over_devices_when_available(tmp_path: Path):
    code = (
        "import jax; jax.config.update('jax_enable_x64', True);"
        "import numpy as np; from tests.test_inference_model import _small_problem;"
        "from inference.sampling import run_nuts;"
        "m, y = _small_problem();"
        "r = run_nuts(m, y, num_chains=2, num_warmup=10, num_samples=10, progress=False,"
        " map_kwargs={'num_steps': 5, 'num_candidates': 8, 'num_starts': 2});"
        "print('DEVICES', jax.local_device_count(), r.samples['Leak_gLeak'].shape)"
    )
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "DEVICES 2 (2, 10)" in out.stdout
    assert "parallel" in out.stderr
