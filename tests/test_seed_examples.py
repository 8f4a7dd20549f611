"""Every example of the seed documents 002, 003 (except ``diffuse``) and 004, run as written.

The only changes to the examples are ``jaxley`` -> ``sim`` and minimal fixes of
slips in the docs, each marked ``# slip:``. Assertions follow each example.
"""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import sim as jx  # noqa: E402
from sim.channels import K, Leak, Na  # noqa: E402
from sim.integrate import build_init_and_step_fn  # noqa: E402
from sim.utils.dynamics import build_dynamic_state_utils  # noqa: E402


# ----------------------------------------------------------------------------- seed 002
def test_seed002_step_by_step_equals_integrate():
    t_max = 3.0
    delta_t = 0.025

    cell = jx.Cell()
    cell.record()
    cell.stimulate(jx.step_current(0, 1, 2, delta_t, t_max))
    params = cell.get_parameters()

    cell.to_jax()
    rec_inds = cell.recordings.rec_index.to_numpy()
    rec_states = cell.recordings.state.to_numpy()
    externals = cell.externals.copy()
    external_inds = cell.external_inds.copy()

    # Initialize.
    init_fn, step_fn = build_init_and_step_fn(cell)
    states, params = init_fn(params)
    all_states = states  # slip: the example reads the undefined `all_states`.
    recordings = [
        jnp.asarray(
            [all_states[rec_state][rec_ind] for rec_state, rec_ind in zip(rec_states, rec_inds)]
        )
    ]

    steps = int(t_max / delta_t)  # Steps to integrate
    for step in range(steps):
        externals_now = {}
        for key in externals.keys():
            externals_now[key] = externals[key][:, step]

        states = step_fn(states, params, externals_now, external_inds, delta_t=delta_t)
        recs = jnp.asarray(
            [states[rec_state][rec_ind] for rec_state, rec_ind in zip(rec_states, rec_inds)]
        )
        recordings.append(recs)

    rec = jnp.stack(recordings, axis=0).T

    assert rec.shape == (1, steps + 1)
    assert rec.dtype == jnp.float64
    v = jx.integrate(cell, delta_t=delta_t, t_max=t_max)
    np.testing.assert_allclose(np.asarray(rec), np.asarray(v[:, : steps + 1]), rtol=0, atol=1e-10)
    v_dhs = jx.integrate(cell, delta_t=delta_t, t_max=t_max, voltage_solver="jaxley.dhs")
    np.testing.assert_allclose(
        np.asarray(rec), np.asarray(v_dhs[:, : steps + 1]), rtol=0, atol=1e-10
    )
    assert float(jnp.max(rec)) > float(rec[0, 0]) + 1.0  # the 1 nA step depolarises


# ----------------------------------------------------------------------------- seed 004
def _assert_states_equal(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for key in a:
        x, y = np.asarray(a[key]), np.asarray(b[key])
        assert x.shape == y.shape, key
        np.testing.assert_array_equal(np.isnan(x), np.isnan(y), err_msg=key)
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=key)


def test_seed004_example1_roundtrip():
    cell = jx.Cell()
    params = cell.get_parameters()
    init_fn, step_fn = build_init_and_step_fn(cell)
    remove_observables, add_observables, flatten, unflatten = build_dynamic_state_utils(cell)
    all_states, all_params = init_fn(params)
    dynamic_states = flatten(remove_observables(all_states))
    recovered_all_states = add_observables(unflatten(dynamic_states), all_params, delta_t=0.025)

    assert dynamic_states.shape == (1,)
    _assert_states_equal(recovered_all_states, all_states)


def test_seed004_example1_roundtrip_with_nan_padding():
    """The same round trip on a cell with branch points and partially inserted channels."""
    comp = jx.Compartment()
    branch = jx.Branch(comp, 2)
    cell = jx.Cell(branch, parents=[-1, 0, 0])
    cell.insert(Leak())
    cell.branch(1).insert(Na())
    cell.branch(2).comp(1).insert(K())
    params = cell.get_parameters()
    init_fn, _ = build_init_and_step_fn(cell)
    remove_observables, add_observables, flatten, unflatten = build_dynamic_state_utils(cell)
    all_states, all_params = init_fn(params)
    assert np.isnan(np.asarray(all_states["Na_m"])).sum() == 4
    assert all_states["v"].shape == (7,)  # 6 compartments + 1 branch point
    dynamic = remove_observables(all_states)
    assert dynamic["v"].shape == (6,)
    assert dynamic["Na_m"].shape == (2,) and dynamic["K_n"].shape == (1,)
    assert not any(k.startswith("i_") for k in dynamic)
    dynamic_states = flatten(dynamic)
    assert dynamic_states.shape == (6 + 2 + 2 + 1,)
    recovered_all_states = add_observables(unflatten(dynamic_states), all_params, delta_t=0.025)
    _assert_states_equal(recovered_all_states, all_states)


def test_seed004_example2_jacobian():
    from jax import jacfwd

    comp = jx.Compartment()
    branch = jx.Branch(comp, 2)
    cell = jx.Cell(branch, parents=[-1, 0, 0])
    cell.insert(Leak())
    params = cell.get_parameters()
    externals = cell.externals.copy()
    external_inds = cell.external_inds.copy()
    init_fn, step_fn = build_init_and_step_fn(cell)
    remove_observables, add_observables, flatten, unflatten = build_dynamic_state_utils(cell)
    all_states, all_params = init_fn(params)
    dynamic_states = flatten(remove_observables(all_states))

    def step_dynamics(dynamic_states, all_params, externals, external_inds, delta_t):
        all_states = add_observables(unflatten(dynamic_states), all_params, delta_t)
        all_states = step_fn(all_states, all_params, externals, external_inds, delta_t=delta_t)
        dynamic_states = flatten(remove_observables(all_states))
        return dynamic_states

    jacobian = jacfwd(step_dynamics)(
        dynamic_states, all_params, externals, external_inds, delta_t=0.025
    )

    assert jacobian.shape == (6, 6)
    jac = np.asarray(jacobian)
    assert np.all(np.isfinite(jac))
    # Backward Euler of a passive cable: a positive, diagonally dominant propagator whose
    # rows sum to < 1 (leak) and which couples every pair of compartments.
    assert np.all(jac > 0)
    assert np.all(jac.sum(axis=1) < 1.0)
    assert np.all(np.diag(jac) > 0.5)


def test_seed004_example3_loss_and_gradient():
    cell = jx.Cell()
    cell.insert(Leak())

    t_max = 3.0
    delta_t = 0.025

    cell.record()
    cell.stimulate(jx.step_current(0, 1, 2, delta_t, t_max))

    rec_inds = cell.recordings.rec_index.to_numpy()
    rec_states = cell.recordings.state.to_numpy()
    externals = cell.externals.copy()
    external_inds = cell.external_inds.copy()

    cell.make_trainable("radius")
    params = cell.get_parameters()
    init_fn, step_fn = build_init_and_step_fn(cell)
    remove_observables, add_observables, flatten, unflatten = build_dynamic_state_utils(cell)

    def init_dynamics(params, param_state):
        all_states, all_params = init_fn(params, None, param_state)
        recordings = [
            jnp.asarray(
                [all_states[rec_state][rec_ind] for rec_state, rec_ind in zip(rec_states, rec_inds)]
            )
        ]
        dynamic_states = flatten(remove_observables(all_states))
        return dynamic_states, all_params, recordings

    def step_dynamics(dynamic_states, all_params, externals, external_inds):
        all_states = add_observables(unflatten(dynamic_states), all_params, 0.025)
        all_states = step_fn(all_states, all_params, externals, external_inds, delta_t=delta_t)
        recs = jnp.asarray(
            [all_states[rec_state][rec_ind] for rec_state, rec_ind in zip(rec_states, rec_inds)]
        )
        dynamic_states = flatten(remove_observables(all_states))
        return dynamic_states, recs

    def loss_fn(params, param_state_value):
        param_state = cell.data_set("Leak_gLeak", param_state_value, None)
        cell.to_jax()
        dynamic_states, all_params, recordings = init_dynamics(params, param_state)
        steps = int(t_max / delta_t)
        for step in range(steps):
            externals_now = {}
            for key in externals.keys():
                externals_now[key] = externals[key][:, step]
            dynamic_states, recs = step_dynamics(
                dynamic_states, all_params, externals_now, external_inds
            )
            recordings.append(recs)
        return jnp.mean(jnp.stack(recordings, axis=0).T)

    loss = loss_fn(params, 1e-4)

    assert np.isfinite(float(loss))
    # The loop must agree with jx.integrate using the same data_set value.
    pstate = cell.data_set("Leak_gLeak", 1e-4, None)
    v = jx.integrate(cell, params=params, param_state=pstate, delta_t=delta_t, t_max=t_max)
    steps = int(t_max / delta_t)
    np.testing.assert_allclose(float(loss), float(jnp.mean(v[:, : steps + 1])), rtol=1e-12)

    # Gradient w.r.t. the data_set value (and the trainable radius) vs. central differences.
    grad_params, grad = jax.grad(loss_fn, argnums=(0, 1))(params, 1e-4)
    loss_jit = jax.jit(loss_fn)
    h = 1e-7
    fd = (loss_jit(params, 1e-4 + h) - loss_jit(params, 1e-4 - h)) / (2 * h)
    assert np.isfinite(float(grad)) and float(grad) < 0  # more leak -> lower mean voltage
    np.testing.assert_allclose(float(grad), float(fd), rtol=1e-5)
    assert grad_params[0]["radius"].shape == (1,)
    hr = 1e-6
    fd_r = (
        loss_jit([{"radius": params[0]["radius"] + hr}], 1e-4)
        - loss_jit([{"radius": params[0]["radius"] - hr}], 1e-4)
    ) / (2 * hr)
    np.testing.assert_allclose(float(grad_params[0]["radius"][0]), float(fd_r), rtol=1e-5)


# ----------------------------------------------------------------------------- seed 003
def test_seed003_add_to_group():
    net = jx.Network([jx.Cell(), jx.Cell()])  # slip: the example leaves `net = ...` open.
    net.cell(0).add_to_group("excitatory")
    net.excitatory.set("radius", 0.1)

    np.testing.assert_array_equal(net.nodes["radius"].to_numpy(), [0.1, 1.0])
    np.testing.assert_array_equal(net.nodes["excitatory"].to_numpy(), [True, False])


def test_seed003_branches():
    comp = jx.Compartment()
    branch1 = jx.Branch([comp] * 2)
    branch2 = jx.Branch([comp] * 3)
    cell = jx.Cell([branch1, branch1, branch2], parents=[-1, 0, 0])
    nodes_per_branch = [len(branch.nodes) for branch in cell.branches]

    assert nodes_per_branch == [2, 2, 3]


def test_seed003_cells(capsys):
    cell = jx.Cell()
    net = jx.Network([cell] * 4)
    for cell in net.cells:
        print("Radius of cell: ", len(cell.nodes["radius"]))

    assert capsys.readouterr().out.count("Radius of cell:  1\n") == 4


def test_seed003_comps():
    comp = jx.Compartment()
    branch = jx.Branch([comp] * 2)
    branch.comp(0).insert(Na())
    branch.comp(0).insert(K())
    num_channels_per_comp = [len(comp.channels) for comp in branch.comps]
    assert num_channels_per_comp == [2, 0]

    comp = jx.Compartment()
    comp.insert(Na())
    cell = jx.Cell([comp], parents=[-1])
    cell.set_scope("global")
    num_channels_per_comp = [len(comp.channels) for comp in cell.comps]
    assert num_channels_per_comp == [1]

    cell1 = jx.Cell()
    cell1.insert(Na())
    cell2 = jx.Cell()
    cell2.insert(K())
    cell2.insert(Na())
    net = jx.Network([cell1, cell1, cell2])
    net.set_scope("global")
    num_channels_per_comp = [len(comp.channels) for comp in net.comps]
    assert num_channels_per_comp == [1, 1, 2]


def test_seed003_customize_solver_exp_euler():
    delta_t = 0.025
    cell = jx.Cell()
    cell.customize_solver_exp_euler(
        exp_euler_transition=cell.build_exp_euler_transition_matrix(delta_t)
    )
    cell.record()  # slip: integrate needs a recording (as in Jaxley).
    v = jx.integrate(cell, delta_t=delta_t, t_max=100.0)

    assert v.shape == (1, 4001)
    assert cell.solver_customizers["exp_euler_transition"].shape == (1, 1, 1)
    v_custom = jx.integrate(cell, delta_t=delta_t, t_max=5.0, solver="exp_euler")
    cell.customize_solver_exp_euler(exp_euler_transition=None)
    v_auto = jx.integrate(cell, delta_t=delta_t, t_max=5.0, solver="exp_euler")
    np.testing.assert_allclose(np.asarray(v_custom), np.asarray(v_auto), atol=1e-12)


def test_seed003_delete():
    cell = jx.Cell()
    cell.insert(Na())
    cell.insert(K())
    cell.delete(Na())
    assert [ch.name for ch in cell.channels] == ["K"]
    assert "Na_gNa" not in cell.nodes.columns and "Na" not in cell.nodes.columns

    cell = jx.Cell()
    cell.insert(Na())
    cell.insert(K())
    # Loop over all channels and delete each one. Note: The `list(...)` is
    # important here because `.delete()` modifies the `.channels`.
    for channel in list(cell.channels):  # slip: the example loops over undefined `net`.
        cell.delete(channel)
    assert cell.channels == []
    assert not {"Na", "K", "Na_gNa", "K_gK", "Na_m", "K_n"} & set(cell.nodes.columns)


def test_seed003_get_parameters():
    cell = jx.Cell()
    cell.make_trainable("radius")
    params = cell.get_parameters()  # slip: the example calls the undefined `module`.
    cell.record()  # slip: integrate needs a recording (as in Jaxley).
    v = jx.integrate(cell, params=params, t_max=10.0)

    assert len(params) == 1 and params[0]["radius"].shape == (1,)
    assert v.shape == (1, 401)


def test_seed003_make_trainable():
    comp = jx.Compartment()
    comp.make_trainable("radius")
    parameters = comp.get_parameters()  # -> [{'radius': Array([1.], dtype=float32)}]

    assert len(parameters) == 1 and list(parameters[0]) == ["radius"]
    np.testing.assert_array_equal(np.asarray(parameters[0]["radius"]), [1.0])


def test_seed003_move_and_move_to():
    comp = jx.Compartment()
    branch = jx.Branch([comp])
    cell = jx.Cell([branch] * 3, parents=[-1, 0, 0])
    cell.compute_xyz()
    before = [np.array(x) for x in cell.xyzr]
    cell.move(20.0, 30.0, 5.0)
    for old, new in zip(before, cell.xyzr):
        np.testing.assert_allclose(new[:, :3] - old[:, :3], np.tile([20.0, 30.0, 5.0], (2, 1)))
        np.testing.assert_array_equal(new[:, 3], old[:, 3])

    comp = jx.Compartment()
    branch = jx.Branch([comp])
    cell = jx.Cell([branch] * 3, parents=[-1, 0, 0])
    cell.move_to(20.0, 30.0, 5.0)
    np.testing.assert_allclose(cell.xyzr[0][0, :3], [20.0, 30.0, 5.0])
    # Rigid motion: the child branches still start where the root branch ends.
    np.testing.assert_allclose(cell.xyzr[1][0, :3], cell.xyzr[0][-1, :3])


def test_seed003_recording_and_write_recordings():
    comp = jx.Compartment()
    branch = jx.Branch(comp, ncomp=2)
    cell = jx.Cell(branch, parents=[-1, 0])
    cell.record("v")
    v = jx.integrate(cell, t_max=10.0)
    cell.write_recordings(v)
    rec = cell.branch(0).comp(0).recording("v")

    assert v.shape == (4, 401)
    assert rec.shape == (1, 401)
    np.testing.assert_array_equal(rec, np.asarray(v[:1]))
    np.testing.assert_array_equal(cell.branch(1).comp(1).recording("v"), np.asarray(v[3:4]))


def test_seed003_scope():
    comp = jx.Compartment()
    branch = jx.Branch(comp, ncomp=3)
    cell = jx.Cell(branch, parents=[-1, 0, 0])
    cell.scope("global").branch(2).scope("local").comp(0).insert(K())
    cell.scope("global").comp(6).insert(Na())

    expected = np.zeros(9, dtype=bool)
    expected[6] = True
    np.testing.assert_array_equal(cell.nodes["K"].to_numpy(), expected)
    np.testing.assert_array_equal(cell.nodes["Na"].to_numpy(), expected)


def test_seed003_set():
    comp = jx.Compartment()
    comp.insert(Na())
    comp.set("Na_gNa", 0.008)
    assert comp.nodes["Na_gNa"].tolist() == [0.008]
    # The second example (`net.select(edges="all").set("IonotropicSynapse_gS", ...)`) needs
    # synapses and is tested with them.


def test_seed003_set_ncomp():
    comp = jx.Compartment()
    branch = jx.Branch([comp] * 4)
    cell = jx.Cell([branch] * 3, parents=[-1, 0, 0])
    cell.branch(0).set_ncomp(1)
    cell.branch(1).set_ncomp(2)
    cell.branch(2).set_ncomp(3)
    with pytest.raises(IndexError, match="branch index"):
        cell.branch(3).set_ncomp(4)  # slip: the cell has only branches 0, 1, 2.

    assert cell.nodes.groupby("global_branch_index").size().tolist() == [1, 2, 3]
    assert cell.shape == (3, 6)
    lengths = cell.nodes.groupby("global_branch_index")["length"].sum().to_numpy()
    np.testing.assert_allclose(lengths, [40.0, 40.0, 40.0])


def test_seed003_set_scope():
    comp = jx.Compartment()
    branch = jx.Branch(comp, ncomp=3)
    cell = jx.Cell(branch, parents=[-1, 0, 0])
    cell.set_scope("local")  # this is also the default
    cell.branch(2).comp(0).insert(Na())
    cell.set_scope("global")
    cell.comp(6).insert(K())

    expected = np.zeros(9, dtype=bool)
    expected[6] = True
    np.testing.assert_array_equal(cell.nodes["Na"].to_numpy(), expected)
    np.testing.assert_array_equal(cell.nodes["K"].to_numpy(), expected)


def test_seed003_write_trainables(capsys):
    net = jx.Network([jx.Cell(jx.Branch(ncomp=2)), jx.Cell()])  # slip: `net` is not built.
    net.cell(0).make_trainable("radius", 2.0)
    net.make_trainable("length")

    def train_network(net, parameters):  # slip: stands in for the user's training loop.
        return [{k: v * 1.5 for k, v in p.items()} for p in parameters]

    parameters = net.get_parameters()
    # Assume you have some training function that gives you new parameters
    new_parameters = train_network(net, parameters)
    net.write_trainables(new_parameters)
    print(net.nodes)  # outputs nodes of the model with the new parameters

    np.testing.assert_allclose(net.nodes["radius"].to_numpy(), [3.0, 3.0, 1.0])
    np.testing.assert_allclose(net.nodes["length"].to_numpy(), [15.0, 15.0, 15.0])
    assert "3 rows" in capsys.readouterr().out
