"""The ``Likelihood`` protocol: built-in implementations and a user-written one."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer.util import log_density

import sim as jx
from inference import (
    BayesianModel,
    FeatureLikelihood,
    ForwardModel,
    GaussianLikelihood,
    KalmanLikelihood,
    KalmanSpec,
    Likelihood,
    Param,
    find_map,
    likelihood_from_name,
)
from inference.features import FeatureWindows, feature_log_lik, trace_features
from sim.channels import HH, Leak

jax.config.update("jax_enable_x64", True)
DT = 0.025


def _passive(t_max=20.0):
    cell = jx.Cell(jx.Branch(jx.Compartment(), ncomp=3), parents=[-1, 0])
    cell.insert(Leak())
    cell.branch(0).comp(0).record("v", verbose=False)
    cell.branch(1).comp(2).record("v", verbose=False)
    cell.branch(0).comp(1).stimulate(jx.step_current(1.0, 10.0, 0.02, DT, t_max), verbose=False)
    return cell


def _forward(cell, key="Leak_gLeak"):
    return ForwardModel(cell, [Param(key, dist.LogNormal(jnp.log(1e-4), 0.5))], delta_t=DT)


THETA = {"Leak_gLeak": jnp.asarray(1.5e-4)}


def test_gaussian_log_prob_is_the_normal_density_of_the_simulation():
    fwd = _forward(_passive())
    v = np.asarray(fwd.simulate(THETA))
    y = v + 0.7 * np.random.default_rng(0).standard_normal(v.shape)
    lik = GaussianLikelihood()
    expected = -0.5 * np.sum(((y - v) / 0.7) ** 2) - y.size * np.log(0.7 * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(lik.log_prob(fwd, THETA, y, 0.7), expected, rtol=1e-12)
    point = lik.pointwise_log_prob(fwd, THETA, y, 0.7)
    assert point.shape == (v.shape[1],)
    np.testing.assert_allclose(point.sum(), expected, rtol=1e-12)
    draws = np.stack([lik.sample(jax.random.key(k), fwd, THETA, 0.7) for k in range(40)])
    assert abs(np.std(draws - v) - 0.7) < 0.01


def test_the_numpyro_model_uses_the_likelihood_object():
    fwd = _forward(_passive())
    y = np.asarray(fwd.simulate(THETA)) + 0.1
    for lik in (GaussianLikelihood(), KalmanLikelihood(KalmanSpec(process_std={"v": 1e-6}))):
        model = BayesianModel(fwd, obs_noise=0.5, likelihood=lik)
        assert model.likelihood is lik
        logp, _ = log_density(model, (y,), {}, {"Leak_gLeak": THETA["Leak_gLeak"]})
        prior = dist.LogNormal(jnp.log(1e-4), 0.5).log_prob(THETA["Leak_gLeak"])
        np.testing.assert_allclose(logp - prior, lik.log_prob(fwd, THETA, y, 0.5), rtol=1e-9)


def test_kalman_samples_have_calibrated_innovations_on_a_linear_cable():
    """For a passive (linear) cell the EKF is the exact Kalman filter, so data drawn by
    ``KalmanLikelihood.sample`` give standard-normal normalised innovations."""
    fwd = _forward(_passive(t_max=40.0))
    spec = KalmanSpec(process_std={"v": 0.3}, initial_std={"v": 0.5})
    lik = KalmanLikelihood(spec)
    ssm = lik.ssm(fwd)
    z = []
    for seed in range(3):
        y = lik.sample(jax.random.key(seed), fwd, THETA, 0.4)  # (n_rec, T)
        assert y.shape == fwd.simulate(THETA).shape
        post = ssm.filter(
            y.T,
            spec.noise(0.4),
            param_state=fwd.param_state(THETA),
            output_fields=["predicted_means", "predicted_covariances"],
        )
        prm = ssm.params(spec.noise(0.4), param_state=fwd.param_state(THETA))
        # predicted_means[t] is the prediction for t + 1; the one for t = 0 is the prior
        means = np.concatenate([np.asarray(prm.initial_mean)[None], post.predicted_means])
        covs = np.concatenate(
            [np.asarray(prm.initial_covariance)[None], post.predicted_covariances]
        )
        h = np.asarray(ssm.emission_index)
        pred = means[:, h]
        cov = covs[:, h][:, :, h] + 0.4**2 * np.eye(len(h))
        chol = np.linalg.cholesky(cov)
        innov = np.asarray(y.T) - pred
        z.append(np.stack([np.linalg.solve(c, e) for c, e in zip(chol, innov)]))
    z = np.concatenate(z).ravel()
    assert abs(z.mean()) < 0.05 and abs(z.var() - 1.0) < 0.06, (z.mean(), z.var())


def test_kalman_likelihood_checks_its_method():
    with pytest.raises(ValueError, match="'ekf' or 'ukf'.*'pf'"):
        KalmanLikelihood(method="pf")


def test_feature_likelihood_is_the_gaussian_of_the_features():
    cell = jx.Compartment()
    cell.insert(HH())
    cell.record("v", verbose=False)
    cell.stimulate(jx.step_current(2.0, 10.0, 0.05, DT, 15.0), verbose=False)
    fwd = _forward(cell, key="HH_gNa")
    windows = FeatureWindows(DT, 2.0, 12.0, 0.0, 5.0, 1.0)
    theta = {"HH_gNa": jnp.asarray(0.12)}
    y = np.asarray(fwd.simulate({"HH_gNa": jnp.asarray(0.1)}))
    scales = np.array([1.0, 1.0, 1.0, 0.15, 1.5, 2.0, 5.0, 3.0])
    lik = FeatureLikelihood(windows, scales)
    expected = feature_log_lik(
        trace_features(fwd.simulate(theta), windows), trace_features(y, windows), scales
    ).sum()
    np.testing.assert_allclose(lik.log_prob(fwd, theta, y, None), expected, rtol=1e-12)
    assert lik.log_prob(fwd, theta, y, None) < lik.log_prob(
        fwd, {"HH_gNa": jnp.asarray(0.1)}, y, None
    )
    assert lik.pointwise_log_prob(fwd, theta, y, None).sum() == pytest.approx(float(expected))


@dataclass(frozen=True)
class StudentT:
    """A likelihood written by a user: Student-t noise around the simulation."""

    df: float = 4.0
    name: str = "student_t"

    def pointwise_log_prob(self, forward, theta, y, sigma):
        v = forward.simulate(theta)
        return jnp.sum(dist.StudentT(self.df, v, sigma).log_prob(y), axis=0)

    def log_prob(self, forward, theta, y, sigma):
        return jnp.sum(self.pointwise_log_prob(forward, theta, y, sigma))

    def sample(self, key, forward, theta, sigma):
        v = forward.simulate(theta)
        return v + sigma * jax.random.t(key, self.df, v.shape)

    def describe(self):
        return {"likelihood": self.name, "df": self.df}


def test_a_user_likelihood_fits_ground_truth():
    """Outliers in the data: the Student-t MAP stays at the truth."""
    fwd = _forward(_passive())
    lik = StudentT()
    assert isinstance(lik, Likelihood)
    y = np.array(lik.sample(jax.random.key(1), fwd, THETA, 0.3))
    y[:, ::50] += 15.0  # gross outliers
    model = BayesianModel(fwd, obs_noise=0.3, likelihood=lik)
    assert model.describe()["likelihood"] == "student_t"
    result = find_map(model, y, num_candidates=64, num_steps=200, num_starts=2, progress=False)
    est = float(np.asarray(result.best["Leak_gLeak"]))
    assert abs(est / 1.5e-4 - 1) < 0.05, est
    with numpyro.handlers.seed(rng_seed=0):
        trace = numpyro.handlers.trace(model).get_trace(None)
    assert trace["obs"]["value"].shape == y.shape  # predictive draws use lik.sample


def test_likelihood_names_and_bad_objects():
    assert isinstance(likelihood_from_name("gaussian"), GaussianLikelihood)
    assert isinstance(likelihood_from_name("kalman"), KalmanLikelihood)
    with pytest.raises(ValueError, match="'gaussian', 'kalman' or a Likelihood.*'poisson'"):
        likelihood_from_name("poisson")
    with pytest.raises(TypeError, match="not a Likelihood.*log_prob"):
        likelihood_from_name(object())  # type: ignore[arg-type]
