"""Networks and clamps against Jaxley 0.14 on the same script (skipped without jaxley).

The same builder code runs on both libraries. With ``sim.config.step_order =
"jaxley"`` (Jaxley's order: states with the old voltage, then the voltage) the
two must agree to round-off; with our default NEURON order they differ by the
step-order error only (the first update of the synaptic states, which
``init_states`` does not put at steady state), which the issue bounds by 0.05 mV
over 100 ms.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sim

jax.config.update("jax_enable_x64", True)
jaxley = pytest.importorskip("jaxley")


@pytest.fixture
def jaxley_order():
    old = sim.config.step_order
    sim.config.step_order = "jaxley"
    yield
    sim.config.step_order = old


def _network(jx, ncell: int, seed: int = 0):
    """64 four-compartment HH cells, ~10% random IonotropicSynapse connections."""
    hh = __import__(f"{jx.__name__}.channels", fromlist=["HH"]).HH
    syn = __import__(f"{jx.__name__}.synapses", fromlist=["IonotropicSynapse"]).IonotropicSynapse
    sparse_connect = __import__(f"{jx.__name__}.connect", fromlist=["x"]).sparse_connect
    np.random.seed(seed)  # both libraries draw the connections from numpy's global RNG
    cell = jx.Cell(jx.Branch(jx.Compartment(), ncomp=4), parents=[-1])
    net = jx.Network([cell for _ in range(ncell)])
    net.insert(hh())
    sparse_connect(net.cell("all"), net.cell("all"), syn(), p=0.1)
    net.set("IonotropicSynapse_gS", 0.01)
    net.init_states()
    current = jx.step_current(5.0, 60.0, 0.3, 0.025, 100.0)
    for k in range(0, ncell, 4):
        net.cell(k).branch(0).comp(0).stimulate(current, verbose=False)
    net.cell("all").branch(0).comp(0).record("v", verbose=False)
    net.select(edges=[0, 3, 7, 20]).record("IonotropicSynapse_s", verbose=False)
    return net


@pytest.fixture(scope="module")
def networks():
    ref, ours = _network(jaxley, 64), _network(sim, 64)
    v_ref = np.asarray(jaxley.integrate(ref, t_max=100.0))
    return ref, ours, v_ref


def test_network_edges_match_jaxley(networks):
    ref, ours, _ = networks
    cols = ["pre_index", "post_index"]
    assert 300 < len(ours.edges) < 520  # ~10% of 64 * 64
    np.testing.assert_array_equal(ours.edges[cols].to_numpy(), ref.edges[cols].to_numpy())


def test_network_voltages_match_jaxley_to_round_off_in_its_step_order(networks, jaxley_order):
    _, ours, v_ref = networks
    v = np.asarray(sim.integrate(ours, t_max=100.0))
    assert v.shape == v_ref.shape
    assert (v_ref[:64].max(axis=1) > 0).sum() >= 16  # cells spike, synapses matter
    np.testing.assert_allclose(v, v_ref, atol=1e-8, rtol=0)


def test_network_voltages_close_to_jaxley_in_neuron_order(networks):
    """Our default (NEURON's order) differs from Jaxley's by the step-order error only.

    The issue's bound: 0.05 mV max |dV| over 100 ms. Measured 0.020 mV max and
    6e-5 mV mean for seed 0 (0.016-0.031 mV max over seeds 0-4)."""
    _, ours, v_ref = networks
    v = np.asarray(sim.integrate(ours, t_max=100.0))[:64]
    assert np.abs(v - v_ref[:64]).max() <= 0.05
    assert np.abs(v - v_ref[:64]).mean() <= 2e-4


def test_neuron_order_differs_from_jaxley_only_by_the_first_synaptic_update(networks):
    """Why the two orders differ on this network, pinned down.

    Jaxley's step is ``s' = S(s, v); v' = f(v, s')``, ours ``v' = f(v, s); s' = S(s,
    v')``. Both are one recurrence, shifted: Jaxley's run equals ours started from
    ``S(s0, v0)`` instead of ``s0``. ``init_states`` puts the HH gates at their fixed
    point (where ``S(s0, v0) = s0``) but not the synapses (``s0 = 0.2``, in both
    libraries), so the whole gap is that first synaptic update: starting ours from
    ``S(0.2, v0)`` gives Jaxley's voltages to round-off (measured 3e-11 mV)."""
    _, _, v_ref = networks
    ours = _network(sim, 64)
    v0 = float(ours.nodes["v"].iloc[0])
    assert np.all(ours.nodes["v"].to_numpy() == v0)  # every presynaptic site starts at v0
    syn = sim.synapses.IonotropicSynapse()
    params = {k: jnp.asarray(v) for k, v in syn.synapse_params.items()}
    first = syn.update_states({"IonotropicSynapse_s": jnp.asarray(0.2)}, 0.025, v0, v0, params)
    s1 = float(first["IonotropicSynapse_s"])
    assert s1 != 0.2
    ours.set("IonotropicSynapse_s", s1)
    v = np.asarray(sim.integrate(ours, t_max=100.0))[:64]
    np.testing.assert_allclose(v, v_ref[:64], atol=1e-8, rtol=0)


def _clamp_cell(jx):
    hh = __import__(f"{jx.__name__}.channels", fromlist=["HH"]).HH
    cell = jx.Cell([jx.Branch(jx.Compartment(), 2)] * 3, parents=[-1, 0, 0])
    cell.insert(hh())
    for b, c, key in [(0, 0, "v"), (1, 0, "HH_m"), (2, 1, "i_HH"), (0, 0, "HH_h")]:
        cell.branch(b).comp(c).record(key, verbose=False)
    return cell


def _data_clamped(jx, keys, delta_t=0.025, t_max=1.0):
    cell = _clamp_cell(jx)
    n = int(round(t_max / delta_t)) + 1
    values = {"v": -20.0, "HH_m": 0.3, "HH_h": 0.4}
    sites = {"v": (0, 0), "HH_m": (1, 0), "HH_h": (2, 1)}
    dc = None
    for key in keys:
        b, c = sites[key]
        dc = cell.branch(b).comp(c).data_clamp(key, values[key] * jnp.ones(n), dc)
    return np.asarray(jx.integrate(cell, data_clamps=dc, t_max=t_max, delta_t=delta_t))


# Rows of _clamp_cell's recordings that are states (row 2 is the current i_HH). A
# recorded current is, in sim, the current of the recorded state (new v, new gates);
# Jaxley reports the one it computed inside the step (new gates, old v): O(dt) apart.
STATE_ROWS = [0, 1, 3]


def test_data_clamps_of_several_states_match_jaxley(jaxley_order):
    ours, ref = _data_clamped(sim, ["HH_m", "HH_h"]), _data_clamped(jaxley, ["HH_m", "HH_h"])
    np.testing.assert_allclose(ours[STATE_ROWS], ref[STATE_ROWS], atol=1e-10, rtol=0)
    assert np.all(ours[1, 1:] == 0.3)


def test_voltage_data_clamp_differs_from_jaxley_only_by_its_one_step_lag(jaxley_order):
    """Deliberate difference: our voltage clamp is a Dirichlet condition inside the
    implicit solve (neighbours see the clamped value in the same step); Jaxley
    overwrites ``v`` after the solve, so neighbours lag one step. Measured gap 0.013
    mV at dt 0.025 and 0.009 mV at dt 0.0125 (the 50 mV jump at t=0 dominates)."""
    gaps = []
    for dt in (0.025, 0.0125):
        ours = _data_clamped(sim, ["v", "HH_m"], delta_t=dt)
        ref = _data_clamped(jaxley, ["v", "HH_m"], delta_t=dt)
        np.testing.assert_array_equal(ours[0, 1:], -20.0)
        np.testing.assert_array_equal(ref[0, 1:], -20.0)
        gaps.append(np.abs(ours - ref).max())
    assert 0 < gaps[1] < 0.8 * gaps[0] and gaps[0] < 0.05  # vanishes as dt -> 0


def test_clamp_of_a_membrane_current_matches_jaxley(jaxley_order):
    out = []
    for jx in (jaxley, sim):
        cell = _clamp_cell(jx)
        cell.branch(2).comp(1).clamp("i_HH", 0.1 * np.ones(41), verbose=False)
        out.append(np.asarray(jx.integrate(cell, t_max=1.0, delta_t=0.025)))
    np.testing.assert_allclose(out[1], out[0], atol=1e-10, rtol=0)
