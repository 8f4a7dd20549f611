"""Simulation-based calibration: the test detects (mis)calibration on an exact model,
and (slow) a NUTS fit of a passive compartment is calibrated."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

from inference.sbc import SbcResult, run_sbc, sbc_ranks

jax.config.update("jax_enable_x64", True)

# Normal-Normal with known variance: mu ~ N(M0, S0^2) (2 elements), y_i ~ N(mu, SIGMA^2).
M0, S0, SIGMA, N_OBS = 1.0, 2.0, 1.5, 5


def conjugate_model(y=None):
    mu = numpyro.sample("mu", dist.Normal(M0, S0).expand([2]).to_event(1))
    numpyro.sample("obs", dist.Normal(mu, SIGMA).expand([N_OBS, 2]).to_event(2), obs=y)


def exact_posterior(y):
    precision = 1 / S0**2 + N_OBS / SIGMA**2
    mean = (M0 / S0**2 + jnp.sum(y, axis=0) / SIGMA**2) / precision
    return mean, 1 / jnp.sqrt(precision)


def posterior_fit(scale=1.0, shift=0.0, num_draws=200):
    """Exact posterior sampler; `scale` < 1 makes it over-confident, `shift` biased (in sd)."""

    def fit(model, y, key):
        mean, sd = exact_posterior(y)
        z = jax.random.normal(key, (num_draws, 2))
        return {"mu": np.asarray(mean + shift * sd + scale * sd * z)}

    return fit


def _sbc(fit, **kwargs):
    kwargs.setdefault("num_datasets", 200)
    return run_sbc(
        lambda: conjugate_model, num_posterior_draws=99, fit=fit, progress=False, **kwargs
    )


def test_exact_posterior_gives_uniform_ranks(tmp_path):
    res = _sbc(posterior_fit())
    assert res.ranks.shape == (200, 2)
    assert res.names == ["mu[0]", "mu[1]"]
    assert res.ranks.min() >= 0 and res.ranks.max() <= 99
    table = res.chi2_uniformity()
    print(table)
    assert (table["p_value"] > 0.01).all()
    assert table["num_bins"].iloc[0] == 20 and table["dof"].iloc[0] == 19
    fig = res.plot(tmp_path / "sbc.png")
    assert fig is not None and (tmp_path / "sbc.png").stat().st_size > 0


@pytest.mark.parametrize("scale, shift", [(0.5, 0.0), (1.0, 0.75)])
def test_miscalibrated_posterior_is_detected(scale, shift):
    table = _sbc(posterior_fit(scale=scale, shift=shift)).chi2_uniformity()
    print(table)
    assert (table["p_value"] < 0.01).all()


def test_resume_matches_uninterrupted_run(tmp_path):
    ckpt = tmp_path / "ranks.npz"
    full = _sbc(posterior_fit(), num_datasets=30)
    calls = {"n": 0}

    def flaky(model, y, key):
        calls["n"] += 1
        if calls["n"] == 13:
            raise KeyboardInterrupt
        return posterior_fit()(model, y, key)

    with pytest.raises(KeyboardInterrupt):
        _sbc(flaky, num_datasets=30, checkpoint_path=ckpt)
    assert np.load(ckpt)["ranks"].shape == (12, 2)
    resumed = _sbc(posterior_fit(), num_datasets=30, checkpoint_path=ckpt, resume=True)
    np.testing.assert_array_equal(resumed.ranks, full.ranks)
    np.testing.assert_allclose(resumed.truths, full.truths)
    with pytest.raises(ValueError, match="different run.*num_datasets"):
        _sbc(posterior_fit(), num_datasets=31, checkpoint_path=ckpt, resume=True)


def test_ranks_and_bins():
    rng = np.random.default_rng(0)
    draws = np.arange(10.0)[:, None] * np.ones((1, 2))
    assert sbc_ranks(np.array([-1.0, 100.0]), draws, 10, rng).tolist() == [0, 10]
    assert sbc_ranks(np.array([4.5, 0.5]), draws, 10, rng).tolist() == [5, 1]
    with pytest.raises(ValueError, match="need at least"):
        sbc_ranks(np.zeros(2), draws, 11, rng)
    res = SbcResult(rng.integers(0, 50, size=(120, 1)), 49, ["a"])
    assert res.default_bins() == 10  # divides L + 1 = 50, >= 10 expected per bin
    counts, prob = res.histogram()
    assert counts.sum() == 120 and np.isclose(prob.sum(), 1.0)
    odd = SbcResult(rng.integers(0, 50, size=(130, 1)), 48, ["a"])
    counts, prob = odd.histogram(13)  # unequal bins of 49 ranks
    assert counts.sum() == 130 and np.isclose(prob.sum(), 1.0) and prob.size == 13


@pytest.mark.parametrize(
    "fit, kwargs",
    [
        ("nuts", dict(num_warmup=100, num_samples=60, num_chains=2)),
        ("svi", dict(num_steps=200, num_draws=120, learning_rate=0.05)),
    ],
)
def test_builtin_fits_run(fit, kwargs):
    res = _sbc(fit, num_datasets=3, fit_kwargs=kwargs)
    assert res.ranks.shape == (3, 2) and res.meta["fit"] == fit
    assert np.all((res.ranks >= 0) & (res.ranks <= 99))
    if fit == "nuts":
        assert len(res.meta["num_divergent"]) == 3


def test_bad_fit_argument():
    with pytest.raises(ValueError, match="fit must be"):
        run_sbc(lambda: conjugate_model, fit="hmc", num_datasets=1, progress=False)


@pytest.mark.slow
def test_sbc_passive_compartment_nuts(tmp_path):
    from experiments.sbc_study import main

    table = main(["--out", str(tmp_path), "--num-datasets", "200"])
    print(table)
    assert (table["p_value"] > 0.01).all()
    assert (tmp_path / "sbc.png").exists() and (tmp_path / "sbc_summary.csv").exists()
