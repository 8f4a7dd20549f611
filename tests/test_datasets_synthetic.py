"""Synthetic ground-truth generators: shapes, truth, hidden gates, seeds, and that the
data are exactly what ``jx.integrate`` produces for the same cell."""

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import datasets as ds  # noqa: E402
import sim as jx  # noqa: E402
from sim.channels import HH  # noqa: E402

GATES_HH = ("HH_m", "HH_h", "HH_n")


def _assert_gates(rec, names):
    for name in names:
        gate = rec.hidden[name]
        assert gate.shape == rec.v_mV.shape and gate.dtype == np.float64
        assert np.all((gate >= 0.0) & (gate <= 1.0)), name


@pytest.fixture(scope="module")
def example():
    return ds.embedded_example()


def test_embedded_example(example):
    rec = example
    n = int(50.0 // 0.025) + 2  # samples of jx.step_current / outputs of jx.integrate
    assert rec.v_mV.shape == rec.i_nA.shape == (n,) and rec.v_mV.dtype == np.float64
    assert rec.dt_ms == 0.025 and (rec.stim_on_ms, rec.stim_off_ms) == (5.0, 45.0)
    assert rec.truth == ds.EMBEDDED_TRUTH == {"HH_gNa": 0.1, "HH_gK": 0.04, "HH_gLeak": 4e-4}
    assert rec.meta["name"] == "embedded_example" and rec.meta["x64"] is True
    _assert_gates(rec, GATES_HH)
    on = (rec.t_ms >= 5.0 - 1e-9) & (rec.t_ms < 45.0 - 1e-9)
    np.testing.assert_array_equal(rec.i_nA, np.where(on, 0.02, 0.0))
    noise = rec.v_mV - rec.hidden["v_clean_mV"]
    assert 0.9 < noise.std() < 1.1 and abs(noise.mean()) < 0.1
    assert rec.hidden["v_clean_mV"].max() > 0.0  # it spikes
    assert rec.hidden["v_clean_mV"][0] == pytest.approx(-70.0)


def test_hh_compartment_equals_integrate_of_the_same_cell():
    params = {"HH_gNa": 0.11, "HH_gK": 0.03}
    timing = {"t_max": 20.0, "dt": 0.025, "i_amp": 0.03, "i_delay": 2.0, "i_dur": 10.0}
    rec = ds.hh_compartment(params, noise_std=0.0, **timing)

    cell = jx.Cell()  # built by hand, independently of datasets.synthetic
    cell.insert(HH())
    for key, value in params.items():
        cell.set(key, value)
    cell.init_states()
    cell.stimulate(jx.step_current(2.0, 10.0, 0.03, 0.025, 20.0), verbose=False)
    for state in ("v", *GATES_HH):
        cell.record(state, verbose=False)
    expected = np.asarray(jx.integrate(cell, t_max=20.0, delta_t=0.025))

    np.testing.assert_allclose(rec.v_mV, expected[0], rtol=0, atol=1e-12)
    for row, name in zip(expected[1:], GATES_HH):
        np.testing.assert_allclose(rec.hidden[name], row, rtol=0, atol=1e-12)
    assert rec.truth == {"HH_gNa": 0.11, "HH_gK": 0.03, "HH_gLeak": 3e-4}
    assert rec.i_nA[-1] == 0.0 and rec.v_mV.max() > 0.0


def test_seed_makes_data_reproducible(example):
    again = ds.embedded_example()
    np.testing.assert_array_equal(again.v_mV, example.v_mV)
    other = ds.hh_compartment(ds.EMBEDDED_TRUTH, seed=1)
    np.testing.assert_array_equal(other.hidden["v_clean_mV"], example.hidden["v_clean_mV"])
    assert not np.allclose(other.v_mV, example.v_mV)


def test_custom_current_overrides_the_step():
    current = np.zeros(121)
    current[20:60] = 0.05
    rec = ds.hh_compartment(current=current, noise_std=0.5, seed=3)
    assert len(rec) == 121 and rec.dt_ms == 0.025
    np.testing.assert_array_equal(rec.i_nA, current)
    assert rec.stim_on_ms == pytest.approx(0.5) and rec.stim_off_ms == pytest.approx(1.5)
    ones = np.full(41, 0.01)
    tail = ds.hh_compartment(current=ones, noise_std=0.0)
    assert tail.i_nA[-1] == 0.0 and np.all(tail.i_nA[:-1] == 0.01)  # last sample unused
    with pytest.raises(ValueError, match="current must be a finite 1-D array"):
        ds.hh_compartment(current=np.zeros((2, 5)))
    with pytest.raises(ValueError, match="noise_std must be a finite number >= 0"):
        ds.hh_compartment(current=ones, noise_std=-1.0)


def test_pospischil_compartment():
    rec = ds.pospischil_compartment(
        {"K_gK": 6e-3}, t_max=40.0, i_delay=5.0, i_dur=30.0, i_amp=0.5, seed=2
    )
    assert len(rec) == int(40.0 // 0.025) + 2
    assert rec.truth == {"Na_gNa": 0.05, "K_gK": 6e-3, "Km_gKm": 7e-5, "Leak_gLeak": 1e-4}
    assert rec.meta["radius_um"] == 35.0 and rec.meta["channels"] == ["Na", "K", "Km", "Leak"]
    _assert_gates(rec, ("Na_m", "Na_h", "K_n", "Km_p"))
    assert rec.hidden["v_clean_mV"].max() > 0.0  # soma-sized compartment still spikes


def test_pospischil_channel_subset_and_errors():
    rec = ds.pospischil_compartment(channels=("Na", "K", "Leak"), t_max=5.0, noise_std=0.0)
    assert set(rec.truth) == {"Na_gNa", "K_gK", "Leak_gLeak"}
    assert "Km_p" not in rec.hidden
    assert rec.stim_on_ms is None and not rec.i_nA.any()  # the 10 ms step is after 5 ms
    with pytest.raises(ValueError, match="channels must be a non-empty subset"):
        ds.pospischil_compartment(channels=("Na", "Kv3"))


def test_small_multicompartment_cell():
    rec = ds.small_multicompartment_cell(record_at=[(2, 1)], t_max=30.0, i_dur=20.0)
    assert len(rec) == int(30.0 // 0.025) + 2
    assert rec.meta["nbranches"] == 3 and rec.meta["ncomp"] == 2
    assert rec.truth == ds.HH_DEFAULTS
    _assert_gates(rec, GATES_HH)
    far = rec.hidden["v_b2_c1"]
    assert far.shape == rec.v_mV.shape and not np.allclose(far, rec.hidden["v_clean_mV"])
    assert rec.hidden["v_clean_mV"].max() > 0.0
    with pytest.raises(ValueError, match="nbranches must be a positive integer"):
        ds.small_multicompartment_cell(nbranches=0)
