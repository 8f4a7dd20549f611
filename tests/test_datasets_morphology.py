"""Locating and loading the shared SWC morphologies."""

from __future__ import annotations

import pytest

from datasets import load_morphology, morphology_paths


def test_shared_morphologies_are_found_and_load():
    paths = morphology_paths()
    if not paths:
        pytest.skip("../shared/data/morphologies is absent")
    assert "ca1_n120" in paths and "l5pc_with_axon" in paths
    cell = load_morphology("ca1_n120", ncomp=1)
    assert cell.total_nbranches == 156  # as NEURON's Import3d
    assert "soma" in cell.group_names


def test_unknown_morphology_name_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown morphology 'nope'"):
        load_morphology("nope")


def test_missing_path_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_morphology(tmp_path / "missing.swc")
