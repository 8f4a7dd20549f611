"""The state-estimation CLI (experiments/estimate_states.py) on a short synthetic recording."""

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from datasets.synthetic import hh_compartment  # noqa: E402
from experiments.estimate_states import main, parse_pairs  # noqa: E402

NAMES = ["v", "HH_m", "HH_h", "HH_n"]


@pytest.fixture(scope="module")
def recording_path(tmp_path_factory):
    rec = hh_compartment(t_max=20.0, i_delay=2.0, i_dur=16.0, seed=1)
    return rec.save_npz(tmp_path_factory.mktemp("rec") / "rec.npz"), len(rec)


@pytest.mark.parametrize(
    "method, extra", [("ekf", []), ("ukf", ["--smoother", "--process-std", "v=0.3"])]
)
def test_cli_writes_states_and_plot(recording_path, tmp_path, method, extra, capsys):
    path, T = recording_path
    out = tmp_path / "out"
    res = main(["--data", str(path), "--model", "hh", "--filter", method, "--out", str(out),
                "--obs-std", "1.0", *extra])  # fmt: skip
    printed = capsys.readouterr().out
    assert "loaded" in printed and "log-likelihood" in printed and "HH_h" in printed
    assert (out / "states.png").stat().st_size > 0 and res["plot"] == out / "states.png"
    with np.load(out / "states.npz") as data:
        assert list(data["names"]) == NAMES
        assert data["mean"].shape == data["std"].shape == (T, 4)
        assert data["truth"].shape == (T, 4) and data["t_ms"].shape == (T,)
        assert np.allclose(data["t_ms"][1], 0.025)
        assert str(data["kind"]) == ("smoothed" if "--smoother" in extra else "filtered")
        assert np.isfinite(data["mean"]).all() and (data["std"] > 0).all()
        assert np.isfinite(float(data["log_likelihood"]))
        gate_err = np.abs(data["mean"][:, 1:] - data["truth"][:, 1:])
    assert gate_err.max() < 0.05
    summary = res["summary"]
    assert set(summary) == set(NAMES) and summary["HH_m"]["rmse"] < 0.02


def test_cli_without_data_uses_synthetic_default(tmp_path):
    res = main(["--out", str(tmp_path), "--no-plot"])
    assert res["plot"] is None and not (tmp_path / "states.png").exists()
    assert all(res["summary"][g]["rmse"] < 0.02 for g in NAMES[1:])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--data", "missing.npz"], "no such file"),
        (["--model", "pospischil"], "unknown --model"),
        (["--filter", "pf"], "unknown --filter"),
        (["--obs-std", "0"], "--obs-std"),
        (["--process-std", "v=abc"], "not a number"),
        (["--process-std", "Na_m=0.1"], "unknown state kind"),
        (["--params", "HH_gFoo=1"], "Unknown parameter"),
        (["--params", "truth", "--data", "REAL"], "no meta['truth']"),
    ],
)
def test_cli_rejects_bad_arguments(tmp_path, capsys, argv, message):
    if "REAL" in argv:
        rec = hh_compartment(t_max=2.0)
        real = rec.__class__(v_mV=rec.v_mV, i_nA=rec.i_nA, dt_ms=rec.dt_ms)  # no truth
        argv = [a if a != "REAL" else str(real.save_npz(tmp_path / "real.npz")) for a in argv]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_parse_pairs():
    assert parse_pairs("v=0.5, HH_m=1e-5", "--x") == {"v": 0.5, "HH_m": 1e-5}
    assert parse_pairs("", "--x") == {}
    with pytest.raises(ValueError, match="name=value"):
        parse_pairs("v0.5", "--x")
    with pytest.raises(ValueError, match=">= 0"):
        parse_pairs("v=-1", "--x")


def test_cli_swc_model_uses_the_block_filter(tmp_path):
    from pathlib import Path

    swc = Path(__file__).parents[2] / "shared/data/morphologies/morph_3_types.swc"
    rec = hh_compartment(t_max=5.0, i_delay=1.0, i_dur=3.0, i_amp=0.2)
    path = rec.save_npz(tmp_path / "rec.npz")
    res = main(["--data", str(path), "--model", f"swc:{swc}", "--ncomp", "1",
                "--filter", "ekf_block", "--out", str(tmp_path / "o")])  # fmt: skip
    with np.load(res["states"]) as data:
        assert str(data["filter"]) == "ekf_block" and np.isfinite(data["mean"]).all()
    with pytest.raises(SystemExit):
        main(["--model", "swc:missing.swc", "--out", str(tmp_path / "o2")])
    with pytest.raises(SystemExit):
        main(["--filter", "ekf_block", "--smoother", "--out", str(tmp_path / "o3")])
