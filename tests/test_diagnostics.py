"""InferenceData conversion, summaries, plots and result files of inference.diagnostics."""

from __future__ import annotations

import math

import arviz_base as azb
import arviz_stats as azs
import jax
import numpy as np
import numpyro.distributions as dist
import pytest

import sim as jx
from inference import diagnostics as dg
from inference.idata import group_names, read_netcdf, subset
from inference.model import BayesianModel, ForwardModel
from inference.priors import Param
from inference.sampling import run_nuts, run_svi
from sim.channels import HH

jax.config.update("jax_enable_x64", True)

pytestmark = pytest.mark.xdist_group("diagnostics")

DT, T_MAX = 0.025, 5.0
TRUTH = {"HH_gNa": 0.12, "HH_gK": 0.036, "HH_gLeak": 3e-4, "sigma": 1.0}
SITES = ["HH_gNa", "HH_gK", "HH_gLeak", "sigma"]
STATS = ["diverging", "tree_depth", "n_steps", "energy", "acceptance_rate", "lp"]


def _model():
    cell = jx.Cell()
    cell.insert(HH())
    cell.init_states()
    cell.record("v", verbose=False)
    cell.stimulate(jx.step_current(1.0, 3.0, 0.02, DT, T_MAX), verbose=False)
    params = [
        Param("HH_gNa", dist.LogNormal(math.log(0.12), 0.1)),
        Param("HH_gK", dist.LogNormal(math.log(0.036), 0.1)),
        Param("HH_gLeak", dist.LogNormal(math.log(3e-4), 0.1)),
    ]
    fwd = ForwardModel(cell, params, delta_t=DT)
    return BayesianModel(fwd, obs_noise=dist.HalfNormal(2.0))


# session scope: the fit (about 80 s with compilation) runs once per worker
@pytest.fixture(scope="session")
def fitted():
    model = _model()
    v = np.asarray(model.forward.simulate({k: TRUTH[k] for k in SITES[:3]}))
    y = v + np.random.default_rng(0).standard_normal(v.shape)
    nuts = run_nuts(
        model, y, num_chains=2, num_warmup=30, num_samples=30, init="prior", progress=False
    )
    svi = run_svi(model, y, num_steps=100, num_draws=40, progress=False)
    return model, y, nuts, svi


@pytest.fixture(scope="session")
def idata(fitted):
    model, y, nuts, _ = fitted
    return dg.to_inference_data(nuts, model, y, num_predictive=10, runtime_s=1.5)


def test_nuts_inference_data_groups(idata, fitted):
    model, y, nuts, _ = fitted
    groups = set(group_names(idata))
    assert {"posterior", "sample_stats", "observed_data", "posterior_predictive"} <= groups
    assert "log_likelihood" in groups
    post = idata.posterior
    assert sorted(post.data_vars) == sorted(SITES)
    for name in SITES:
        assert post[name].dims == ("chain", "draw")
        assert post[name].shape == (2, 30)
        np.testing.assert_allclose(post[name].values, nuts.samples[name])
    stats = idata.sample_stats
    assert set(STATS) <= set(stats.data_vars)
    assert stats["diverging"].dtype == bool and stats["lp"].shape == (2, 30)
    np.testing.assert_allclose(stats["lp"].values, -nuts.stats["potential_energy"])
    n_steps = stats["n_steps"].values
    np.testing.assert_array_equal(stats["tree_depth"].values, np.floor(np.log2(n_steps)) + 1)
    obs = idata.observed_data["v_obs"]
    assert obs.dims == ("recording", "time") and obs.shape == y.shape
    np.testing.assert_allclose(obs["time"].values, np.arange(y.shape[1]) * DT)
    pred = idata.posterior_predictive["v_pred"]
    assert pred.dims == ("chain", "draw", "recording", "time")
    assert pred.shape == (2, 5) + y.shape
    assert set(pred["draw"].values) <= set(post["draw"].values)
    ll = idata.log_likelihood["v_obs"]
    assert ll.dims == ("chain", "draw", "time") and ll.shape == (2, 30, y.shape[1])
    assert np.all(np.isfinite(ll.values))
    assert idata.attrs["likelihood"] == "gaussian" and idata.attrs["inference"] == "nuts"
    assert idata.attrs["runtime_s"] == 1.5 and idata.attrs["obs_noise"] == "inferred"


def test_log_likelihood_and_predictive_values(idata, fitted):
    model, y, nuts, _ = fitted
    c, d = 1, 7
    theta = {k: nuts.samples[k][c, d] for k in SITES[:3]}
    expected = model.pointwise_log_likelihood(theta, y, nuts.samples["sigma"][c, d])
    np.testing.assert_allclose(idata.log_likelihood["v_obs"].values[c, d], expected, rtol=1e-8)
    pred = idata.posterior_predictive["v_pred"].isel(chain=0, draw=0).values
    draw = int(idata.posterior_predictive["draw"].values[0])
    clean = model.forward.simulate({k: nuts.samples[k][0, draw] for k in SITES[:3]})
    resid = pred - np.asarray(clean)
    sigma = nuts.samples["sigma"][0, draw]
    assert 0.7 < np.std(resid) / sigma < 1.3
    assert np.isfinite(azs.loo(idata).elpd)


def test_svi_inference_data(fitted):
    model, y, _, svi = fitted
    idata = dg.to_inference_data(svi, model, y, num_predictive=8, log_likelihood=False)
    assert "sample_stats" not in idata.children and "log_likelihood" not in idata.children
    assert idata.posterior["HH_gNa"].shape == (1, 40)
    assert idata.posterior_predictive["v_pred"].shape == (1, 8) + y.shape
    assert idata.attrs["inference"] == "svi" and idata.attrs["svi_num_steps"] == 100
    df = dg.summarize(idata, truth=TRUTH)
    assert math.isnan(df.attrs["divergent_fraction"])


def test_summary(idata):
    df = dg.summarize(idata, truth=TRUTH, hdi_prob=0.9)
    assert sorted(df.index) == sorted(SITES)
    for col in ("mean", "sd", "hdi_5%", "hdi_95%", "ess_bulk", "r_hat", "truth"):
        assert col in df.columns
    assert df.loc["HH_gK", "truth"] == TRUTH["HH_gK"]
    inside = (df["truth"] >= df["hdi_5%"]) & (df["truth"] <= df["hdi_95%"])
    assert (df["truth_in_hdi"] == inside).all()
    frac = df.attrs["divergent_fraction"]
    assert frac == pytest.approx(float(np.mean(idata.sample_stats["diverging"].values)))
    assert "truth" not in dg.summarize(idata).columns


def test_save_results_round_trip(idata, tmp_path):
    paths = dg.save_results(idata, tmp_path / "res", truth=TRUTH)
    expected = {"posterior", "summary", "trace_rank", "pair", "posterior_predictive"}
    assert set(paths) == expected | {"prior_posterior", "spike_raster"}
    for path in paths.values():
        assert path.exists() and path.stat().st_size > 0
    back = read_netcdf(paths["posterior"])
    assert set(group_names(back)) == set(group_names(idata))
    for group in group_names(idata):
        for var in idata[group].data_vars:
            np.testing.assert_array_equal(back[group][var].values, idata[group][var].values)
            assert back[group][var].dims == idata[group][var].dims
    assert back.attrs["likelihood"] == "gaussian"
    assert back.sample_stats["diverging"].dtype == bool
    csv = (tmp_path / "res" / "summary.csv").read_text()
    assert "truth_in_hdi" in csv and "HH_gNa" in csv


def test_plot_filter_and_single_variable_pair(idata, tmp_path):
    t = np.arange(50) * DT
    mean = np.stack([np.sin(t), np.cos(t)], axis=1)
    std = 0.1 * np.ones_like(mean)
    fig = dg.plot_filter(mean, std, t, ["v", "HH_m"], tmp_path / "f.png", truth={"v": np.sin(t)})
    assert len(fig.axes) == 2 and (tmp_path / "f.png").stat().st_size > 0
    dg.plot_filter(mean, std, t, ["v", "HH_m"], tmp_path / "g.png", truth=mean)
    with pytest.raises(ValueError, match="must be"):
        dg.plot_filter(mean, std[:, :1], t, ["v", "HH_m"])
    one = subset(idata, ["HH_gNa"])
    dg.plot_pair(one, tmp_path / "one.png", truth=TRUTH)
    assert (tmp_path / "one.png").stat().st_size > 0


def test_missing_site_is_reported(fitted):
    model, y, nuts, _ = fitted
    broken = type(nuts)({"HH_gNa": nuts.samples["HH_gNa"]}, nuts.stats, None, 0)
    with pytest.raises(ValueError, match="no draws"):
        dg.to_inference_data(broken, model, y)


def test_vector_site_summary_and_pair(tmp_path):
    rng = np.random.default_rng(1)
    post = {"g": rng.normal(size=(2, 40, 3)), "s": rng.normal(size=(2, 40))}
    idata = azb.from_dict({"posterior": post}, dims={"g": ["g_element"]})
    df = dg.summarize(idata, truth={"g": [0.0, 0.1, 9.0], "s": 0.0})
    assert list(df.index) == ["g[0]", "g[1]", "g[2]", "s"]
    assert df["truth_in_hdi"].tolist() == [True, True, False, True]
    dg.plot_pair(idata, tmp_path / "pair.png", truth={"g": [0.0, 0.1, 9.0], "s": 0.0})
    assert (tmp_path / "pair.png").stat().st_size > 0


def test_plots_open_and_carry_labels_with_units(idata, tmp_path):
    """Every plot writes a readable PNG and labels its axes (parameters with units)."""
    import matplotlib.image as mpimg

    figs = {
        "trace": dg.plot_trace_rank(idata, tmp_path / "t.png"),
        "pair": dg.plot_pair(idata, tmp_path / "p.png", truth=TRUTH),
        "pred": dg.plot_posterior_predictive(idata, tmp_path / "v.png"),
    }
    for name in ("t", "p", "v"):
        assert mpimg.imread(tmp_path / f"{name}.png").shape[0] > 100
    titles = {ax.get_title() for ax in figs["trace"].axes}
    assert "HH_gNa (S/cm²)" in titles
    pair_labels = {ax.get_xlabel() for ax in figs["pair"].axes}
    assert "HH_gLeak (S/cm²)" in pair_labels and "sigma (mV)" in pair_labels
    legend = [t.get_text() for t in figs["pair"].legends[0].get_texts()]
    n_div = int(np.sum(idata.sample_stats["diverging"].values))
    assert legend == ["truth"] + ([f"divergent ({n_div})"] if n_div else [])
    pred_labels = [ax.get_ylabel() for ax in figs["pred"].axes]
    assert pred_labels == ["v rec 0 (mV)", "residual (mV)"]
    for fig in figs.values():
        fig.canvas.draw()
        for ax in fig.axes:
            assert ax.xaxis.get_offset_text().get_text() == ""
            assert ax.yaxis.get_offset_text().get_text() == ""


_LEGACY_ARVIZ = """
import sys, warnings
warnings.simplefilter("ignore")
import arviz as az
import numpy as np
ours = az.from_netcdf(sys.argv[1])
print(sorted(ours.groups()), ours.attrs["likelihood"], ours.posterior["HH_gNa"].shape)
np.save(sys.argv[2], ours.posterior["HH_gNa"].values)
az.from_dict(posterior={"a": np.arange(6.0).reshape(2, 3)}, attrs={"k": "v"}).to_netcdf(sys.argv[3])
"""


def test_posterior_files_are_readable_by_legacy_arviz_and_back(idata, tmp_path):
    """posterior.nc written through ArviZ 1 trees opens in arviz 0.x (InferenceData) with
    the same groups and values, and a file arviz 0.x wrote opens with read_netcdf."""
    import subprocess
    import sys

    pytest.importorskip("arviz")
    paths = dg.save_results(idata, tmp_path / "res")
    legacy_in, legacy_out = tmp_path / "gna.npy", tmp_path / "legacy.nc"
    proc = subprocess.run(
        [sys.executable, "-c", _LEGACY_ARVIZ, str(paths["posterior"]), str(legacy_in)]
        + [str(legacy_out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    groups = sorted(group_names(idata))
    assert proc.stdout.split("]")[0] + "]" == str(groups)
    assert "gaussian" in proc.stdout
    np.testing.assert_array_equal(np.load(legacy_in), idata.posterior["HH_gNa"].values)
    back = read_netcdf(legacy_out)
    assert group_names(back) == ["posterior"] and back.attrs["k"] == "v"
    np.testing.assert_array_equal(back.posterior["a"].values, np.arange(6.0).reshape(2, 3))
