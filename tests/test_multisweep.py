"""Multi-sweep fits: one cell, several recordings (``inference.multisweep``) and the CLI."""

from __future__ import annotations

import json
from types import SimpleNamespace

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
import pytest  # noqa: E402
from numpyro.infer.util import log_density  # noqa: E402

import sim as jx  # noqa: E402
from datasets import EMBEDDED_TRUTH, hh_compartment  # noqa: E402
from experiments import fit_conductances  # noqa: E402
from inference.diagnostics import save_results, to_inference_data  # noqa: E402
from inference.idata import read_netcdf  # noqa: E402
from inference.model import BayesianModel, ForwardModel  # noqa: E402
from inference.multisweep import MultiSweepModel  # noqa: E402
from inference.priors import Param  # noqa: E402
from sim.channels import HH, Leak  # noqa: E402

NAMES = ["HH_gNa", "HH_gK", "HH_gLeak"]
STEPS = (0.01, 0.02, 0.03)  # nA
DURATIONS = (4.0, 5.0, 4.5)  # ms: sweeps of different length


def _params():
    medians = fit_conductances.HH_PRIOR_MEDIANS
    return [Param(k, dist.LogNormal(jnp.log(medians[k]), 0.7)) for k in NAMES]


def _cell(rec, channel=HH, record=("v",)):
    cell = jx.Cell()
    cell.insert(channel())
    cell.init_states()
    for state in record:
        cell.record(state, verbose=False)
    cell.stimulate(np.asarray(rec.i_nA[:-1]), verbose=False)
    return cell


@pytest.fixture(scope="module")
def recs():
    """Three short HH sweeps of different length and amplitude."""
    return [
        hh_compartment(EMBEDDED_TRUTH, t_max=t, i_delay=0.5, i_dur=3.0, i_amp=a, seed=k)
        for k, (a, t) in enumerate(zip(STEPS, DURATIONS))
    ]


def _ys(recs):
    return [np.asarray(r.v_mV)[None] for r in recs]


def test_log_likelihood_is_the_sum_of_single_sweep_ones(recs):
    sigmas = [1.0, 1.5, 0.7]
    model = MultiSweepModel.from_modules([_cell(r) for r in recs], _params(), obs_noise=sigmas)
    singles = [
        BayesianModel(ForwardModel(_cell(r), _params()), obs_noise=s) for r, s in zip(recs, sigmas)
    ]
    theta = {"HH_gNa": 0.09, "HH_gK": 0.05, "HH_gLeak": 5e-4}
    ys = model.check_observations(_ys(recs))
    single_ll = [float(m.log_likelihood(theta, y, s)) for m, y, s in zip(singles, ys, sigmas)]
    per_sweep = np.asarray(model.sweep_log_likelihoods(theta, ys))
    assert per_sweep.tolist() == single_ll  # exact, sweep by sweep
    assert float(model.log_likelihood(theta, ys)) == pytest.approx(sum(single_ll), rel=1e-15)
    pointwise = model.pointwise_log_likelihood(theta, ys)
    assert [p.shape for p in pointwise] == [(len(r),) for r in recs]  # no padding
    for p, m, y, s in zip(pointwise, singles, ys, sigmas):
        np.testing.assert_array_equal(p, m.pointwise_log_likelihood(theta, y, s))
    # The numpyro model's log joint = shared priors (once) + the sum of the sweeps.
    joint, _ = log_density(model, (ys,), {}, theta)
    prior = sum(float(p.prior.log_prob(theta[p.name])) for p in _params())
    assert float(joint) == pytest.approx(prior + sum(single_ll), rel=1e-13)


def test_inferred_noise_has_one_site_per_sweep(recs):
    model = MultiSweepModel.from_modules(
        [_cell(r) for r in recs],
        _params(),
        obs_noise=[dist.HalfNormal(5.0), 1.0, dist.HalfNormal(2.0)],
    )
    assert model.site_names == [*NAMES, "sigma_0", "sigma_2"]
    theta = {**EMBEDDED_TRUTH, "sigma_0": 1.2, "sigma_2": 0.8}
    ys = model.check_observations(_ys(recs))
    joint, trace = log_density(model, (ys,), {}, theta)
    assert {"obs_0", "obs_1", "obs_2", "sigma_0", "sigma_2"} <= set(trace)
    expected = model.log_likelihood(theta, ys, [1.2, 1.0, 0.8])
    prior = sum(float(p.prior.log_prob(theta[p.name])) for p in _params())
    prior += float(dist.HalfNormal(5.0).log_prob(1.2) + dist.HalfNormal(2.0).log_prob(0.8))
    assert float(joint) == pytest.approx(float(expected) + prior, rel=1e-13)


def test_inference_data_has_per_sweep_groups(recs, tmp_path):
    model = MultiSweepModel.from_modules(
        [_cell(r) for r in recs], _params(), obs_noise=[1.0, dist.HalfNormal(5.0), 1.0]
    )
    rng = np.random.default_rng(0)
    draws = {k: v * np.exp(0.02 * rng.normal(size=(2, 3))) for k, v in EMBEDDED_TRUTH.items()}
    draws["sigma_1"] = 1.0 + 0.1 * rng.random((2, 3))
    idata = to_inference_data(SimpleNamespace(samples=draws), model, _ys(recs), num_predictive=4)
    assert set(idata.posterior.data_vars) == {*NAMES, "sigma_1"}
    for k, r in enumerate(recs):
        assert idata.observed_data[f"v_obs_{k}"].dims == ("recording", f"time_{k}")
        assert idata.observed_data[f"v_obs_{k}"].shape == (1, len(r))
        assert idata.log_likelihood[f"v_obs_{k}"].shape == (2, 3, len(r))
        pred = idata.posterior_predictive[f"v_pred_{k}"]
        assert pred.dims == ("chain", "draw", "recording", f"time_{k}")
        assert pred.shape == (2, 2, 1, len(r))
        np.testing.assert_allclose(idata.observed_data[f"time_{k}"][-1], r.t_ms[-1])
    ll = model.pointwise_log_likelihood(
        {k: draws[k][1, 2] for k in NAMES}, _ys(recs), [1.0, draws["sigma_1"][1, 2], 1.0]
    )
    for k in range(3):
        np.testing.assert_allclose(idata.log_likelihood[f"v_obs_{k}"][1, 2], ll[k], rtol=1e-12)
    assert json.loads(idata.attrs["obs_noise"]) == [1.0, "inferred", 1.0]
    paths = save_results(idata, tmp_path, truth=EMBEDDED_TRUTH)
    back = read_netcdf(paths["posterior"])
    assert set(back.log_likelihood.data_vars) == {"v_obs_0", "v_obs_1", "v_obs_2"}
    assert paths["posterior_predictive"].stat().st_size > 0


@pytest.mark.parametrize(
    "change, match",
    [
        ({"channel": Leak}, "not a recording of the same cell"),
        ({"record": ("v", "HH_m")}, "recordings"),
    ],
)
def test_sweeps_of_other_modules_are_refused(recs, change, match):
    other = _cell(recs[1], **change)
    params = [Param("HH_gNa", dist.LogNormal(0.0, 1.0))] if "channel" not in change else []
    with pytest.raises(ValueError, match=match):
        MultiSweepModel.from_modules([_cell(recs[0]), other], params)


def test_bad_observations_and_noise_are_clear_errors(recs):
    cells = [_cell(r) for r in recs]
    model = MultiSweepModel.from_modules(cells, _params())
    with pytest.raises(ValueError, match="2 observed sweeps for a model of 3"):
        model.check_observations(_ys(recs)[:2])
    with pytest.raises(ValueError, match="Sweep 1: Observations have shape"):
        model.check_observations([_ys(recs)[0], _ys(recs)[0], _ys(recs)[2]])
    with pytest.raises(ValueError, match="one array per sweep"):
        model.check_observations(np.zeros((1, 10)))
    with pytest.raises(ValueError, match="obs_noise has 2 entries but there are 3 sweeps"):
        MultiSweepModel.from_modules(cells, _params(), obs_noise=[1.0, 2.0])
    with pytest.raises(ValueError, match="at least one sweep"):
        MultiSweepModel([])
    a = ForwardModel(cells[0], _params())
    b = ForwardModel(cells[1], [Param("HH_gNa", dist.LogNormal(0.0, 0.3)), *_params()[1:]])
    with pytest.raises(ValueError, match="other priors"):
        MultiSweepModel([a, b])


def test_map_on_three_current_steps_recovers_the_truth():
    from inference.sampling import find_map

    recs = [
        hh_compartment(EMBEDDED_TRUTH, t_max=12.0, i_delay=1.0, i_dur=10.0, i_amp=a, seed=k)
        for k, a in enumerate(STEPS)
    ]
    model = fit_conductances.build_hh_multisweep(
        recs, likelihood="gaussian", obs_std=1.0, process_std={"v": 0.05}
    )
    kw = {"num_steps": 60, "num_candidates": 64, "num_starts": 4, "learning_rate": 0.1}
    fit = find_map(model, _ys(recs), progress=False, **kw)
    for name, truth in EMBEDDED_TRUTH.items():
        assert abs(float(fit.best[name]) / truth - 1) < 0.05, (name, fit.best)


@pytest.mark.slow  # CI time: the suite must stay near 15 min on 2 cores (make test-slow)
def test_map_warm_starts_join_the_screen(recs):
    from inference.sampling import find_map

    model = MultiSweepModel.from_modules([_cell(r) for r in recs], _params())
    kw = {"num_candidates": 1, "num_starts": 1, "num_steps": 0, "progress": False}
    fit = find_map(model, _ys(recs), init_values=[EMBEDDED_TRUTH], **kw)
    for name, truth in EMBEDDED_TRUTH.items():
        assert float(fit.best[name]) == pytest.approx(truth, rel=1e-12)


# ----------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def sweep_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweeps")
    return [
        hh_compartment(EMBEDDED_TRUTH, t_max=t, i_delay=0.5, i_dur=3.0, i_amp=a, seed=k).save_npz(
            folder / f"sweep{k}.npz"
        )
        for k, (a, t) in enumerate(zip(STEPS, DURATIONS))
    ]


def test_cli_fits_two_recordings_and_refuses_resume_with_other_sweeps(
    tmp_path, sweep_files, capsys
):
    a, b, c = (str(p) for p in sweep_files)
    common = ["--method", "map", "--map-steps", "20", "--out", str(tmp_path)]
    report = fit_conductances.main(["--data", a, "--data", b, *common])
    assert report["num_sweeps"] == 2 and report["num_samples"] == [161, 201]
    idata = read_netcdf(tmp_path / "posterior.nc")
    assert set(idata.posterior.data_vars) == set(NAMES)
    assert set(idata.observed_data.data_vars) == {"v_obs_0", "v_obs_1"}
    assert set(idata.posterior_predictive.data_vars) == {"v_pred_0", "v_pred_1"}
    assert len(report["fingerprint"]["data"]) == 2
    before = (tmp_path / "posterior.nc").read_bytes()
    for sweeps in ([a, c], [b, a], [a, b, c], [a]):
        argv = [arg for path in sweeps for arg in ("--data", path)]
        with pytest.raises(SystemExit) as info:
            fit_conductances.main([*argv, *common, "--resume"])
        assert info.value.code == 2
        assert "data: saved" in capsys.readouterr().err
    assert (tmp_path / "posterior.nc").read_bytes() == before


def test_cli_rejects_bad_multisweep_input(tmp_path, sweep_files, capsys):
    a = str(sweep_files[0])
    for argv, message in (
        (["--synthetic-steps", "0.01,x"], "--synthetic-steps expects"),
        (["--synthetic-steps", "0.01,nan"], "not an amplitude"),
        (["--synthetic-steps", "0.01", "--data", a], "cannot be used with --data"),
        (["--data", a, "--data", str(tmp_path / "none.npz")], "does not exist"),
    ):
        with pytest.raises(SystemExit) as info:
            fit_conductances.main([*argv, "--out", str(tmp_path / "out")])
        assert info.value.code == 2
        assert message in capsys.readouterr().err


def test_synthetic_steps_make_sweeps_of_the_embedded_example():
    from datasets import embedded_example

    _, args = fit_conductances.parse_args(["--synthetic-steps", "0.02,0.03"])
    sweeps = fit_conductances.load_recordings(args)
    assert [r.meta["seed"] for r in sweeps] == [0, 1]
    assert sweeps[0].allclose(embedded_example(), rtol=0.0)
    assert sweeps[1].truth == EMBEDDED_TRUTH
    assert np.max(sweeps[1].i_nA) == pytest.approx(0.03)
    _, default = fit_conductances.parse_args([])
    assert len(fit_conductances.load_recordings(default)) == 1
