"""The flagship CLI end to end (short settings): outputs, parameter names, --resume."""

from __future__ import annotations

import json

import arviz_base as azb
import jax
import numpy as np
import pandas as pd
import pytest

from experiments import fit_conductances
from inference.idata import read_netcdf

jax.config.update("jax_enable_x64", True)
NAMES = {"HH_gNa", "HH_gK", "HH_gLeak"}


@pytest.fixture(scope="module")
def recording_path(tmp_path_factory):
    from datasets import hh_compartment

    rec = hh_compartment(
        {"HH_gNa": 0.1, "HH_gK": 0.04, "HH_gLeak": 4e-4}, t_max=12.0, i_delay=2.0, i_dur=8.0, seed=2
    )
    return rec.save_npz(tmp_path_factory.mktemp("rec") / "rec.npz")


def _run(out, data, *extra):
    return fit_conductances.main(["--data", str(data), "--out", str(out), *extra])


def test_map_fit_writes_named_posterior_and_summary(tmp_path, recording_path):
    report = _run(tmp_path, recording_path, "--method", "map", "--map-steps", "60")
    idata = read_netcdf(tmp_path / "posterior.nc")
    assert set(idata.posterior.data_vars) == NAMES
    assert {"observed_data", "posterior_predictive", "log_likelihood"} <= set(idata.children)
    summary = pd.read_csv(tmp_path / "summary.csv", index_col=0)
    assert NAMES <= set(summary.index)
    assert json.loads((tmp_path / "run.json").read_text())["method"] == "map"
    # A MAP run plots the fit and the Laplace widths, not (empty) trace/pair plots.
    for name in ("laplace.png", "prior_posterior.png", "posterior_predictive.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert not (tmp_path / "pair.png").exists()
    est = idata.posterior.mean(("chain", "draw"))
    assert abs(float(est["HH_gK"]) - 0.04) / 0.04 < 0.2, report


def test_laplace_method_writes_draws_in_the_nuts_format(tmp_path, recording_path):
    report = _run(tmp_path, recording_path, "--method", "laplace", "--map-steps", "60",
                  "--samples", "50")  # fmt: skip
    idata = read_netcdf(tmp_path / "posterior.nc")
    assert idata.attrs["inference"] == "laplace" and "laplace_std" in idata.attrs
    assert set(idata.posterior.data_vars) == NAMES
    assert idata.posterior.sizes["chain"] == 1 and idata.posterior.sizes["draw"] == 50
    assert {"observed_data", "posterior_predictive"} <= set(idata.children)
    assert report["method"] == "laplace" and report["wall_time_s"] > 0
    summary = pd.read_csv(tmp_path / "summary.csv", index_col=0)
    assert (summary.loc[list(NAMES), "sd"] > 0).all()  # a distribution, not a point
    assert (tmp_path / "pair.png").stat().st_size > 0
    with pytest.raises(SystemExit):
        fit_conductances.main(["--synthetic-steps", "0.01,0.02", "--method", "laplace",
                               "--out", str(tmp_path / "multi")])  # fmt: skip


def test_killed_map_fit_resumes_without_loss(tmp_path, recording_path, monkeypatch):
    """Killed right after its first checkpoint (step 50 of 60), then resumed: same result."""
    import inference.optimize as optimize

    _run(tmp_path / "full", recording_path, "--method", "map", "--map-steps", "60")
    save = optimize._save_checkpoint

    def save_then_die(*args, **kwargs):
        save(*args, **kwargs)
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(optimize, "_save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "cut", recording_path, "--method", "map", "--map-steps", "60")
    assert not (tmp_path / "cut" / "posterior.nc").exists()
    monkeypatch.setattr(optimize, "_save_checkpoint", save)
    _run(tmp_path / "cut", recording_path, "--method", "map", "--map-steps", "60", "--resume")
    full = read_netcdf(tmp_path / "full" / "posterior.nc").posterior
    resumed = read_netcdf(tmp_path / "cut" / "posterior.nc").posterior
    for name in NAMES:
        np.testing.assert_allclose(resumed[name].values, full[name].values, rtol=1e-10)


@pytest.mark.slow  # CI time: the suite must stay near 15 min on 2 cores (make test-slow)
def test_svi_fit_runs(tmp_path, recording_path):
    _run(tmp_path, recording_path, "--method", "svi", "--map-steps", "30", "--svi-steps", "60")
    idata = read_netcdf(tmp_path / "posterior.nc")
    assert set(idata.posterior.data_vars) == NAMES
    assert idata.posterior.sizes["draw"] > 100


def test_bad_recording_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, v_mV=np.array([-70.0, np.nan, -70.0]), i_nA=np.zeros(3), dt_ms=0.025)
    with pytest.raises(SystemExit) as info:
        _run(tmp_path / "out", bad, "--method", "map")
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "NaN" in err and "bad.npz" in err


def test_truth_in_hdi_uses_unrounded_bounds():
    from inference.diagnostics import summarize

    draws = {"HH_gLeak": 4e-4 + 1e-6 * np.random.default_rng(0).normal(size=(2, 200))}
    idata = azb.from_dict({"posterior": draws})
    summary = summarize(idata, truth={"HH_gLeak": 4e-4})
    assert bool(summary.loc["HH_gLeak", "truth_in_hdi"])
    assert summary.loc["HH_gLeak", "mean"] > 0
