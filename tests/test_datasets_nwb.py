"""NWB 2 current-clamp reading/writing: unit conversion, sweep selection, round trips."""

import warnings
from datetime import UTC, datetime

import numpy as np
import pytest

pynwb = pytest.importorskip("pynwb")
h5py = pytest.importorskip("h5py")

from pynwb.icephys import CurrentClampSeries, CurrentClampStimulusSeries  # noqa: E402

from datasets import Recording, list_nwb_sweeps, load_nwb, write_nwb  # noqa: E402
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


def test_pairing_by_name_and_by_order_without_sweep_numbers(tmp_path):
    v, i = _traces()
    nwb, electrode = _nwb_file()
    _add_sweep(nwb, electrode, None, v, 1e-3, i, 1e-9, names=("b_AD0", "b_DA0"))
    _add_sweep(nwb, electrode, None, v - 1, 1e-3, 3 * i, 1e-9, names=("a_AD0", "a_DA0"))
    path = _save(nwb, tmp_path / "names.nwb")
    assert [(s.name, s.stimulus_name) for s in list_nwb_sweeps(path)] == [
        ("a_AD0", "a_DA0"),
        ("b_AD0", "b_DA0"),
    ]
    np.testing.assert_allclose(load_nwb(path, sweep=0).i_nA, 3 * i)  # position when unnumbered
    nwb, electrode = _nwb_file()
    _add_sweep(nwb, electrode, None, v, 1e-3, i, 1e-9, names=("response", "stimulus"))
    np.testing.assert_allclose(load_nwb(_save(nwb, tmp_path / "o.nwb")).i_nA, i)


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.nwb"):
        load_nwb(tmp_path / "absent.nwb")
    with pytest.raises(FileNotFoundError, match="absent.nwb"):
        list_nwb_sweeps(tmp_path / "absent.nwb")
    (tmp_path / "bad.nwb").write_text("nope")
    with pytest.raises(ValueError, match="not a readable NWB 2 file"):
        load_nwb(tmp_path / "bad.nwb")
