"""datasets.Recording (validation, transforms, npz round trip) and the Allen npz loader."""

import copy
import pickle
import re

import numpy as np
import pytest

from datasets import Recording, allen_sweeps, load_npz


def _rec(n=10, dt=0.1, **kwargs):
    v = np.linspace(-70.0, -60.0, n)
    i = np.where(np.arange(n) >= 2, 0.1, 0.0)
    return Recording(v_mV=v, i_nA=i, dt_ms=dt, **kwargs)


# ---------------------------------------------------------------- validation
BAD = [
    # (kwargs, error type, regex the message must match)
    ({"v_mV": [0.0, 1.0, np.nan, np.nan]}, ValueError, r"v_mV contains 2 NaN.*index 2"),
    ({"i_nA": [0.0, np.inf, 0.0, 0.0]}, ValueError, r"i_nA contains 1 NaN/inf.*index 1"),
    ({"i_nA": [0.0, 0.0, 0.0]}, ValueError, r"v_mV has 4 samples but i_nA has 3"),
    ({"dt_ms": 0.0}, ValueError, r"dt_ms must be a positive, finite.*got 0\.0"),
    ({"dt_ms": -0.1}, ValueError, r"dt_ms must be a positive"),
    ({"dt_ms": np.nan}, ValueError, r"dt_ms must be a positive"),
    ({"dt_ms": np.inf}, ValueError, r"dt_ms must be a positive"),
    ({"dt_ms": "0.1"}, TypeError, r"dt_ms must be a number"),
    ({"dt_ms": [0.1, 0.2]}, TypeError, r"dt_ms must be a single number"),
    ({"v_mV": [], "i_nA": []}, ValueError, r"v_mV is empty"),
    ({"v_mV": np.zeros((2, 2))}, ValueError, r"v_mV must be 1-D.*shape \(2, 2\)"),
    ({"i_nA": ["a", "b", "c", "d"]}, TypeError, r"i_nA must be a 1-D array of real numbers"),
    ({"stim_on_ms": 3.0, "stim_off_ms": 1.0}, ValueError, r"stim_off_ms \(1\) is before"),
    ({"stim_on_ms": np.nan}, ValueError, r"stim_on_ms must be finite"),
    ({"meta": [1]}, TypeError, r"meta must be a dict"),
    ({"hidden": {"m": [0.1, 0.2]}}, ValueError, r"hidden\['m'\] has 2 samples but v_mV has 4"),
    ({"hidden": {"m": [0.1, np.nan, 0, 0]}}, ValueError, r"hidden\['m'\] contains 1 NaN"),
]


@pytest.mark.parametrize("changes, err, pattern", BAD)
def test_recording_rejects_bad_input(changes, err, pattern):
    kwargs = {"v_mV": [-70.0, -69.0, -68.0, -67.0], "i_nA": [0.0] * 4, "dt_ms": 0.1}
    kwargs.update(changes)
    with pytest.raises(err, match=pattern):
        Recording(**kwargs)


def test_nan_message_names_time_and_fix():
    with pytest.raises(ValueError) as info:
        Recording(v_mV=[0.0, 0.0, 0.0, np.nan], i_nA=[0.0] * 4, dt_ms=0.5)
    assert "t = 1.5 ms" in str(info.value) and "interpolate" in str(info.value)


def test_arrays_are_readonly_float64_copies():
    v = np.arange(5, dtype=np.float32)
    rec = Recording(v_mV=v, i_nA=np.zeros(5, int), dt_ms=1)
    v[0] = 99.0
    assert rec.v_mV[0] == 0.0 and rec.v_mV.dtype == np.float64 and rec.i_nA.dtype == np.float64
    assert isinstance(rec.dt_ms, float)
    with pytest.raises(ValueError):
        rec.v_mV[0] = 1.0
    with pytest.raises(AttributeError):
        rec.dt_ms = 2.0


def test_pickle_and_deepcopy_keep_a_valid_readonly_recording():
    rec = _rec(meta={"truth": {"a": 1.0}}, hidden={"h": np.zeros(10)})
    for again in (pickle.loads(pickle.dumps(rec)), copy.deepcopy(rec)):
        assert again.allclose(rec) and again.meta == rec.meta
        assert not again.v_mV.flags.writeable and not again.hidden["h"].flags.writeable


def test_time_axis_and_duration():
    rec = _rec(n=10, dt=0.1)
    np.testing.assert_allclose(rec.t_ms, np.arange(10) * 0.1)
    assert len(rec) == 10 and rec.duration_ms == pytest.approx(1.0)
    assert rec.truth is None and "T=10" in repr(rec)


# ---------------------------------------------------------------- transforms
def test_slice_keeps_half_open_window_and_shifts_times():
    rec = _rec(n=10, dt=0.1, stim_on_ms=0.2, stim_off_ms=0.8, hidden={"g": np.arange(10.0)})
    part = rec.slice(0.3, 0.7)
    np.testing.assert_array_equal(part.v_mV, rec.v_mV[3:7])
    np.testing.assert_array_equal(part.hidden["g"], [3, 4, 5, 6])
    assert part.stim_on_ms == pytest.approx(-0.1) and part.stim_off_ms == pytest.approx(0.5)
    assert part.meta["t_offset_ms"] == pytest.approx(0.3)
    assert part.slice(0.1).meta["t_offset_ms"] == pytest.approx(0.4)
    assert len(rec.slice(0.0, rec.duration_ms)) == 10
    for t0, t1 in [(-1.0, 0.5), (0.5, 0.5), (0.0, 5.0)]:
        with pytest.raises(ValueError, match="0 <= t0_ms < t1_ms <= duration_ms"):
            rec.slice(t0, t1)


def test_downsample_takes_v_at_block_starts_and_mean_current():
    rec = Recording(
        v_mV=np.arange(7.0), i_nA=[0, 1, 2, 3, 4, 5, 6], dt_ms=0.5, hidden={"g": np.arange(7.0)}
    )
    down = rec.downsample(3)
    np.testing.assert_array_equal(down.v_mV, [0.0, 3.0, 6.0])
    np.testing.assert_allclose(down.i_nA, [1.0, 4.0, 6.0])  # last block has one sample
    np.testing.assert_array_equal(down.hidden["g"], [0.0, 3.0, 6.0])
    assert down.dt_ms == 1.5 and down.meta["downsample_factor"] == 3
    even = _rec(n=12).downsample(4)  # full blocks keep the injected charge
    assert even.i_nA.sum() * even.dt_ms == pytest.approx(_rec(n=12).i_nA.sum() * 0.1)
    assert rec.downsample(1).allclose(rec)
    with pytest.raises(ValueError, match="factor must be >= 1"):
        rec.downsample(0)
    with pytest.raises(TypeError, match="positive int"):
        rec.downsample(2.0)


def test_to_dict_round_trip():
    rec = _rec(stim_on_ms=0.2, stim_off_ms=0.9, meta={"truth": {"a": 1.0}}, hidden={"h": [0] * 10})
    again = Recording(**rec.to_dict())
    assert again.allclose(rec) and again.meta == rec.meta
    np.testing.assert_array_equal(again.hidden["h"], rec.hidden["h"])
    assert not rec.allclose(rec.slice(0.1))


# ---------------------------------------------------------------- npz
def test_npz_round_trip(tmp_path):
    meta = {"specimen_id": 12, "sweep_number": 3, "truth": {"HH_gNa": 0.1}, "note": "x"}
    rec = _rec(stim_on_ms=0.2, stim_off_ms=0.9, meta=meta, hidden={"HH_m": np.full(10, 0.5)})
    path = rec.save_npz(tmp_path / "sweep.data")  # no suffix is added
    assert path == tmp_path / "sweep.data" and path.is_file()
    back = load_npz(path)
    assert back.allclose(rec, rtol=0.0)
    assert back.meta["truth"] == {"HH_gNa": 0.1} and back.meta["specimen_id"] == 12
    assert back.meta["path"] == str(path) and back.meta["source"] == "npz"
    np.testing.assert_array_equal(back.hidden["HH_m"], 0.5)
    with np.load(path) as raw:
        assert {"v_mV", "i_nA", "dt_ms", "stim_on_ms", "stim_off_ms", "specimen_id"} <= set(raw)


def test_npz_without_stim_times_gives_none(tmp_path):
    rec = _rec()
    back = load_npz(rec.save_npz(tmp_path / "a.npz"))
    assert back.stim_on_ms is None and back.stim_off_ms is None and back.hidden is None
    np.savez(tmp_path / "b.npz", v_mV=np.zeros(3), i_nA=np.zeros(3), dt_ms=0.1)
    assert load_npz(tmp_path / "b.npz").stim_on_ms is None


def _write(path, **arrays):
    base = {"v_mV": np.zeros(4), "i_nA": np.zeros(4), "dt_ms": 0.1}
    base.update(arrays)
    with open(path, "wb") as fh:
        np.savez(fh, **{k: v for k, v in base.items() if v is not None})
    return path


def test_load_npz_errors(tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        load_npz(missing)
    with pytest.raises(ValueError, match=r"lacks the required key\(s\) \['i_nA'\]"):
        load_npz(_write(tmp_path / "k.npz", i_nA=None))
    with pytest.raises(TypeError, match=r"'dt_ms' must be a number \(a scalar\)"):
        load_npz(_write(tmp_path / "d.npz", dt_ms=np.array([0.1, 0.2])))
    with pytest.raises(TypeError, match=r"'v_mV' must be a numeric array"):
        load_npz(_write(tmp_path / "s.npz", v_mV=np.array(["a", "b", "c", "d"])))
    with pytest.raises(TypeError, match=r"'sweep_number' must be an integer"):
        load_npz(_write(tmp_path / "w.npz", sweep_number=np.float64(1.5)))
    with pytest.raises(TypeError, match="pickled"):
        load_npz(_write(tmp_path / "o.npz", v_mV=np.array([None, 1], dtype=object)))
    bad = _write(tmp_path / "n.npz", v_mV=np.array([0.0, np.nan, 0, 0]))
    with pytest.raises(ValueError, match=re.escape(str(bad)) + r".*v_mV contains 1 NaN"):
        load_npz(bad)
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_npz(tmp_path / "junk.npz")


# ---------------------------------------------------------------- Allen data
def test_allen_sweeps_missing_folder_is_empty(tmp_path):
    assert allen_sweeps(tmp_path / "absent") == []


ALLEN = allen_sweeps()


@pytest.mark.skipif(not ALLEN, reason="shared Allen data (../shared/data/allen) not present")
@pytest.mark.parametrize("path", ALLEN, ids=lambda p: p.stem)
def test_allen_files_load_with_sane_values(path):
    rec = load_npz(path)
    assert rec.dt_ms == pytest.approx(0.02)
    assert len(rec.v_mV) == len(rec.i_nA) > 0
    assert rec.stim_on_ms < rec.stim_off_ms <= rec.duration_ms
    assert rec.meta["source"] == "allen"
    assert f"{rec.meta['specimen_id']}_sweep{rec.meta['sweep_number']}" in path.stem
    assert -120.0 < rec.v_mV.min() and rec.v_mV.max() < 80.0 and rec.v_mV.max() > 0.0
    step = rec.slice(rec.stim_on_ms + 10.0, rec.stim_off_ms - 10.0).i_nA
    assert 0.05 < np.median(step) < 0.5  # the long square step (0.09-0.25 nA)
