"""The compiled model and the staged step (engine v2): layout, retracing, clamps, loops."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import sim as jx  # noqa: E402
from sim.channels import HH  # noqa: E402
from sim.core.engine import engine_for  # noqa: E402
from sim.core.index import Index  # noqa: E402
from sim.core.simulate import checkpointed_scan, default_checkpoint_lengths  # noqa: E402
from sim.synapses import IonotropicSynapse  # noqa: E402


def _cell(ncomp=3, parents=(-1, 0, 0, 1)):
    cell = jx.Cell(jx.Branch(jx.Compartment(), ncomp=ncomp), parents=list(parents))
    cell.insert(HH())
    cell.init_states()
    cell.branch(0).comp(0).stimulate(jx.step_current(1.0, 3.0, 0.3, 0.025, 8.0), verbose=False)
    cell.branch(0).comp(0).record("v", verbose=False)
    cell.branch(3).comp(2).record("v", verbose=False)
    return cell


# ----------------------------------------------------------------------------- layout
def test_internal_order_puts_compartments_first_and_is_a_permutation():
    cell = _cell()
    model = cell.compiled()
    assert sorted(model.order.tolist()) == list(range(model.nnodes))
    assert np.all(model.order[: model.ncomp] < model.ncomp)
    assert np.all(model.position[model.order] == np.arange(model.nnodes))
    # Renumbering keeps the forest: the internal parent of node k is the image of
    # the user parent of order[k].
    par = model.graph.parent[model.order]
    expected = np.where(par >= 0, model.position[np.maximum(par, 0)], -1)
    np.testing.assert_array_equal(model.internal.parent, expected)


def test_mechanism_everywhere_needs_no_gather_and_state_slots_are_packed():
    cell = jx.Cell(jx.Branch(jx.Compartment(), ncomp=2), parents=[-1, 0, 0])
    cell.insert(HH())
    cell.branch(1).insert(jx.channels.Leak())
    model = cell.compiled()
    hh, leak = model.mechanisms
    assert hh.index.is_full
    assert not leak.index.is_full and len(leak.index) == 2
    slot = model.state_slots[model.slot_of("HH_m")]
    assert len(slot.index) == model.ncomp
    assert model.presence("v").tolist() == list(range(6))


@pytest.mark.parametrize("positions", [[0, 1, 2, 3], [2, 3, 4], [4, 0, 3]])
def test_index_matches_numpy(positions):
    idx = Index.of(positions, 5)
    x = jnp.arange(5.0) * 10
    np.testing.assert_array_equal(idx.gather(x), np.asarray(x)[positions])
    total = np.zeros(5)
    np.add.at(total, positions, np.ones(len(positions)))
    np.testing.assert_array_equal(idx.add_into(jnp.zeros(5), jnp.ones(len(positions))), total)
    full = np.full(5, -1.0)
    full[positions] = np.arange(len(positions))
    np.testing.assert_array_equal(idx.expand(jnp.arange(len(positions)) * 1.0, -1.0), full)
    outer = Index.full(5)
    assert idx.within(outer).positions.tolist() == list(positions)


def test_index_within_rejects_missing_positions():
    with pytest.raises(ValueError, match="missing"):
        Index.of([1, 4], 5).within(Index.of([0, 1], 5))


# ----------------------------------------------------------------------------- retracing
def test_integrate_is_not_retraced_for_new_parameter_values():
    cell = _cell()
    cell.branch("all").make_trainable("HH_gNa", verbose=False)
    params = cell.get_parameters()
    engine = engine_for(cell.compiled(), "bwd_euler", "jaxley.dhs")
    outs = []
    for scale in (1.0, 1.1, 0.9):
        p = [{"HH_gNa": params[0]["HH_gNa"] * scale}]
        ps = cell.data_set("HH_gK", 0.036 * scale, None)
        outs.append(jx.integrate(cell, params=p, param_state=ps))
    (run,) = engine._runs.values()
    assert run._cache_size() == 1
    assert not np.allclose(outs[0], outs[1])

    outer = jax.jit(lambda p: jx.integrate(cell, params=p))
    for scale in (1.0, 1.2, 0.8):
        outer([{"HH_gNa": params[0]["HH_gNa"] * scale}])
    assert outer._cache_size() == 1


def test_step_fn_is_not_retraced():
    cell = _cell()
    init_fn, step_fn = jx.build_init_and_step_fn(cell)
    states, params = init_fn(cell.get_parameters())
    ext = {"i": jnp.asarray([0.1])}
    inds = {"i": cell.external_inds["i"]}
    for _ in range(3):
        states = step_fn(states, params, ext, inds, delta_t=0.025)
    engine = engine_for(cell.compiled(), "bwd_euler", "jaxley.dhs")
    assert engine._user_step._cache_size() == 1


# ----------------------------------------------------------------------------- clamps
def test_voltage_clamp_holds_the_clamped_compartment_exactly():
    branch = jx.Branch(jx.Compartment(), ncomp=3)
    branch.insert(HH())
    branch.init_states()
    branch.comp(1).clamp("v", np.full(41, 10.0), verbose=False)
    branch.record("v", verbose=False)
    v = np.asarray(jx.integrate(branch, t_max=1.0))
    np.testing.assert_array_equal(v[1, 1:], 10.0)
    # Neighbours are pulled towards the clamp, symmetric around it.
    assert np.all(v[0, 1:] > -70.0)
    np.testing.assert_allclose(v[0], v[2], atol=1e-12)


@pytest.mark.parametrize("solver", ["bwd_euler", "crank_nicolson", "fwd_euler", "exp_euler"])
def test_every_scheme_applies_voltage_clamps(solver):
    branch = jx.Branch(jx.Compartment(), ncomp=3)
    branch.insert(HH())
    branch.comp(0).clamp("v", np.full(41, -20.0), verbose=False)
    branch.record("v", verbose=False)
    v = np.asarray(jx.integrate(branch, t_max=1.0, solver=solver, delta_t=0.025))
    np.testing.assert_allclose(v[0, 1:], -20.0, atol=1e-10)


# ----------------------------------------------------------------------------- loops
@pytest.mark.parametrize("lengths", [None, (5, 7), (3, 4, 5), (50,), (2, 3)])
def test_checkpointed_scan_runs_exactly_length_steps(lengths):
    def f(c, x):
        return c * 0.9 + x, c

    xs = jnp.arange(37.0)
    ref_c, ref_y = jax.lax.scan(f, 1.0, xs)
    if lengths is not None and np.prod(lengths) < 37:
        lengths = (37,)
    c, y = checkpointed_scan(f, 1.0, xs, length=37, lengths=lengths)
    np.testing.assert_allclose(c, ref_c, rtol=1e-14)
    np.testing.assert_allclose(y, ref_y, rtol=1e-14)
    g_ref = jax.grad(lambda x: jax.lax.scan(f, 1.0, x)[0])(xs)
    g = jax.grad(lambda x: checkpointed_scan(f, 1.0, x, length=37, lengths=lengths)[0])(xs)
    np.testing.assert_allclose(g, g_ref, rtol=1e-12)


def test_checkpointing_changes_nothing_but_memory():
    cell = _cell()
    plain, final = jx.integrate(cell, return_states=True, checkpoint_lengths=[321])
    nested, final_n = jx.integrate(cell, return_states=True, checkpoint_lengths=[17, 19])
    np.testing.assert_allclose(plain, nested, atol=1e-12)
    for key in final:
        np.testing.assert_allclose(final[key], final_n[key], atol=1e-12, equal_nan=True)


def test_default_loop_structure():
    small = jx.Compartment()
    small.insert(HH())
    small.record("v", verbose=False)
    assert default_checkpoint_lengths(small.compiled(), 2001) == (101, 20)
    assert default_checkpoint_lengths(small.compiled(), 30) is None
    big = jx.Cell(jx.Branch(jx.Compartment(), ncomp=50), parents=[-1] + [0] * 99)
    big.insert(HH())
    big.record("v", verbose=False)
    assert default_checkpoint_lengths(big.compiled(), 1000) is None
    lengths = default_checkpoint_lengths(big.compiled(), 200_000)
    assert lengths is not None and np.prod(lengths) >= 200_000


# ----------------------------------------------------------------------------- currents
def test_recorded_currents_equal_the_currents_of_the_recorded_states():
    """Currents are recorded from the same evaluation that drives the step."""
    cell = _cell()
    cell.branch(1).comp(1).record("i_HH", verbose=False)
    cell.branch(1).comp(1).record("HH_m", verbose=False)
    cell.branch(1).comp(1).record("HH_h", verbose=False)
    cell.branch(1).comp(1).record("HH_n", verbose=False)
    cell.branch(1).comp(1).record("v", verbose=False)
    recs = np.asarray(jx.integrate(cell))
    i, m, h, n, v = recs[2:]
    p = HH().channel_params
    expected = (
        p["HH_gNa"] * m**3 * h * (v - p["HH_eNa"])
        + p["HH_gK"] * n**4 * (v - p["HH_eK"])
        + p["HH_gLeak"] * (v - p["HH_eLeak"])
    )
    np.testing.assert_allclose(i, expected, rtol=1e-12, atol=1e-15)


def test_compute_current_returning_a_python_zero_is_fine():
    class Zero(jx.channels.Channel):
        def __init__(self, name=None):
            super().__init__(name)
            self.channel_params, self.channel_states = {}, {}
            self.current_name = "i_zero"

        def compute_current(self, states, v, params):
            return 0

    comp = jx.Compartment()
    comp.insert(Zero())
    comp.record("v", verbose=False)
    v = jx.integrate(comp, t_max=1.0)
    np.testing.assert_allclose(v, -70.0)
    g = jax.grad(
        lambda r: jnp.sum(
            jx.integrate(comp, t_max=1.0, param_state=comp.data_set("radius", r, None))
        )
    )(1.0)
    assert np.isfinite(g)


# ----------------------------------------------------------------------------- synapses
def _net():
    cell = jx.Cell(jx.Branch(jx.Compartment(), ncomp=2), parents=[-1, 0])
    net = jx.Network([cell, cell])
    net.insert(HH())
    net.init_states()
    jx.connect(net.cell(0).branch(0).comp(0), net.cell(1).branch(1).comp(1), IonotropicSynapse())
    net.cell(0).branch(0).comp(0).stimulate(
        jx.step_current(1.0, 3.0, 0.5, 0.025, 10.0), verbose=False
    )
    net.cell(1).branch(1).comp(1).record("v", verbose=False)
    net.record("IonotropicSynapse_s", verbose=False)
    net.record("i_IonotropicSynapse", verbose=False)
    return net


def test_synapse_edges_table_and_names():
    net = _net()
    edges = net.edges
    assert len(edges) == 1
    assert edges["pre_index"].tolist() == [0] and edges["post_index"].tolist() == [7]
    assert net.synapse_names == ["IonotropicSynapse"]
    assert "IonotropicSynapse_gS" in net.synapse_param_names
    assert net.synapse_current_names == ["i_IonotropicSynapse"]


def test_synaptic_current_matches_its_formula_and_drives_the_post_cell():
    net = _net()
    net.set("IonotropicSynapse_gS", 0.02)
    v, s, i = np.asarray(jx.integrate(net))
    np.testing.assert_allclose(i, 0.02 * s * (v - 0.0), rtol=1e-12)
    silent = np.asarray(
        jx.integrate(net, param_state=net.data_set("IonotropicSynapse_gS", 0.0, None))
    )
    assert np.max(np.abs(v - silent[0])) > 1.0  # the synapse depolarises the post cell
    np.testing.assert_allclose(silent[2], 0.0)


def test_synaptic_gradient_matches_finite_differences():
    net = _net()

    def loss(g):
        ps = net.data_set("IonotropicSynapse_gS", g, None)
        return jnp.mean(jx.integrate(net, param_state=ps)[0])

    g0, h = 0.01, 1e-6
    grad = jax.grad(loss)(g0)
    fd = (loss(g0 + h) - loss(g0 - h)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-5)


def test_connect_rejects_views_of_different_modules():
    net = _net()
    other = jx.Network([jx.Cell(), jx.Cell()])
    with pytest.raises(ValueError, match="same jx.Network"):
        jx.connect(net.cell(0), other.cell(0), IonotropicSynapse())
