"""``set_ncomp``: re-discretising branches, its error cases, SWC geometry and d_lambda."""

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import sim as jx  # noqa: E402
from sim.channels import HH, K, Leak, Na  # noqa: E402
from sim.modules.discretization import apply_d_lambda  # noqa: E402
from sim.morphology.dlambda import d_lambda_ncomp  # noqa: E402
from sim.morphology.geometry import arc_lengths, compartment_geometry  # noqa: E402

DT, T_MAX = 0.025, 4.0


def _cell(ncomp=4, nbranches=3):
    comp = jx.Compartment()
    branch = jx.Branch(comp, ncomp=ncomp)
    return jx.Cell(branch, parents=[-1] + [0] * (nbranches - 1))


def _simulate(cell):
    cell.branch(0).comp(0).stimulate(jx.step_current(0.5, 2.0, 0.3, DT, T_MAX), verbose=False)
    cell.comp("all").record(verbose=False)
    params = cell.get_parameters()
    return np.asarray(jx.integrate(cell, params=params, t_max=T_MAX, delta_t=DT))


def _direct(ncomps, total_length=40.0):
    comp = jx.Compartment()
    branches = [jx.Branch(comp, ncomp=n) for n in ncomps]
    cell = jx.Cell(branches, parents=[-1] + [0] * (len(ncomps) - 1))
    for b, n in enumerate(ncomps):
        cell.branch(b).set("length", total_length / n)
    return cell


# ----------------------------------------------------------------------------- equivalence
def test_per_branch_set_ncomp_equals_direct_build():
    cell = _cell()
    cell.insert(HH())
    for b, n in enumerate([1, 2, 5]):
        cell.branch(b).set_ncomp(n)
    ref = _direct([1, 2, 5])
    ref.insert(HH())
    v, v_ref = _simulate(cell), _simulate(ref)
    assert v.shape[0] == 8
    np.testing.assert_allclose(v, v_ref, rtol=0, atol=1e-12)
    assert np.ptp(v) > 1.0


def test_whole_cell_set_ncomp_equals_direct_build():
    cell = _cell(ncomp=2)
    cell.insert(Leak())
    cell.set_ncomp(3)
    assert cell.shape == (3, 9)
    ref = _direct([3, 3, 3], total_length=20.0)
    ref.insert(Leak())
    np.testing.assert_allclose(_simulate(cell), _simulate(ref), rtol=0, atol=1e-12)


def test_initialize_false_then_initialize():
    cell, ref = _cell(), _cell()
    for b, n in enumerate([3, 1, 2]):
        cell.branch(b).set_ncomp(n, initialize=False)
        ref.branch(b).set_ncomp(n)
    before = cell.nodes.copy()
    cell.initialize()
    assert before.equals(cell.nodes)  # the table was already consistent
    assert cell.nodes.equals(ref.nodes)


def test_branch_module_and_indices():
    branch = jx.Branch(jx.Compartment(), ncomp=2)
    branch.set_ncomp(5)
    assert branch.shape == (5,)
    np.testing.assert_allclose(branch.nodes["length"], 4.0)

    cell = _cell()
    cell.branch(1).set_ncomp(6)
    nodes = cell.nodes
    np.testing.assert_array_equal(nodes["global_comp_index"], np.arange(14))
    np.testing.assert_array_equal(nodes.index, np.arange(14))
    np.testing.assert_array_equal(nodes["global_branch_index"], [0] * 4 + [1] * 6 + [2] * 4)
    np.testing.assert_array_equal(
        nodes["local_comp_index"], list(range(4)) + list(range(6)) + list(range(4))
    )
    assert cell.ncomp == 6 and cell.branch(0).ncomp == 4  # the largest, as in Jaxley
    assert cell.branch(1).comp(5).nodes["global_comp_index"].tolist() == [9]
    assert cell.branch(2).comp(0).nodes["global_comp_index"].tolist() == [10]


def test_keeps_channels_parameters_and_groups():
    cell = _cell()
    cell.insert(Leak())
    cell.branch(1).insert(Na())
    cell.branch(1).set("Na_gNa", 0.2)
    cell.branch(1).set("v", -60.0)
    cell.branch(1).set("capacitance", 2.0)
    cell.branch(1).add_to_group("dend")
    cell.branch(1).set_ncomp(3)
    br = cell.branch(1).nodes
    assert len(br) == 3
    assert br["Na"].all() and br["Leak"].all() and br["dend"].all()
    np.testing.assert_allclose(br["Na_gNa"], 0.2)
    np.testing.assert_allclose(br["v"], -60.0)
    np.testing.assert_allclose(br["capacitance"], 2.0)
    assert not cell.branch(0).nodes["Na"].any() and not cell.branch(2).nodes["dend"].any()
    assert len(cell.dend.nodes) == 3
    assert [ch.name for ch in cell.channels] == ["Leak", "Na"]


def test_can_stimulate_record_and_train_afterwards():
    cell = _cell()
    cell.insert(HH())
    cell.branch(2).set_ncomp(1)
    cell.branch("all").make_trainable("HH_gNa", verbose=False)
    assert len(cell.get_parameters()[0]["HH_gNa"]) == 3
    v = _simulate(cell)
    assert v.shape[0] == 9 and np.all(np.isfinite(v))


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "setup, match",
    [
        (lambda c: c.branch(0).comp(0).stimulate(np.zeros(5), verbose=False), "stimuli"),
        (lambda c: c.branch(0).comp(0).clamp("v", np.zeros(5), verbose=False), "clamps"),
        (lambda c: c.branch(2).comp(0).record(verbose=False), "recordings"),
        (lambda c: c.make_trainable("radius", verbose=False), "trainable"),
    ],
)
def test_error_inputs_outputs_trainables_anywhere(setup, match):
    cell = _cell()
    setup(cell)
    nodes = cell.nodes.copy()
    with pytest.raises(ValueError, match=match):
        cell.branch(1).set_ncomp(2)
    assert cell.nodes.equals(nodes)  # nothing changed


def test_error_channels_differ_within_branch():
    cell = _cell()
    cell.branch(0).comp(1).insert(K())
    with pytest.raises(ValueError, match=r"'K' is inserted in only some.*set_ncomp\(\) first"):
        cell.branch(0).set_ncomp(2)
    cell.branch(1).set_ncomp(2)  # other branches are fine


def test_error_channel_values_differ_within_branch():
    cell = _cell()
    cell.insert(Na())
    cell.branch(0).comp(2).set("Na_gNa", 0.3)
    with pytest.raises(ValueError, match="'Na_gNa' differs.*branch 0"):
        cell.branch(0).set_ncomp(2)


@pytest.mark.parametrize("key", ["length", "radius", "capacitance", "axial_resistivity"])
def test_error_morphology_differs_within_branch(key):
    cell = _cell()
    cell.branch(1).comp(0).set(key, 3.0)
    with pytest.raises(ValueError, match=f"different '{key}'.*set_ncomp\\(\\) first"):
        cell.branch(1).set_ncomp(3)


def test_error_groups_differ_within_branch():
    cell = _cell()
    cell.branch(2).comp([0, 1]).add_to_group("prox")
    with pytest.raises(ValueError, match="2 of the 4 compartments.*'prox'.*add_to_group"):
        cell.branch(2).set_ncomp(2)


def test_error_partial_branch_network_compartment_and_bad_ncomp():
    cell = _cell()
    with pytest.raises(ValueError, match=r"only part of branch 1.*cell.branch\(1\)"):
        cell.branch(1).comp(0).set_ncomp(2)
    with pytest.raises(NotImplementedError, match="networks"):
        jx.Network([_cell(), _cell()]).cell(0).branch(0).set_ncomp(2)
    with pytest.raises(NotImplementedError, match="Branch or a Cell"):
        jx.Compartment().set_ncomp(2)
    for bad in (0, -1):
        with pytest.raises(ValueError, match="positive integer"):
            cell.branch(0).set_ncomp(bad)
    for bad in (2.0, True, "3"):
        with pytest.raises(TypeError, match="positive integer"):
            cell.branch(0).set_ncomp(bad)


# ----------------------------------------------------------------------------- SWC geometry
def _swc_cell():
    pts0 = np.array([[0, 0, 0, 3.0], [10, 0, 0, 2.0], [25, 5, 0, 1.5], [40, 5, 3, 1.0]])
    pts1 = np.array([[40, 5, 3, 1.0], [60, 5, 3, 0.6], [80, 10, 3, 0.3]])
    comp = jx.Compartment()
    cell = jx.Cell([jx.Branch(comp, ncomp=1)] * 2, parents=[-1, 0], xyzr=[pts0, pts1])
    cell._from_swc = True
    return cell, (pts0, pts1)


def test_swc_geometry_from_traced_points():
    cell, pts = _swc_cell()
    cell.set("axial_resistivity", 100.0)
    cell.branch(0).set_ncomp(3)
    cell.branch(1).set_ncomp(4)
    params = cell.get_all_parameters([])
    ra = 100.0
    comp0 = 0
    for b, n in enumerate([3, 4]):
        geom = compartment_geometry(pts[b][:, :3], pts[b][:, 3], n)
        rows = slice(comp0, comp0 + n)
        nodes = cell.branch(b).nodes
        np.testing.assert_allclose(nodes["length"], geom["length"], rtol=1e-12)
        np.testing.assert_allclose(nodes["radius"], geom["radius"], rtol=1e-12)
        np.testing.assert_allclose(np.asarray(params["area"])[rows], geom["area"], rtol=1e-12)
        np.testing.assert_allclose(nodes[["x", "y", "z"]].to_numpy(), geom["xyz"], rtol=1e-12)
        # Conductance between consecutive compartments of the branch: the two halves.
        g = np.asarray(params["axial_conductances"])[0, comp0 + 1 : comp0 + n]
        res = geom["res_upper"][:-1] + geom["res_lower"][1:]
        np.testing.assert_allclose(1.0 / g, ra * 1e-2 * res, rtol=1e-12)
        comp0 += n
    assert not np.allclose(cell.nodes["area_factor"], 1.0)  # tapering is not a cylinder


def test_swc_min_radius_and_cylinder_fallback():
    cell, pts = _swc_cell()
    cell.branch(1).set_ncomp(2, min_radius=0.5)
    clipped = np.maximum(pts[1][:, 3], 0.5)
    geom = compartment_geometry(pts[1][:, :3], clipped, 2)
    np.testing.assert_allclose(cell.branch(1).nodes["radius"], geom["radius"], rtol=1e-12)
    # Radii may differ within an SWC branch; set_ncomp recomputes them from the points.
    cell.branch(1).set_ncomp(3)
    assert len(cell.branch(1).nodes) == 3

    plain, _ = _swc_cell()
    plain._from_swc = False  # the same points, but not an SWC morphology: cylinders
    plain.branch(0).set_ncomp(2)
    np.testing.assert_allclose(plain.branch(0).nodes["radius"], 1.0)
    np.testing.assert_allclose(plain.branch(0).nodes[["area_factor", "ri_lower_factor"]], 1.0)
    plain.branch(0).comp(0).set("radius", 2.0)
    with pytest.raises(ValueError, match="different 'radius'"):
        plain.branch(0).set_ncomp(3)


# ----------------------------------------------------------------------------- d_lambda
def test_apply_d_lambda_cylinders():
    comp = jx.Compartment()
    branches = [jx.Branch(comp, ncomp=1) for _ in range(3)]
    cell = jx.Cell(branches, parents=[-1, 0, 0])
    cell.set("axial_resistivity", 100.0)
    cell.branch(0).set("length", 200.0)
    cell.branch(1).set("length", 800.0)
    cell.branch(1).set("radius", 0.25)
    cell.branch(2).set("length", 5.0)
    ncomps = apply_d_lambda(cell, frequency=100.0, d_lambda=0.1)
    expected = [
        d_lambda_ncomp(200.0, 1.0, 100.0, 1.0),
        d_lambda_ncomp(800.0, 0.25, 100.0, 1.0),
        d_lambda_ncomp(5.0, 1.0, 100.0, 1.0),
    ]
    assert ncomps.tolist() == expected
    assert expected[1] > expected[0] > 1 and expected[2] == 1
    assert cell.nodes.groupby("global_branch_index").size().tolist() == expected
    lengths = cell.nodes.groupby("global_branch_index")["length"].sum().to_numpy()
    np.testing.assert_allclose(lengths, [200.0, 800.0, 5.0])


def test_apply_d_lambda_swc_method():
    cell, pts = _swc_cell()
    ncomps = cell.apply_d_lambda(frequency=1000.0, d_lambda=0.02)
    expected = []
    for p in pts:
        arc = arc_lengths(p[:, :3])
        expected.append(d_lambda_ncomp(arc[-1], p[:, 3], 5000.0, 1.0, 1000.0, 0.02, arc=arc))
    assert ncomps.tolist() == expected
    assert cell.nodes.groupby("global_branch_index").size().tolist() == expected
