"""experiments.ca1_nuts: argument checks (fast) and a short run end to end (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments import ca1_nuts


def test_bad_arguments_are_clear_errors(tmp_path: Path, capsys):
    with pytest.raises(SystemExit):
        ca1_nuts.parse_args(["--swc", str(tmp_path / "missing.swc")])
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ca1_nuts.parse_args(["--chains", "0"])
    assert "--chains must be >= 1" in capsys.readouterr().err


def test_cell_has_the_groups_and_the_truth_spikes():
    import jax

    jax.config.update("jax_enable_x64", True)
    model = ca1_nuts.build_model(ca1_nuts.build_cell(ca1_nuts.DEFAULT_SWC, 0.1))
    cell = model.forward.module
    assert cell.nodes.shape[0] == 156 and "dendrite" in cell.group_names
    y = ca1_nuts.synthetic_recording(model, seed=0)
    assert y.shape == (1, 802) and y.max() > 20.0  # one somatic spike above +20 mV


@pytest.mark.slow
def test_short_run_writes_its_results(tmp_path: Path):
    out = tmp_path / "ca1"
    argv = ["--out", str(out), "--chains", "2", "--warmup", "20", "--samples", "20"]
    report = ca1_nuts.main([*argv, "--map-steps", "30"])
    saved = json.loads((out / "run.json").read_text())
    assert saved["num_compartments"] == 156 and set(saved["truth_in_hdi"]) == set(ca1_nuts.TRUTH)
    assert report["efficiency"]["leapfrog_per_draw"] >= 1
    for name in ("posterior.nc", "summary.csv", "pair.png", "trace_rank.png"):
        assert (out / name).is_file()
