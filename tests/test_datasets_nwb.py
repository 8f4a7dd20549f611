"""NWB 2 current-clamp reading/writing: unit conversion, sweep selection, round trips."""

import warnings
from datetime import UTC, datetime

import numpy as np
import pytest

pynwb = pytest.importorskip("pynwb")
h5py = pytest.importorskip("h5py")

from pynwb.icephys import CurrentClampSeries, CurrentClampStimulusSeries  # noqa: E402

import datasets  # noqa: E402
from datasets import Recording, list_nwb_sweeps, load_nwb, to_nwb, write_nwb  # noqa: E402
from datasets.nwb import unit_scale  # noqa: E402

N, DT = 400, 0.02  # samples, ms (50 kHz like the Allen data)


def _traces():
    t = np.arange(N) * DT
    v = -70.0 + 20.0 * np.sin(t)  # mV
    i = np.where((t >= 1.0) & (t < 6.0), 0.15, 0.0)  # nA, one square step
    return v, i


def _nwb_file():
    nwb = pynwb.NWBFile(
        session_description="test", identifier="test-file", session_start_time=datetime.now(UTC)
    )
    device = nwb.create_device(name="amp")
    electrode = nwb.create_icephys_electrode(name="e0", description="e", device=device)
    return nwb, electrode


def _add_sweep(nwb, electrode, sweep, v_data, v_conv, i_data, i_conv, names=None):
    resp_name, stim_name = names or (f"data_{sweep:05d}_AD0", f"data_{sweep:05d}_DA0")
    common = {"rate": 1000.0 / DT, "electrode": electrode, "gain": 1.0}
    if sweep is not None:
        common["sweep_number"] = np.uint32(sweep)
    nwb.add_acquisition(
        CurrentClampSeries(name=resp_name, data=v_data, conversion=v_conv, **common)
    )
    nwb.add_stimulus(
        CurrentClampStimulusSeries(name=stim_name, data=i_data, conversion=i_conv, **common)
    )


def _save(nwb, path):
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


# Stored data and conversion factors that all mean the same mV / nA values.
ENCODINGS = [
    ("mV, conversion 1e-3", 1.0, 1e-3, "nA, conversion 1e-9", 1.0, 1e-9),
    ("V, conversion 1", 1e-3, 1.0, "A, conversion 1", 1e-9, 1.0),
    ("uV, conversion 1e-6", 1e3, 1e-6, "pA, conversion 1e-12", 1e3, 1e-12),
]


@pytest.mark.parametrize("_v, v_scale, v_conv, _i, i_scale, i_conv", ENCODINGS)
def test_units_are_converted_to_mv_and_na(tmp_path, _v, v_scale, v_conv, _i, i_scale, i_conv):
    v, i = _traces()
    nwb, electrode = _nwb_file()
    _add_sweep(nwb, electrode, 5, v * v_scale, v_conv, i * i_scale, i_conv)
    rec = load_nwb(_save(nwb, tmp_path / "f.nwb"))
    np.testing.assert_allclose(rec.v_mV, v, rtol=1e-12)
    np.testing.assert_allclose(rec.i_nA, i, rtol=1e-12, atol=1e-15)
    assert rec.dt_ms == pytest.approx(DT)
    assert rec.stim_on_ms == pytest.approx(1.0) and rec.stim_off_ms == pytest.approx(6.0)
    assert rec.meta["sweep_number"] == 5 and rec.meta["source"] == "nwb"
    assert rec.meta["nwb_stimulus"] == "data_00005_DA0"


def test_prefixed_unit_attribute_is_honoured(tmp_path):
    """Files whose unit attribute is e.g. 'mV' (not NWB's 'volts') are read correctly."""
    v, i = _traces()
    nwb, electrode = _nwb_file()
    _add_sweep(nwb, electrode, 1, v, 1.0, i * 1e3, 1.0)
    path = _save(nwb, tmp_path / "f.nwb")
    with h5py.File(path, "r+") as fh:
        fh["acquisition/data_00001_AD0/data"].attrs["unit"] = "mV"
        fh["stimulus/presentation/data_00001_DA0/data"].attrs["unit"] = "pA"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pynwb may warn about the non-standard unit
        rec = load_nwb(path)
    np.testing.assert_allclose(rec.v_mV, v)
    np.testing.assert_allclose(rec.i_nA, i)


def test_unit_scale():
    assert unit_scale("volts", "V") == 1.0 and unit_scale("mV", "V") == 1e-3
    assert unit_scale("Millivolts", "V") == 1e-3 and unit_scale("pA", "A") == 1e-12
    assert unit_scale("amperes", "A") == 1.0 and unit_scale("nA", "A") == 1e-9
    with pytest.raises(ValueError, match="measures A, expected V"):
        unit_scale("amperes", "V")
    with pytest.raises(ValueError, match="Unknown unit 'furlongs'"):
        unit_scale("furlongs", "V")


def test_write_nwb_round_trip(tmp_path):
    v, i = _traces()
    meta = {"sweep_number": 7, "truth": {"HH_gNa": 0.1}, "source": "synthetic"}
    rec = Recording(v_mV=v, i_nA=i, dt_ms=DT, stim_on_ms=1.0, stim_off_ms=6.0, meta=meta)
    path = write_nwb(rec, tmp_path / "rec.nwb")
    back = load_nwb(path)
    assert back.allclose(rec, rtol=1e-12)
    assert back.meta["truth"] == {"HH_gNa": 0.1} and back.meta["source"] == "synthetic"
    assert back.meta["sweep_number"] == 7 and back.meta["path"] == str(path)
    with h5py.File(path, "r") as fh:  # stored as Allen does: SI unit plus conversion
        data = fh["acquisition/data_00007_AD0/data"]
        assert data.attrs["unit"] == "volts" and data.attrs["conversion"] == pytest.approx(1e-3)
        stim = fh["stimulus/presentation/data_00007_DA0/data"]
        assert stim.attrs["unit"] == "amperes" and stim.attrs["conversion"] == pytest.approx(1e-9)
    none = Recording(v_mV=v, i_nA=np.zeros(N), dt_ms=DT)  # no stimulus times stays None
    assert load_nwb(write_nwb(none, tmp_path / "none.nwb")).stim_on_ms is None


@pytest.fixture()
def two_sweeps(tmp_path):
    v, i = _traces()
    nwb, electrode = _nwb_file()
    _add_sweep(nwb, electrode, 3, v, 1e-3, i, 1e-9)
    _add_sweep(nwb, electrode, 7, v + 5.0, 1e-3, 2 * i, 1e-9)
    return _save(nwb, tmp_path / "two.nwb")


def test_sweep_selection(two_sweeps):
    sweeps = list_nwb_sweeps(two_sweeps)
    assert [(s.name, s.sweep_number, s.stimulus_name) for s in sweeps] == [
        ("data_00003_AD0", 3, "data_00003_DA0"),
        ("data_00007_AD0", 7, "data_00007_DA0"),
    ]
    assert sweeps[0].n_samples == N and sweeps[0].dt_ms == pytest.approx(DT)
    v, i = _traces()
    rec = load_nwb(two_sweeps, sweep=7)
    np.testing.assert_allclose(rec.v_mV, v + 5.0)
    np.testing.assert_allclose(rec.i_nA, 2 * i)
    by_name = load_nwb(two_sweeps, sweep="data_00003_AD0")
    np.testing.assert_allclose(by_name.v_mV, v)
    with pytest.raises(ValueError, match=r"holds 2 current-clamp sweeps; choose one"):
        load_nwb(two_sweeps)
    with pytest.raises(ValueError, match=r"sweep=99 matches 0 .*data_00003_AD0"):
        load_nwb(two_sweeps, sweep=99)
    with pytest.raises(TypeError, match="sweep must be"):
        load_nwb(two_sweeps, sweep=1.5)


def test_pairing_by_name_and_single_pair_without_sweep_numbers(tmp_path):
    v, i = _traces()
    nwb, electrode = _nwb_file()
    _add_sweep(nwb, electrode, None, v, 1e-3, i, 1e-9, names=("b_AD0", "b_DA0"))
    _add_sweep(nwb, electrode, None, v - 1, 1e-3, 3 * i, 1e-9, names=("a_AD0", "a_DA0"))
    path = _save(nwb, tmp_path / "names.nwb")
    assert [(s.name, s.stimulus_name, s.paired_by) for s in list_nwb_sweeps(path)] == [
        ("a_AD0", "a_DA0", "name"),
        ("b_AD0", "b_DA0", "name"),
    ]
    np.testing.assert_allclose(load_nwb(path, sweep=0).i_nA, 3 * i)  # position when unnumbered
    nwb, electrode = _nwb_file()
    _add_sweep(nwb, electrode, None, v, 1e-3, i, 1e-9, names=("response", "stimulus"))
    rec = load_nwb(_save(nwb, tmp_path / "o.nwb"))
    np.testing.assert_allclose(rec.i_nA, i)
    assert rec.meta["nwb_paired_by"] == "only pair"


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.nwb"):
        load_nwb(tmp_path / "absent.nwb")
    with pytest.raises(FileNotFoundError, match="absent.nwb"):
        list_nwb_sweeps(tmp_path / "absent.nwb")
    (tmp_path / "bad.nwb").write_text("nope")
    with pytest.raises(ValueError, match="not a readable NWB 2 file"):
        load_nwb(tmp_path / "bad.nwb")


def _ccs(name, data, conv, electrode, **kw):
    kw.setdefault("rate", 1000.0 / DT)
    return CurrentClampSeries(
        name=name, data=data, conversion=conv, electrode=electrode, gain=1.0, **kw
    )


def _stim(name, data, conv, electrode, **kw):
    kw.setdefault("rate", 1000.0 / DT)
    return CurrentClampStimulusSeries(
        name=name, data=data, conversion=conv, electrode=electrode, gain=1.0, **kw
    )


def test_icephys_table_pairs_series_whatever_their_names_and_order(tmp_path):
    """Regression: without sweep numbers the old loader paired series by sorted
    position, so response_A (0.1 nA) got stimulus_1 (0.3 nA). The
    IntracellularRecordingsTable says which stimulus belongs to which response."""
    v, i = _traces()
    nwb, electrode = _nwb_file()
    pairs = [("response_B", "stimulus_1", 3.0), ("response_A", "stimulus_2", 1.0)]
    for resp_name, stim_name, scale in pairs:
        resp = _ccs(resp_name, v + scale, 1e-3, electrode)
        stim = _stim(stim_name, 0.1 * scale * i / 0.15, 1e-9, electrode)
        nwb.add_acquisition(resp)
        nwb.add_stimulus(stim)
        nwb.add_intracellular_recording(electrode=electrode, stimulus=stim, response=resp)
    path = _save(nwb, tmp_path / "table.nwb")
    rec_a = load_nwb(path, sweep="response_A")
    assert rec_a.i_nA.max() == pytest.approx(0.1), "response_A paired with the 0.3 nA stimulus"
    assert rec_a.meta["nwb_stimulus"] == "stimulus_2"
    rec_b = load_nwb(path, sweep="response_B")
    assert rec_b.i_nA.max() == pytest.approx(0.3) and rec_b.meta["nwb_stimulus"] == "stimulus_1"


def test_unpairable_series_are_refused_not_paired_by_position(tmp_path):
    """No table, no sweep numbers, names that do not match: refuse, list the series."""
    v, i = _traces()
    nwb, electrode = _nwb_file()
    for resp_name, stim_name, scale in [("response_B", "stimulus_1", 3), ("response_A", "s_2", 1)]:
        nwb.add_acquisition(_ccs(resp_name, v, 1e-3, electrode))
        nwb.add_stimulus(_stim(stim_name, scale * i, 1e-9, electrode))
    path = _save(nwb, tmp_path / "ambiguous.nwb")
    expected = r"ambiguous.nwb.*response_A.*stimulus_1.*stimulus="
    with pytest.raises(ValueError, match=expected) as info:
        load_nwb(path, sweep="response_A")
    assert "IntracellularRecordingsTable" in str(info.value)
    assert [s.paired_by for s in list_nwb_sweeps(path)] == [""] * 2  # listing never raises
    rec = load_nwb(path, sweep="response_A", stimulus="s_2")  # the caller decides
    np.testing.assert_allclose(rec.i_nA, i)
    assert rec.meta["nwb_paired_by"] == "stimulus argument"
    with pytest.raises(ValueError, match=r"no CurrentClampStimulusSeries named 'nope'.*s_2"):
        load_nwb(path, sweep="response_A", stimulus="nope")
    with pytest.raises(TypeError, match="stimulus must be"):
        load_nwb(path, sweep="response_A", stimulus=3)


def test_sweep_numbers_pair_series_whatever_their_names_and_order(tmp_path):
    v, i = _traces()
    nwb, electrode = _nwb_file()
    other = nwb.create_icephys_electrode(name="e1", description="e", device=electrode.device)
    numbered = {"sweep_number": np.uint32(5)}
    nwb.add_acquisition(_ccs("resp_a", v, 1e-3, electrode, **numbered))
    nwb.add_acquisition(_ccs("resp_b", v, 1e-3, other, **numbered))  # same sweep, 2nd channel
    nwb.add_acquisition(_ccs("resp_c", v, 1e-3, electrode, sweep_number=np.uint32(6)))
    nwb.add_stimulus(_stim("stim_x", 2 * i, 1e-9, other, **numbered))
    nwb.add_stimulus(_stim("stim_y", 3 * i, 1e-9, electrode, sweep_number=np.uint32(6)))
    nwb.add_stimulus(_stim("stim_z", i, 1e-9, electrode, **numbered))
    path = _save(nwb, tmp_path / "numbers.nwb")
    assert [(s.name, s.stimulus_name, s.paired_by) for s in list_nwb_sweeps(path)] == [
        ("resp_a", "stim_z", "sweep_number"),
        ("resp_b", "stim_x", "sweep_number"),
        ("resp_c", "stim_y", "sweep_number"),
    ]
    np.testing.assert_allclose(load_nwb(path, sweep=6).i_nA, 3 * i)
    with pytest.raises(ValueError, match=r"sweep=5 matches 2"):
        load_nwb(path, sweep=5)  # two channels: choose by name
    np.testing.assert_allclose(load_nwb(path, sweep="resp_b").i_nA, 2 * i)


def test_deprecated_sweep_table_gives_sweep_numbers(tmp_path):
    """Old files keep sweep numbers only in general/intracellular_ephys/sweep_table."""
    from pynwb.icephys import SweepTable

    v, i = _traces()
    nwb, electrode = _nwb_file()
    table = SweepTable.__new__(SweepTable, parent=nwb, in_construct_mode=True)
    table.__init__(name="sweep_table")  # pynwb >= 3 builds one only in construct mode
    table._in_construct_mode = False
    nwb.sweep_table = table
    for name, number in [("rx", 1), ("ry", 2)]:
        series = _ccs(name, v + number, 1e-3, electrode, sweep_number=np.uint32(number))
        nwb.add_acquisition(series)
        table.add_entry(series)
    for name, number in [("sx", 2), ("sy", 1)]:
        series = _stim(name, number * i, 1e-9, electrode, sweep_number=np.uint32(number))
        nwb.add_stimulus(series)
        table.add_entry(series)
    path = _save(nwb, tmp_path / "sweep_table.nwb")
    with h5py.File(path, "r+") as fh:  # drop the per-series numbers: only the table has them
        for group in ("acquisition/rx", "acquisition/ry"):
            del fh[group].attrs["sweep_number"]
        for group in ("stimulus/presentation/sx", "stimulus/presentation/sy"):
            del fh[group].attrs["sweep_number"]
    assert [(s.name, s.sweep_number, s.stimulus_name) for s in list_nwb_sweeps(path)] == [
        ("rx", 1, "sy"),
        ("ry", 2, "sx"),
    ]
    rec = load_nwb(path, sweep=2)
    np.testing.assert_allclose(rec.i_nA, 2 * i)
    assert rec.meta["sweep_number"] == 2


def _dandi_like_file(path):
    """Three sweeps as DANDI files store them: no sweep numbers, the pairs only in the
    icephys table, voltage in mV (conversion 1e-3) or V, current in pA (conversion
    1e-12), NaN padding at the end, one sweep with timestamps instead of a rate."""
    v, i = _traces()
    nwb, electrode = _nwb_file()
    pad = np.full(37, np.nan)
    sweeps = {
        "CurrentClampSeries02": (np.r_[v, pad].astype(np.float32), 1e-3, {}),
        "CurrentClampSeries00": (np.r_[v - 5, pad] * 1e-3, 1.0, {}),
        "CurrentClampSeries01": (
            np.r_[v + 5, pad],
            1e-3,
            {"rate": None, "timestamps": 12.5 + np.arange(N + 37) * DT * 1e-3},
        ),
    }
    for k, (name, (data, conv, timing)) in enumerate(sweeps.items()):
        resp = _ccs(name, data, conv, electrode, **timing)
        stim_pad = pad if k != 2 else np.zeros(37)  # the stimulus need not be padded
        amps = np.r_[(k + 1) * i * 1e3, stim_pad]  # pA
        stim = _stim(f"CurrentClampStimulusSeries{2 - k:02d}", amps, 1e-12, electrode, **timing)
        nwb.add_acquisition(resp)
        nwb.add_stimulus(stim)
        nwb.add_intracellular_recording(electrode=electrode, stimulus=stim, response=resp)
    return _save(nwb, path), v, i


def test_dandi_like_file(tmp_path):
    path, v, i = _dandi_like_file(tmp_path / "dandi.nwb")
    listing = list_nwb_sweeps(path)
    assert [(s.name, s.sweep_number, s.paired_by) for s in listing] == [
        (f"CurrentClampSeries{k:02d}", None, "intracellular_recordings") for k in range(3)
    ]
    assert all(s.n_samples == N + 37 and s.dt_ms == pytest.approx(DT) for s in listing)
    expected = {0: (v - 5, 2), 1: (v + 5, 3), 2: (v, 1)}  # position -> (mV, step in 0.15 nA)
    for position, (v_mV, factor) in expected.items():
        rec = load_nwb(path, sweep=position)  # no sweep numbers: position in the listing
        assert len(rec) == N and rec.meta["trimmed_trailing_nan"] == 37
        np.testing.assert_allclose(rec.v_mV, v_mV, rtol=1e-6)
        np.testing.assert_allclose(rec.i_nA, factor * i, rtol=1e-12, atol=1e-12)
        assert rec.dt_ms == pytest.approx(DT, rel=1e-9)
        assert rec.stim_on_ms == pytest.approx(1.0) and rec.stim_off_ms == pytest.approx(6.0)
    by_name = load_nwb(path, sweep="CurrentClampSeries01")
    assert by_name.meta["starting_time_s"] == pytest.approx(12.5)  # from the timestamps
    assert by_name.meta["nwb_stimulus"] == "CurrentClampStimulusSeries00"  # names differ
    with pytest.raises(ValueError, match=r"dandi.nwb holds 3 current-clamp sweeps"):
        load_nwb(path)


def test_nan_inside_a_sweep_is_an_error_naming_file_and_sample(tmp_path):
    v, i = _traces()
    v = v.copy()
    v[10] = np.nan
    nwb, electrode = _nwb_file()
    _add_sweep(nwb, electrode, 1, v, 1e-3, i, 1e-9)
    path = _save(nwb, tmp_path / "hole.nwb")
    with pytest.raises(ValueError, match=r"hole.nwb.*NaN.*index 10"):
        load_nwb(path)


def test_table_sample_ranges_and_rows_without_stimulus(tmp_path):
    from pynwb.icephys import IZeroClampSeries

    v, i = _traces()
    nwb, electrode = _nwb_file()
    resp, stim = _ccs("r", v, 1e-3, electrode), _stim("s", i, 1e-9, electrode)
    no_stim = _ccs("r_nostim", v, 1e-3, electrode)
    izero = IZeroClampSeries(name="r_izero", data=v, rate=1000 / DT, electrode=electrode)
    for series in (resp, no_stim, izero):
        nwb.add_acquisition(series)
    nwb.add_stimulus(stim)
    nwb.add_intracellular_recording(
        electrode=electrode,
        stimulus=stim,
        stimulus_start_index=40,
        stimulus_index_count=100,
        response=resp,
        response_start_index=40,
        response_index_count=100,
    )
    nwb.add_intracellular_recording(electrode=electrode, response=no_stim)
    nwb.add_intracellular_recording(electrode=electrode, response=izero)
    path = _save(nwb, tmp_path / "ranges.nwb")
    rec = load_nwb(path, sweep="r")
    np.testing.assert_allclose(rec.v_mV, v[40:140])
    np.testing.assert_allclose(rec.i_nA, i[40:140])
    assert rec.meta["starting_time_s"] == pytest.approx(40 * DT / 1000)
    assert rec.stim_on_ms == pytest.approx(1.0 - 40 * DT)  # step onset in the window's time
    izero_rec = load_nwb(path, sweep="r_izero")
    assert not izero_rec.i_nA.any() and izero_rec.meta["nwb_paired_by"] == "I=0 clamp"
    with pytest.raises(ValueError, match=r"ranges.nwb.*row 1 .*'r_nostim' no stimulus"):
        load_nwb(path, sweep="r_nostim")
    listing = {s.name: (s.n_samples, s.paired_by) for s in list_nwb_sweeps(path)}
    assert listing == {
        "r": (100, "intracellular_recordings"),
        "r_izero": (N, "I=0 clamp"),
        "r_nostim": (N, ""),
    }


def test_stimulus_starting_later_is_aligned_to_the_response(tmp_path):
    v, i = _traces()
    nwb, electrode = _nwb_file()
    resp = _ccs("r", v, 1e-3, electrode, starting_time=1.0)
    stim = _stim("s", i[3:], 1e-9, electrode, starting_time=1.0 + 3 * DT / 1000)
    nwb.add_acquisition(resp)
    nwb.add_stimulus(stim)
    nwb.add_intracellular_recording(electrode=electrode, stimulus=stim, response=resp)
    path = _save(nwb, tmp_path / "lag.nwb")
    with pytest.warns(UserWarning, match="starts 0.06 ms after"):
        rec = load_nwb(path)
    np.testing.assert_allclose(rec.v_mV, v[3:])
    np.testing.assert_allclose(rec.i_nA, i[3:])
    assert rec.meta["stimulus_lag_ms"] == pytest.approx(3 * DT)
    assert rec.meta["starting_time_s"] == pytest.approx(1.0 + 3 * DT / 1000)


def _recording(sweep=None, scale=1.0):
    v, i = _traces()
    meta = {"source": "synthetic"} if sweep is None else {"sweep_number": sweep}
    return Recording(
        v_mV=v * scale, i_nA=i * scale, dt_ms=DT, stim_on_ms=1.0, stim_off_ms=6.0, meta=meta
    )


def test_write_nwb_several_sweeps_is_a_proper_icephys_file(tmp_path):
    recs = [_recording(7), _recording(None, 2.0), _recording(0, 3.0)]
    path = write_nwb(recs, tmp_path / "many.nwb")
    listing = list_nwb_sweeps(path)
    assert [(s.name, s.sweep_number, s.stimulus_name, s.paired_by) for s in listing] == [
        ("data_00000_AD0", 0, "data_00000_DA0", "intracellular_recordings"),
        ("data_00001_AD0", 1, "data_00001_DA0", "intracellular_recordings"),  # numbered
        ("data_00007_AD0", 7, "data_00007_DA0", "intracellular_recordings"),
    ]
    for number, rec in zip([7, 1, 0], recs):
        assert load_nwb(path, sweep=number).allclose(rec, rtol=1e-12)
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        assert len(nwb.intracellular_recordings) == 3
        assert list(nwb.devices) == ["amplifier"]
        assert list(nwb.icephys_electrodes) == ["electrode_0"]
    with pytest.raises(ValueError, match=r"sweep_number \[4\]"):
        write_nwb([_recording(4), _recording(4)], tmp_path / "dup.nwb")
    assert not (tmp_path / "dup.nwb").exists()
    with pytest.raises(TypeError, match=r"items \[1\] are not Recording"):
        write_nwb([_recording(), "x"], tmp_path / "bad.nwb")
    with pytest.raises(ValueError, match="at least one recording"):
        write_nwb([], tmp_path / "empty.nwb")


ALLEN = datasets.allen_sweeps()


@pytest.mark.skipif(not ALLEN, reason="needs the shared Allen sweeps (../shared/data/allen)")
@pytest.mark.parametrize("npz", ALLEN, ids=[p.stem for p in ALLEN])
def test_allen_npz_nwb_round_trip(tmp_path, npz):
    """load_nwb(write_nwb(x)) == x (1e-6 mV / nA) for each shared Allen sweep."""
    rec = datasets.load_npz(npz)
    back = load_nwb(write_nwb(rec, tmp_path / "allen.nwb"))
    assert len(back) == len(rec) and back.dt_ms == rec.dt_ms
    assert np.abs(back.v_mV - rec.v_mV).max() <= 1e-6
    assert np.abs(back.i_nA - rec.i_nA).max() <= 1e-6
    assert (back.stim_on_ms, back.stim_off_ms) == (rec.stim_on_ms, rec.stim_off_ms)
    loader_keys = {"path", "starting_time_s"} | {k for k in back.meta if k.startswith("nwb_")}
    assert {k: v for k, v in back.meta.items() if k not in loader_keys} == {
        k: v for k, v in rec.meta.items() if k != "path"
    }


@pytest.mark.skipif(not ALLEN, reason="needs the shared Allen sweeps (../shared/data/allen)")
def test_to_nwb_cli_converts_all_allen_sweeps_into_one_file(tmp_path, capsys):
    out = tmp_path / "allen.nwb"
    assert to_nwb.main([*map(str, ALLEN), str(out)]) == 0
    assert "5 sweep(s)" in capsys.readouterr().out or len(ALLEN) != 5
    for npz in ALLEN:
        rec = datasets.load_npz(npz)
        back = datasets.load_recording(out, sweep=rec.meta["sweep_number"])
        assert back.allclose(rec, atol=1e-6) and back.meta["specimen_id"] == rec.meta["specimen_id"]
    with pytest.raises(SystemExit):
        to_nwb.main([str(ALLEN[0]), str(out)])  # exists, no --force
    with pytest.raises(SystemExit):
        to_nwb.main([str(ALLEN[0]), str(tmp_path / "out.npz")])  # not .nwb
    assert to_nwb.main([str(tmp_path / "absent.npz"), str(out), "--force"]) == 1
    assert "absent.npz" in capsys.readouterr().err
