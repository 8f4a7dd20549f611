"""fit_conductances on real-recording options: --model, --window/--dt, --sweep, --priors."""

from __future__ import annotations

import json
import warnings

import jax
import matplotlib.image as mpimg
import numpy as np
import pytest

from experiments import cell_models, fit_conductances
from inference.idata import read_netcdf

jax.config.update("jax_enable_x64", True)


@pytest.fixture(scope="module")
def rec_path(tmp_path_factory):
    from datasets import hh_compartment

    rec = hh_compartment(
        {"HH_gNa": 0.1, "HH_gK": 0.04, "HH_gLeak": 4e-4}, t_max=12.0, i_delay=2.0, i_dur=8.0, seed=2
    )
    return rec.save_npz(tmp_path_factory.mktemp("rec") / "rec.npz")


def _exit_message(capsys, argv) -> str:
    with pytest.raises(SystemExit) as info:
        fit_conductances.parse_args(argv) if "--run" not in argv else None
    assert info.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--window", "5"], "t0:t1"),
        (["--window", "8:2"], "t0 < t1"),
        (["--dt", "-1"], "--dt"),
        (["--model", "bogus"], "hh, pospischil or swc:PATH"),
        (["--model", "swc:/nonexistent.swc"], "no such SWC"),
        (["--sweep", "3"], ".nwb"),
    ],
)
def test_bad_flags_are_refused_before_work(capsys, rec_path, extra, needle):
    err = _exit_message(capsys, ["--data", str(rec_path), *extra])
    assert needle in err


def test_priors_file_is_validated(tmp_path, capsys, rec_path):
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps({"HH_gFoo": ["lognormal", 1.0, 0.5]}))
    assert "unknown site" in _exit_message(capsys, ["--data", str(rec_path), "--priors", str(bad)])
    good = tmp_path / "q.json"
    good.write_text(json.dumps({"HH_gNa": ["lognormal", 0.1, 0.3]}))
    _, args = fit_conductances.parse_args(["--data", str(rec_path), "--priors", str(good)])
    assert args.prior_table["HH_gNa"][3:] == (0.1, 0.3)


def test_window_outside_recording_is_a_clear_error(tmp_path, capsys, rec_path):
    with pytest.raises(SystemExit) as info:
        fit_conductances.main(
            ["--data", str(rec_path), "--window", "0:500", "--out", str(tmp_path)]
        )
    assert info.value.code == 2
    assert "ends after the recording" in capsys.readouterr().err


def test_dt_must_be_a_multiple(tmp_path, capsys, rec_path):
    with pytest.raises(SystemExit):
        fit_conductances.main(["--data", str(rec_path), "--dt", "0.06", "--out", str(tmp_path)])
    assert "integer multiple" in capsys.readouterr().err


def test_resample_low_passes_voltage_and_keeps_the_step():
    from datasets import Recording
    from datasets.resample import prepare

    dt, n = 0.02, 5000
    t = np.arange(n) * dt
    fast = 5.0 * np.sin(2 * np.pi * 4.5 * t)  # 4.5 kHz: above the 2.5 kHz Nyquist of 0.2 ms
    slow = 3.0 * np.sin(2 * np.pi * 0.01 * t)  # 10 Hz
    i = np.where((t >= 20) & (t < 60), 0.1, 0.0)
    rec = Recording(v_mV=-65 + slow + fast, i_nA=i, dt_ms=dt, stim_on_ms=20.0, stim_off_ms=60.0)
    out = prepare(rec, (10.0, 90.0), 0.2)
    assert out.dt_ms == pytest.approx(0.2) and len(out) == 400
    expected = -65 + 3.0 * np.sin(2 * np.pi * 0.01 * (10.0 + out.t_ms))
    assert np.max(np.abs(out.v_mV[5:-5] - expected[5:-5])) < 0.2  # the 4.5 kHz part is gone
    assert set(np.round(out.i_nA, 12)) == {0.0, 0.1} and out.stim_on_ms == pytest.approx(10.0)


def test_nwb_data_gives_the_same_recording(tmp_path, rec_path):
    from datasets import load_npz, write_nwb

    nwb = write_nwb(load_npz(rec_path), tmp_path / "rec.nwb")
    _, a = fit_conductances.parse_args(["--data", str(rec_path), "--window", "1:11"])
    _, b = fit_conductances.parse_args(["--data", str(nwb), "--window", "1:11"])
    ra, rb = fit_conductances.load_recordings(a)[0], fit_conductances.load_recordings(b)[0]
    assert ra.allclose(rb) and len(ra) == 400


def test_pospischil_and_swc_models_simulate():
    from datasets import embedded_example

    rec = embedded_example().slice(0.0, 10.0)
    kw = {"likelihood": "gaussian", "obs_std": None, "process_std": {"v": 0.05}}
    pos = fit_conductances.build_hh_model(rec, model="pospischil", **kw)
    assert set(pos.site_names) == set(cell_models.POSPISCHIL_PRIORS) | {"sigma"}
    v = np.asarray(pos.forward.simulate(pos.prior_median()))
    assert np.all(np.isfinite(v)) and abs(v[0, 0] - v[0, 1]) < 1e-6  # starts at rest
    swc = "/work/shared/data/morphologies/morph_3_types.swc"
    from pathlib import Path

    if not Path(swc).exists():
        pytest.skip("shared morphologies not available")
    model = fit_conductances.build_hh_model(
        rec, model="swc", swc_path=swc, priors=cell_models.SWC_PRIORS, **kw
    )
    assert "HH_gNa_soma" in model.site_names and "HH_gNa_axon" in model.site_names
    assert np.all(np.isfinite(np.asarray(model.forward.simulate(model.prior_median()))))


def test_map_run_plots_fit_and_laplace_without_warnings(tmp_path, rec_path):
    argv = ["--data", str(rec_path), "--out", str(tmp_path), "--method", "map", "--map-steps", "40"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = fit_conductances.main(argv)
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], caught
    for name in ("laplace.png", "prior_posterior.png", "posterior_predictive.png"):
        assert mpimg.imread(tmp_path / name).shape[0] > 100
    assert not (tmp_path / "trace_rank.png").exists()
    idata = read_netcdf(tmp_path / "posterior.nc")
    assert "map_num_starts" in idata.attrs and "svi_num_steps" not in idata.attrs
    lap = read_netcdf(tmp_path / "laplace.nc")
    assert lap.posterior.sizes["draw"] == 200
    summary = (tmp_path / "summary.csv").read_text()
    assert "nan" not in summary.lower()
    assert report["model"] == "hh"
