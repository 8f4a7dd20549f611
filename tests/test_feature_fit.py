"""fit_conductances --method smc (summary features, tempered SMC) and its checkpoints."""

from __future__ import annotations

import json

import jax
import numpy as np
import numpyro.distributions as dist
import pytest

from datasets import Recording, hh_compartment
from experiments import fit_conductances
from experiments.feature_fit import FeatureProblem
from inference import smc as smc_mod
from inference.checkpoint import ResumeMismatchError
from inference.idata import read_netcdf

jax.config.update("jax_enable_x64", True)

TINY = ["--chains", "2", "--particles", "24", "--smc-moves", "2", "--final-moves", "2"]
TINY += ["--max-stages", "3", "--pp-draws", "12"]


@pytest.fixture(scope="module")
def real_path(tmp_path_factory):
    """A recording without ground truth (as a real one): 40 ms, a step from 5 to 35 ms."""
    syn = hh_compartment(t_max=40.0, i_delay=5.0, i_dur=30.0, seed=3)
    rec = Recording(v_mV=syn.v_mV, i_nA=syn.i_nA, dt_ms=syn.dt_ms, stim_on_ms=5.0, stim_off_ms=35.0)
    assert rec.truth is None
    return rec.save_npz(tmp_path_factory.mktemp("real") / "real.npz")


def _toy_evaluate(calls: list, fail_after: int | None = None):
    y, sigma = np.array([1.0, -2.0]), 0.5

    def evaluate(z):
        calls.append(1)
        if fail_after is not None and len(calls) > fail_after:
            raise KeyboardInterrupt("interrupted")
        return -0.5 * np.sum(((z - y) / sigma) ** 2, axis=-1), z

    return evaluate


def test_interrupted_smc_resumes_to_the_same_result(tmp_path):
    prior = smc_mod.PriorSpace(("a", "b"), (dist.Normal(0.0, 1.0), dist.Normal(0.0, 1.0)))
    kw = {"populations": 2, "particles": 64, "moves": 2, "final_moves": 3, "seed": 5}
    quiet = {"log": lambda msg: None}
    full = smc_mod.tempered_smc(_toy_evaluate([]), prior, **kw, **quiet)
    fp = {"run": "toy"}
    ckpt = smc_mod.SmcCheckpoint(tmp_path / "smc.npz", fp)
    with pytest.raises(KeyboardInterrupt):
        smc_mod.tempered_smc(_toy_evaluate([], fail_after=6), prior, **kw, checkpoint=ckpt, **quiet)
    assert (tmp_path / "smc.npz").exists()
    calls: list = []
    resumed = smc_mod.tempered_smc(
        _toy_evaluate(calls),
        prior,
        **kw,
        checkpoint=smc_mod.SmcCheckpoint(tmp_path / "smc.npz", fp, resume=True),
        **quiet,
    )
    assert len(calls) < 1 + len(full.accept)  # work done before the interruption is kept
    np.testing.assert_array_equal(resumed.z, full.z)
    np.testing.assert_array_equal(resumed.log_evidence, full.log_evidence)
    assert [b.tolist() for b in resumed.betas] == [b.tolist() for b in full.betas]
    other = smc_mod.SmcCheckpoint(tmp_path / "smc.npz", {"run": "other"}, resume=True)
    with pytest.raises(ResumeMismatchError, match="run"):
        smc_mod.tempered_smc(_toy_evaluate([]), prior, **kw, checkpoint=other, **quiet)


def test_real_recording_defaults_to_smc_on_features(tmp_path, real_path, capsys):
    report = fit_conductances.main(["--data", str(real_path), "--out", str(tmp_path), *TINY])
    assert "tempered SMC" in capsys.readouterr().err
    assert report["method"] == "smc" and report["likelihood"] == "features"
    check = report["predictive_check"]
    assert check["draws"] == 12 and check["distinct_particles"] > 2
    assert check["spike_count"]["recorded"] >= 1
    assert check["spike_count"]["q05"] <= check["spike_count"]["median"]
    idata = read_netcdf(tmp_path / "posterior.nc")
    assert set(idata.posterior.data_vars) == {"HH_gNa", "HH_gK", "HH_gLeak"}
    assert idata.posterior.sizes == {"chain": 2, "draw": 24}
    assert idata.posterior_predictive["spike_count"].size == 12
    assert idata.attrs["inference"] == "smc"
    for name in ("predictive_check.png", "posterior_predictive.png", "pair.png", "trace_rank.png"):
        assert (tmp_path / name).stat().st_size > 0
    saved = json.loads((tmp_path / "run.json").read_text())
    assert saved["smc"]["stages"] >= 1 and saved["fingerprint"]["smc"][0] == 24
    # the finished run's checkpoint restores it without sampling again
    again = fit_conductances.main(
        ["--data", str(real_path), "--out", str(tmp_path), *TINY, "--resume"]
    )
    assert "[smc] resumed" in capsys.readouterr().err
    np.testing.assert_array_equal(
        read_netcdf(tmp_path / "posterior.nc").posterior["HH_gNa"].values,
        idata.posterior["HH_gNa"].values,
    )
    assert again["predictive_check"] == check


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--likelihood", "features", "--method", "nuts"], "use --method smc"),
        (["--method", "smc", "--likelihood", "kalman"], "samples --likelihood features"),
        (["--method", "smc", "--data", "SAME"], "fits one recording"),
        (["--particles", "2"], "--particles must be >= 8"),
    ],
)
def test_bad_smc_flags_are_refused_before_work(capsys, real_path, extra, needle):
    extra = [str(real_path) if e == "SAME" else e for e in extra]
    with pytest.raises(SystemExit) as info:
        fit_conductances.parse_args(["--data", str(real_path), *extra])
    assert info.value.code == 2
    assert needle in capsys.readouterr().err


def test_window_must_hold_the_step(real_path):
    from datasets import load_npz

    rec = load_npz(real_path)
    with pytest.raises(ValueError, match="must hold the step"):
        FeatureProblem.of(rec, window=(10.0, 30.0))
    problem = FeatureProblem.of(rec)
    assert problem.fit.dt_ms == rec.dt_ms  # 0.025 ms: not coarsened
    assert problem.observed[1] == problem.targets()[0]  # n_spikes feature = spike count
    fine = Recording(v_mV=rec.v_mV, i_nA=rec.i_nA, dt_ms=0.01, stim_on_ms=2.0, stim_off_ms=14.0)
    assert FeatureProblem.of(fine).fit.dt_ms == pytest.approx(0.02)


def test_synthetic_data_keeps_nuts_by_default(tmp_path):
    _, args = fit_conductances.parse_args(["--out", str(tmp_path)])
    assert args.method is None  # resolved on the data: the embedded example has a truth
    recs = fit_conductances.load_recordings(args, prepared=False)
    fit_conductances._resolve_method(args, recs)
    assert (args.method, args.likelihood) == ("nuts", "gaussian")
