"""Presynaptic terms shared per source compartment (``sim.core.sites``).

``IonotropicSynapse``'s ``s_inf`` and decay depend on the presynaptic voltage and on
``v_th``, ``delta``, ``k_minus`` only, so edges leaving one compartment share them.
The shared route must give the per-edge route's numbers (same arithmetic; only
XLA's fusion, hence FMA contraction, may differ: measured 0 to 1e-13 mV), must be
used only where the parameter values allow it, and must keep gradients exact.
"""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import sim as jx  # noqa: E402
from sim.channels import HH  # noqa: E402
from sim.core.sites import _constant_within, shares_update  # noqa: E402
from sim.synapses import IonotropicSynapse  # noqa: E402

DT, T_MAX = 0.025, 20.0
IONO = "IonotropicSynapse"
# (pre cell, post cell): cell 0 fans out to 3 edges, cell 1 to 2, cell 3 to 1.
EDGES = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (3, 0)]


def _net(synapse_cls=IonotropicSynapse):
    cell = jx.Cell(jx.Branch(jx.Compartment(), ncomp=2), parents=[-1])
    net = jx.Network([cell for _ in range(4)])
    net.insert(HH())
    for pre, post in EDGES:
        jx.connect(net.cell(pre).branch(0).comp(0), net.cell(post).branch(0).comp(1), synapse_cls())
    net.set(f"{IONO}_gS", 0.02)
    net.init_states()
    net.cell(0).branch(0).comp(0).stimulate(jx.step_current(1.0, 15.0, 0.4, DT, T_MAX), False)
    net.cell(1).branch(0).comp(0).stimulate(jx.step_current(4.0, 5.0, 0.3, DT, T_MAX), False)
    for k in range(4):
        net.cell(k).branch(0).comp(1).record("v", verbose=False)
    net.record(f"{IONO}_s", verbose=False)
    return net


def _sites(net):
    return net.base.compiled().edge_mechanisms[0].sites


def _shared_in_run(net, override_keys=()):
    """Whether integrate's step would share the terms (engine's static decision)."""
    engine = net._engine()
    tables, _ = engine.tables([])
    return engine.step_params(tables, DT, override_keys=override_keys).edge_sites[0] is not None


def _per_edge(net):
    """Simulate with sharing switched off: a data_set of v_th (same value) forbids it."""
    ps = net.select(edges="all").data_set(f"{IONO}_v_th", -35.0, None)
    return np.asarray(jx.integrate(net, param_state=ps, delta_t=DT))


def test_sites_group_edges_by_presynaptic_compartment():
    net = _net()
    sites = _sites(net)
    assert sites is not None and len(sites) == 3  # cells 0, 1, 3
    pre_cell = np.asarray([pre for pre, _ in EDGES])
    # edges with the same site number have the same presynaptic cell, and vice versa
    assert np.array_equal(
        pre_cell[:, None] == pre_cell[None, :],
        sites.edge_site[:, None] == sites.edge_site[None, :],
    )
    assert _shared_in_run(net)
    assert not _shared_in_run(net, override_keys=(f"{IONO}_k_minus",))
    assert _shared_in_run(net, override_keys=(f"{IONO}_gS",))  # gS is not presynaptic


def test_shared_terms_give_the_per_edge_numbers():
    net = _net()
    v = np.asarray(jx.integrate(net, delta_t=DT))
    ref = _per_edge(net)
    spikes = [int(np.sum((r[:-1] < 0) & (r[1:] >= 0))) for r in ref[:4]]
    assert min(spikes) >= 1, spikes  # the synapses drive cells 2 and 3
    assert np.max(np.abs(v - ref)) < 1e-9


def test_per_edge_values_in_the_edges_table_disable_sharing():
    net = _net()
    net.select(edges=[1]).set(f"{IONO}_delta", 8.0)  # edge 1 leaves cell 0, like edges 0, 2
    assert _sites(net) is None
    v = np.asarray(jx.integrate(net, delta_t=DT))
    net2 = _net()
    net2.select(edges=[1]).set(f"{IONO}_delta", 8.0)
    assert np.max(np.abs(v - _per_edge(net2))) == 0.0
    # other edges of the same site keep their own delta: the result differs from delta=10
    assert np.max(np.abs(v - np.asarray(jx.integrate(_net(), delta_t=DT)))) > 1e-6


def test_trainables_keep_sharing_only_when_uniform_per_site():
    net = _net()
    net.make_trainable(f"{IONO}_k_minus", verbose=False)  # one value for every edge
    assert _shared_in_run(net)
    net = _net()
    net.select(edges=[0, 3]).make_trainable(f"{IONO}_k_minus", verbose=False)  # one per edge
    assert not _shared_in_run(net)
    net = _net()
    net.select(edges=[3, 4]).make_trainable(f"{IONO}_v_th", verbose=False)  # all of cell 1's edges
    params = net.get_parameters()
    assert np.size(params[0][f"{IONO}_v_th"]) == 2
    # two values on one site's two edges: only equal values would keep the site uniform
    assert not _shared_in_run(net)


def test_gradient_through_shared_terms_matches_finite_differences():
    net = _net()
    net.make_trainable(f"{IONO}_k_minus", verbose=False)
    net.make_trainable(f"{IONO}_v_th", verbose=False)
    assert _shared_in_run(net)
    flat = jnp.asarray([0.025, -35.0])

    def loss(x):
        params = [{f"{IONO}_k_minus": x[:1]}, {f"{IONO}_v_th": x[1:]}]
        v = jx.integrate(net, params=params, delta_t=DT)
        return jnp.mean(v[2:4] ** 2)

    grad = np.asarray(jax.jit(jax.grad(loss))(flat))
    f = jax.jit(loss)
    for j in range(2):
        h = 1e-5 * abs(float(flat[j]))
        e = jnp.zeros(2).at[j].set(h)
        fd = (float(f(flat + e)) - float(f(flat - e))) / (2 * h)
        assert abs(grad[j] - fd) <= 1e-5 * abs(fd), (j, grad[j], fd)


class _SlowerRelease(IonotropicSynapse):
    """A user's variant that changes update_states only (its own dynamics)."""

    def update_states(self, states, delta_t, pre_voltage, post_voltage, params):
        new = super().update_states(states, delta_t, pre_voltage, post_voltage, params)
        return {k: 0.5 * (val + states[k]) for k, val in new.items()}


def test_overriding_update_states_keeps_the_users_dynamics():
    assert shares_update(IonotropicSynapse())
    assert not shares_update(_SlowerRelease())
    net = _net(lambda: _SlowerRelease(IONO))  # same keys as the base synapse
    assert _sites(net) is None
    v_custom = np.asarray(jx.integrate(net, delta_t=DT))
    v_base = np.asarray(jx.integrate(_net(), delta_t=DT))
    assert np.max(np.abs(v_custom - v_base)) > 1e-3


@pytest.mark.parametrize(
    "values, groups, expected",
    [
        ([1.0, 1.0, 2.0], [0, 0, 1], True),
        ([1.0, 2.0, 2.0], [0, 0, 1], False),
        ([np.nan, np.nan, 3.0], [1, 1, 0], True),
        ([np.nan, 1.0], [0, 0], False),
        ([], [], True),
    ],
)
def test_constant_within(values, groups, expected):
    assert _constant_within(np.asarray(values, float), np.asarray(groups)) is expected
