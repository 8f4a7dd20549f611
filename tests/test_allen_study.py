"""Tests of the Allen real-data study (experiments.allen_study) and inference.features."""

from __future__ import annotations

import json

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from datasets.loaders import allen_sweeps, load_npz  # noqa: E402
from datasets.recording import Recording  # noqa: E402
from experiments import allen_study  # noqa: E402
from experiments.cell_models import POSPISCHIL_PRIORS, _steady_current, build_forward  # noqa: E402
from experiments.feature_fit import FeatureProblem  # noqa: E402
from inference import features as ft  # noqa: E402
from inference import smc as smc_mod  # noqa: E402

SWEEPS = allen_sweeps()
needs_allen = pytest.mark.skipif(not SWEEPS, reason="../shared/data/allen is not available")

CSV_COLUMNS = [
    "sweep",
    "rec_spike_count",
    "pp_count_median",
    "pp_count_q05",
    "pp_count_q95",
    "rec_rest_mV",
    "pp_rest_median",
    "pp_rest_q05",
    "pp_rest_q95",
    "wall_time_s",
    "post_mean_Na_gNa",
    "post_mean_K_gK",
    "post_mean_Km_gKm",
    "post_mean_Leak_gLeak",
    "post_mean_Leak_eLeak",
    "post_mean_vt",
    "post_mean_capacitance",
]


@needs_allen
def test_features_of_a_recorded_sweep():
    rec = load_npz(SWEEPS[0])
    count, rest = FeatureProblem.of(rec).targets()
    assert count > 0
    assert -90.0 < rest < -50.0
    windows = ft.recording_windows(rec)
    feats = dict(zip(ft.FEATURE_NAMES, np.asarray(ft.trace_features(rec.v_mV, windows))))
    assert feats["n_spikes"] == count
    assert feats["rest"] == pytest.approx(rest, abs=1e-9)
    assert 0 < feats["n_early"] <= count
    assert 2.0 <= windows.sub_ms < np.exp(feats["log_latency"])
    assert feats["ahp"] < feats["v_mean"] < feats["ap_peak"]
    assert feats["rest"] < feats["v_sub"] < 0.0


def test_trace_features_of_a_synthetic_spike_train():
    dt, t = 0.1, np.arange(0, 300, 0.1)
    v = np.full(t.shape, -70.0)
    v[(t >= 100) & (t < 200)] = -50.0
    for ts in (120.0, 150.0, 180.0, 250.0):  # the last one lies after the step
        v[(t >= ts) & (t < ts + 1.0)] = 30.0
    w = ft.FeatureWindows(dt, stim_on=100.0, stim_off=200.0, early_ms=60.0, sub_ms=10.0)
    feats = dict(zip(ft.FEATURE_NAMES, np.asarray(ft.trace_features(v, w))))
    assert feats["n_spikes"] == 3 and feats["n_early"] == 2
    assert np.exp(feats["log_latency"]) == pytest.approx(19.95, abs=0.06)
    assert feats["rest"] == -70.0 and feats["v_sub"] == -50.0
    assert feats["ap_peak"] == 30.0 and feats["ahp"] == -50.0


def test_tempered_smc_recovers_a_gaussian_posterior():
    prior = smc_mod.PriorSpace(("a", "b"), (dist.Normal(0.0, 1.0), dist.Normal(0.0, 1.0)))
    y, sigma = np.array([1.0, -2.0]), 0.5

    def evaluate(z):
        return -0.5 * np.sum(((z - y) / sigma) ** 2, axis=-1), z

    res = smc_mod.tempered_smc(
        evaluate,
        prior,
        populations=2,
        particles=400,
        moves=3,
        final_moves=5,
        seed=1,
        log=lambda msg: None,
    )
    draws = res.z.reshape(-1, 2)
    post_mean, post_sd = y * 4.0 / 5.0, np.sqrt(1.0 / 5.0)
    np.testing.assert_allclose(draws.mean(0), post_mean, atol=0.08)
    np.testing.assert_allclose(draws.std(0), post_sd, atol=0.06)
    assert not res.truncated and res.betas[-1].tolist() == [1.0, 1.0]
    assert np.all(res.unique_fraction > 0.5)


def test_resting_state_is_an_equilibrium():
    n = 1001
    rec = Recording(v_mV=np.zeros(n), i_nA=np.zeros(n), dt_ms=0.05)
    fwd = build_forward("pospischil", rec, POSPISCHIL_PRIORS)
    theta = {k: loc for k, (_, loc, _) in allen_study.PARAM_SPECS.items()}
    v = np.asarray(fwd.simulate(theta))[0]
    p = {**fwd.fixed, **theta}
    assert abs(float(_steady_current(v[0], p))) < 1e-10
    assert np.ptp(v) < 1e-6 and -90.0 < v[0] < -50.0


@needs_allen
def test_quick_study_on_one_sweep(tmp_path):
    rows = allen_study.main(["--out", str(tmp_path), "--quick", "--sweeps", "1"])
    assert len(rows) == 1
    table = pd.read_csv(tmp_path / "allen_summary.csv")
    assert list(table["sweep"]) == [SWEEPS[0].stem]
    assert set(CSV_COLUMNS) <= set(table.columns)
    assert table["rec_spike_count"].iloc[0] > 0
    assert (tmp_path / "allen_summary.png").stat().st_size > 0
    sweep_dir = tmp_path / SWEEPS[0].stem
    for name in ("posterior.nc", "posterior_predictive.png", "summary.csv", "run.json"):
        assert (sweep_dir / name).stat().st_size > 0
    from inference.idata import read_netcdf

    idata = read_netcdf(sweep_dir / "posterior.nc")
    assert set(allen_study.PARAM_SPECS) <= set(idata.posterior.data_vars)
    assert idata.posterior_predictive["spike_count"].size == rows[0]["pp_draws"]
    assert rows[0]["distinct_particles"] > 2
    run = json.loads((sweep_dir / "run.json").read_text())
    assert run["method"] == "smc" and run["likelihood"] == "features"
    for name in ("predictive_check.png", "pair.png", "prior_posterior.png", "trace_rank.png"):
        assert (sweep_dir / name).stat().st_size > 0
