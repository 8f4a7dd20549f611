"""Networks, synapses, diffusion and clamps: bad input is refused clearly; clamp semantics."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sim as jx
from sim.channels import HH
from sim.pumps import CaNernstReversal
from sim.synapses import IonotropicSynapse

jax.config.update("jax_enable_x64", True)


def _cell():
    return jx.Cell([jx.Branch(jx.Compartment(), 2)] * 2, parents=[-1, 0])


@pytest.fixture
def nets():
    cell = _cell()
    return jx.Network([cell] * 3), jx.Network([cell] * 2), cell


def _site(module, cell=0):
    return module.cell(cell).branch(0).comp(0)


@pytest.mark.parametrize(
    "make_pre_post",
    [
        lambda net, other, cell: (_site(net), _site(other, 1)),
        lambda net, other, cell: (_site(net), cell.branch(0).comp(0)),
    ],
    ids=["other-network", "standalone-cell"],
)
def test_connecting_outside_the_network_is_refused(nets, make_pre_post):
    net, other, cell = nets
    pre, post = make_pre_post(net, other, cell)
    with pytest.raises(ValueError, match="same jx.Network"):
        jx.connect(pre, post, IonotropicSynapse())
    with pytest.raises(ValueError, match="same jx.Network"):
        jx.fully_connect(pre, post, IonotropicSynapse())
    assert len(net.edges) == 0


def test_connect_needs_a_synapse_object(nets):
    net, _, _ = nets
    with pytest.raises(TypeError, match="'?str'? is not a synapse|str is not a synapse"):
        jx.connect(_site(net), _site(net, 1), "IonotropicSynapse")


@pytest.mark.parametrize(
    "action",
    [
        lambda net: net.set("IonotropicSynapse_gSS", 0.1),
        lambda net: net.select(edges=0).set("IonotropicSynapse_gSS", 0.1),
        lambda net: net.make_trainable("IonotropicSynapse_gSS"),
        lambda net: net.data_set("IonotropicSynapse_gSS", 0.1, None),
    ],
    ids=["set", "edge-set", "make_trainable", "data_set"],
)
def test_unknown_synapse_parameter_names_the_key_and_the_valid_ones(nets, action):
    net, _, _ = nets
    jx.connect(_site(net), _site(net, 1), IonotropicSynapse())
    with pytest.raises(ValueError, match="IonotropicSynapse_gSS") as err:
        action(net)
    assert "IonotropicSynapse_gS'" in str(err.value)  # the valid key is offered


def test_edge_index_out_of_range(nets):
    net, _, _ = nets
    jx.connect(_site(net), _site(net, 1), IonotropicSynapse())
    with pytest.raises(IndexError, match=r"\[5\]"):
        net.select(edges=5)


@pytest.fixture
def calcium_cell():
    cell = _cell()
    cell.insert(CaNernstReversal())
    return cell


@pytest.mark.parametrize("state", ["CaCon_ii", "CaNernstReversal_eCa", "v"])
def test_diffuse_of_a_state_no_mechanism_has(calcium_cell, state):
    with pytest.raises(ValueError, match=f"Cannot diffuse '{state}'"):
        calcium_cell.diffuse(state)


def test_negative_diffusion_constants_are_refused(calcium_cell):
    calcium_cell.diffuse("CaCon_i")
    with pytest.raises(ValueError, match="axial_diffusion_CaCon_i.*-1.0"):
        calcium_cell.set("axial_diffusion_CaCon_i", -1.0)
    with pytest.raises(ValueError, match="axial_diffusion_CaCon_i.*-1.0"):
        calcium_cell.data_set("axial_diffusion_CaCon_i", -1.0, None)
    with pytest.raises(ValueError, match="'foo' is not diffused"):
        calcium_cell.delete_diffusion("foo")


def _hh_cell():
    cell = _cell()
    cell.insert(HH())
    cell.branch(0).comp(0).record("v", verbose=False)
    cell.branch(1).comp(1).record("i_HH", verbose=False)
    cell.branch(1).comp(1).record("HH_m", verbose=False)
    return cell


def test_clamping_a_membrane_current_only_changes_what_is_reported():
    """Jaxley's semantics: the clamped current is reported, the dynamics are unaffected."""
    free = np.asarray(jx.integrate(_hh_cell(), t_max=2.0, delta_t=0.025))
    cell = _hh_cell()
    cell.branch(1).comp(1).clamp("i_HH", 0.1 * np.ones(81), verbose=False)
    clamped = np.asarray(jx.integrate(cell, t_max=2.0, delta_t=0.025))
    np.testing.assert_array_equal(clamped[[0, 2]], free[[0, 2]])
    assert clamped[1, 0] == free[1, 0]  # the initial row is computed, then the clamp
    np.testing.assert_array_equal(clamped[1, 1:], 0.1)


def test_clamping_a_synaptic_current_is_refused(nets):
    net, _, _ = nets
    jx.connect(_site(net), _site(net, 1), IonotropicSynapse())
    with pytest.raises(ValueError, match="i_IonotropicSynapse|synaptic"):
        _site(net, 1).clamp("i_IonotropicSynapse", np.zeros(5), verbose=False)


def test_data_clamps_hold_several_states_and_are_not_mutated():
    cell = _hh_cell()
    dc = cell.branch(1).comp(1).data_clamp("HH_m", 0.3 * jnp.ones(41), None)
    first = (list(dc[0]), [np.asarray(x) for x in dc[1]], [np.asarray(x) for x in dc[2]])
    dc2 = cell.branch(0).comp(0).data_clamp("v", -20.0 * jnp.ones(41), dc)
    assert dc2[0] == ["HH_m", "v"] and dc[0] == first[0]  # a new list, the old one intact
    v = np.asarray(jx.integrate(cell, data_clamps=dc2, t_max=1.0, delta_t=0.025))
    np.testing.assert_array_equal(v[0, 1:], -20.0)
    np.testing.assert_array_equal(v[2, 1:], 0.3)
    with pytest.raises(ValueError, match="HH_m"):
        dc_bad = cell.branch(1).comp(1).data_clamp("HH_m", 0.3 * jnp.ones(7), None)
        jx.integrate(cell, data_clamps=dc_bad, t_max=1.0, delta_t=0.025)
