"""Views (Jaxley semantics): selection, scopes, iteration, shapes, groups, trainables, copies."""

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import sim as jx  # noqa: E402
from sim.channels import HH, K, Leak, Na  # noqa: E402


def _cell(ncomp=3, nbranches=3):
    comp = jx.Compartment()
    branch = jx.Branch(comp, ncomp=ncomp)
    return jx.Cell(branch, parents=[-1] + [0] * (nbranches - 1))


def _glob(view):
    return view.nodes["global_comp_index"].tolist()


def _nparams(module):
    return [len(next(iter(p.values()))) for p in module.get_parameters()]


# ----------------------------------------------------------------------------- selection
def test_branch_comp_selection():
    cell = _cell()
    assert _glob(cell.branch(0).comp(1)) == [1]
    assert _glob(cell.branch(2).comp(0)) == [6]
    assert _glob(cell.branch([1, 2]).comp(2)) == [5, 8]
    assert _glob(cell.branch("all").comp(0)) == [0, 3, 6]
    assert _glob(cell.comp(1)) == [1, 4, 7]  # local scope: comp 1 of every branch
    assert _glob(cell.branch(slice(1, None)).comp(slice(0, 2))) == [3, 4, 6, 7]
    assert _glob(cell.branch(np.array([0])).comp(range(3))) == [0, 1, 2]
    assert _glob(cell[1, 2]) == [5] and _glob(cell[2]) == [6, 7, 8]
    # Local indices of a view are re-ranked within the view.
    assert _glob(cell.branch([1, 2]).branch(0)) == [3, 4, 5]
    with pytest.raises(IndexError, match="branch index \\[3\\]"):
        cell.branch(3)
    with pytest.raises(IndexError, match="comp index \\[3\\]"):
        cell.branch(0).comp(3)
    with pytest.raises(IndexError, match="Too many indices"):
        cell[0, 0, 0]


def test_view_nodes_and_write_through():
    cell = _cell()
    view = cell.branch(1)
    assert view.nodes.index.tolist() == [3, 4, 5]
    view.comp(2).set("radius", 2.5)
    assert cell.nodes["radius"].tolist() == [1.0] * 5 + [2.5] + [1.0] * 3
    assert isinstance(view, jx.View) and view.base is cell


@pytest.mark.parametrize(
    "ncomp, at, expected",
    [
        (4, 0.0, 0),
        (4, 0.3, 1),
        (4, 0.5, 1),  # on a boundary Jaxley picks the lower compartment
        (4, 0.51, 2),
        (4, 1.0, 3),
        (3, 0.5, 1),
        (3, 1.0, 2),
        (1, 0.5, 0),
        (2, 0.5, 0),
    ],
)
def test_loc(ncomp, at, expected):
    branch = jx.Branch(jx.Compartment(), ncomp=ncomp)
    assert _glob(branch.loc(at)) == [expected]


def test_loc_on_cells_and_views():
    cell = _cell(ncomp=4)
    assert _glob(cell.loc(0.0)) == [0, 4, 8]
    assert _glob(cell.loc(1.0)) == [3, 7, 11]
    assert _glob(cell.branch(1).loc([0.0, 1.0])) == [4, 7]
    assert _glob(cell.branch(2).loc("all")) == [8, 9, 10, 11]
    # On a part of a branch, locations still refer to the whole branch.
    assert _glob(cell.branch(0).comp([2, 3]).loc(1.0)) == [3]
    for bad in (-0.1, 1.5, np.nan, "middle"):
        with pytest.raises(ValueError, match="loc"):
            cell.loc(bad)


def test_select():
    cell = _cell()
    assert _glob(cell.select(nodes=[0, 4, 8])) == [0, 4, 8]
    assert _glob(cell.select(nodes=np.array([7, 2]), sorted=True)) == [2, 7]
    assert _glob(cell.select(nodes=5)) == [5]
    assert _glob(cell.select(nodes="all")) == list(range(9))
    assert _glob(cell.branch(1).select(nodes=[4])) == [4]
    with pytest.raises(IndexError, match="not part of this view"):
        cell.branch(1).select(nodes=[0])


def test_scope_and_set_scope():
    cell = _cell()
    assert _glob(cell.scope("global").branch(2).scope("local").comp(0)) == [6]
    assert _glob(cell.scope("global").comp(6)) == [6]
    assert _glob(cell.scope("global").branch(1).comp(4)) == [4]
    with pytest.raises(IndexError):
        cell.branch(1).comp(4)  # local scope: branch 1 has comps 0..2
    cell.set_scope("global")
    assert _glob(cell.branch(2).comp(7)) == [7]
    assert _glob(cell.view.comp(8)) == [8]
    cell.set_scope("local")
    assert _glob(cell.branch(2).comp(1)) == [7]
    with pytest.raises(ValueError, match="scope"):
        cell.set_scope("nonlocal")
    with pytest.raises(ValueError, match="scope"):
        cell.scope("Global")


def test_iterators():
    net = jx.Network([_cell(ncomp=2, nbranches=2), _cell(ncomp=3, nbranches=1)])
    cells = list(net.cells)
    assert [len(c.nodes) for c in cells] == [4, 3]
    assert [len(c.nodes) for c in net] == [4, 3]  # __iter__ walks one level down
    branches = [b for c in net.cells for b in c.branches]
    assert [_glob(b) for b in branches] == [[0, 1], [2, 3], [4, 5, 6]]
    comps = [c for b in branches for c in b.comps]
    assert [_glob(c) for c in comps] == [[i] for i in range(7)]
    # In local scope `cell.comps` groups by local compartment index across branches.
    assert [_glob(c) for c in net.cell(0).comps] == [[0, 2], [1, 3]]
    net.set_scope("global")
    assert [_glob(c) for c in net.comps] == [[i] for i in range(7)]
    assert [_glob(b) for b in net.branches] == [[0, 1], [2, 3], [4, 5, 6]]
    with pytest.raises(TypeError):
        iter(jx.Compartment())


def test_shape():
    comp = jx.Compartment()
    branch = jx.Branch(comp, ncomp=4)
    cell = jx.Cell([branch, jx.Branch(comp, ncomp=2)], parents=[-1, 0])
    net = jx.Network([cell, cell, jx.Cell()])
    assert comp.shape == ()
    assert branch.shape == (4,)
    assert cell.shape == (2, 6)
    assert net.shape == (3, 5, 13)
    assert cell.branch(1).shape == (1, 2)
    assert branch.comp([0, 1]).shape == (2,)
    assert net.cell(1).shape == (1, 2, 6)


# ----------------------------------------------------------------------------- groups
def test_groups():
    cell = _cell()
    cell.branch(0).comp(0).add_to_group("soma")
    cell.branch([1, 2]).add_to_group("dend")
    cell.soma.set("radius", 10.0)
    cell.dend.comp(0).set("length", 2.0)
    assert cell.nodes["radius"].tolist() == [10.0] + [1.0] * 8
    assert cell.nodes["length"].tolist() == [10.0] * 3 + [2.0, 10.0, 10.0] * 2
    assert _glob(cell.dend) == [3, 4, 5, 6, 7, 8]
    assert _glob(cell.dend.branch(1)) == [6, 7, 8]
    assert _glob(cell.branch(0).soma) == [0]
    cell.soma.insert(Na())
    assert cell.nodes["Na"].tolist() == [True] + [False] * 8
    cell.branch(2).comp(2).add_to_group("soma")  # groups can grow
    assert _glob(cell.soma) == [0, 8]
    for bad in ("radius", "Na", "set", "not valid"):
        with pytest.raises(ValueError):
            cell.add_to_group(bad)
    with pytest.raises(AttributeError, match="axon"):
        _ = cell.axon
    net = jx.Network([_cell(), _cell()])
    net.cell(1).add_to_group("exc")
    assert _glob(net.exc) == list(range(9, 18))


# ----------------------------------------------------------------------------- trainables
def test_make_trainable_parameter_sharing():
    cell = _cell()
    cell.make_trainable("radius", verbose=False)  # one for the whole cell
    cell.branch("all").make_trainable("length", verbose=False)  # one per branch
    cell.branch(1).comp("all").make_trainable("axial_resistivity", verbose=False)
    cell.branch(1).make_trainable("capacitance", verbose=False)  # one for the branch
    cell.comp("all").make_trainable("v", verbose=False)  # one per compartment
    cell.loc(0.0).make_trainable("radius", verbose=False)  # one per compartment
    cell.select(nodes=[0, 5]).make_trainable("length", verbose=False)
    cell.branch(0).comp(0).add_to_group("soma")
    cell.soma.make_trainable("capacitance", verbose=False)
    assert _nparams(cell) == [1, 3, 3, 1, 9, 3, 2, 1]
    params = cell.get_parameters()
    assert [list(p) for p in params] == [
        ["radius"],
        ["length"],
        ["axial_resistivity"],
        ["capacitance"],
        ["v"],
        ["radius"],
        ["length"],
        ["capacitance"],
    ]
    assert all(np.asarray(next(iter(p.values()))).ndim == 1 for p in params)


def test_make_trainable_init_val_and_channels(capsys):
    cell = _cell()
    cell.branch(1).comp(0).set("radius", 4.0)
    cell.branch("all").make_trainable("radius")
    assert "Number of newly added trainable parameters: 3" in capsys.readouterr().out
    np.testing.assert_allclose(cell.get_parameters()[0]["radius"], [1.0, 2.0, 1.0])
    cell.branch("all").make_trainable("length", 3.0, verbose=False)
    np.testing.assert_allclose(cell.get_parameters()[1]["length"], [3.0, 3.0, 3.0])
    cell.branch("all").make_trainable("capacitance", [1.0, 2.0, 3.0], verbose=False)
    np.testing.assert_allclose(cell.get_parameters()[2]["capacitance"], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="init_val.*2 values.*3 parameters"):
        cell.branch("all").make_trainable("capacitance", [1.0, 2.0], verbose=False)
    with pytest.raises(ValueError, match="HH_gNa"):
        cell.make_trainable("HH_gNa", verbose=False)
    cell.branch(2).insert(HH())
    cell.branch("all").make_trainable("HH_gNa", verbose=False)  # only where HH exists
    assert _nparams(cell)[-1] == 1
    assert cell.indices_set_by_trainables[-1].tolist() == [6, 7, 8]


def test_trainables_in_simulation_and_write_trainables():
    cell = _cell(ncomp=2)
    cell.insert(Leak())
    cell.branch("all").make_trainable("radius", verbose=False)
    cell.make_trainable("Leak_gLeak", verbose=False)
    cell.branch(0).comp(0).stimulate(jx.step_current(0.2, 1.0, 0.1, 0.025, 2.0), verbose=False)
    cell.comp("all").record(verbose=False)
    params = cell.get_parameters()
    new = [{"radius": params[0]["radius"] * np.array([1.0, 2.0, 0.5])}, {"Leak_gLeak": 3e-4}]
    v_params = jx.integrate(cell, params=new, t_max=2.0)

    ref = cell.copy()
    ref.delete_trainables()
    assert ref.get_parameters() == [] and len(cell.get_parameters()) == 2
    ref.write_trainables([])  # nothing to write
    cell.write_trainables(new)
    np.testing.assert_allclose(cell.nodes["radius"], [1.0, 1.0, 2.0, 2.0, 0.5, 0.5])
    np.testing.assert_allclose(cell.nodes["Leak_gLeak"], 3e-4)
    ref.write_trainables([])
    ref.branch(1).set("radius", 2.0)
    ref.branch(2).set("radius", 0.5)
    ref.set("Leak_gLeak", 3e-4)
    v_set = jx.integrate(ref, t_max=2.0)
    np.testing.assert_allclose(np.asarray(v_params), np.asarray(v_set), atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="get_parameters"):
        cell.write_trainables(new[:1])


def test_delete_trainables():
    cell = _cell()
    cell.make_trainable("radius", verbose=False)
    cell.branch(0).make_trainable("length", verbose=False)
    cell.delete_trainables()
    assert cell.get_parameters() == []
    assert cell.indices_set_by_trainables == []
    cell.make_trainable("radius", verbose=False)
    assert _nparams(cell) == [1]


# ----------------------------------------------------------------------------- mechanisms
def test_insert_and_delete_on_views():
    cell = _cell()
    cell.branch(0).insert(Na())
    cell.branch(1).comp(1).insert(K())
    assert [ch.name for ch in cell.channels] == ["Na", "K"]
    assert [ch.name for ch in cell.branch(1).channels] == ["K"]
    assert cell.branch(2).channels == []
    assert cell.nodes["Na"].tolist() == [True] * 3 + [False] * 6
    assert np.isnan(cell.nodes["Na_gNa"].to_numpy()[3:]).all()
    cell.branch(0).comp(0).delete(Na())
    assert cell.nodes["Na"].tolist() == [False, True, True] + [False] * 6
    assert np.isnan(cell.nodes.loc[0, "Na_gNa"])
    cell.delete(Na())
    assert [ch.name for ch in cell.channels] == ["K"] and "Na_gNa" not in cell.nodes
    with pytest.raises(ValueError, match="not inserted"):
        cell.delete(Na())
    with pytest.raises(TypeError, match="instance"):
        cell.insert(Na)


# ----------------------------------------------------------------------------- show / copy
def test_show():
    cell = _cell()
    cell.insert(HH())
    table = cell.branch(1).show()
    assert isinstance(table, pd.DataFrame)
    assert table.index.tolist() == [3, 4, 5]
    for col in ("global_comp_index", "local_comp_index", "radius", "HH_gNa", "HH_m", "v"):
        assert col in table.columns
    only = cell.show("HH_gNa", indices=False)
    assert list(only.columns) == ["HH_gNa", "HH"]
    no_states = cell.show(states=False)
    assert "HH_m" not in no_states and "HH_gK" in no_states
    table.loc[3, "radius"] = 99.0  # a copy: does not write through
    assert cell.nodes.loc[3, "radius"] == 1.0


def test_copy_is_independent():
    cell = _cell()
    cell.insert(Leak())
    cell.branch(0).add_to_group("soma")
    cell.make_trainable("radius", verbose=False)
    other = cell.copy()
    assert other.nodes.equals(cell.nodes) and other is not cell
    other.set("radius", 3.0)
    other.soma.set("length", 1.0)
    other.branch(0).delete(Leak())
    other.delete_trainables()
    other.comp(0).record(verbose=False)
    assert cell.nodes["radius"].tolist() == [1.0] * 9
    assert cell.nodes["length"].tolist() == [10.0] * 9
    assert cell.nodes["Leak"].all()
    assert len(cell.get_parameters()) == 1 and len(cell.recordings) == 0
    assert cell.soma.base is cell and other.soma.base is other


def test_view_copy_as_module():
    cell = _cell(ncomp=2, nbranches=4)
    cell.branch(1).insert(HH())
    cell.branch(1).set("radius", 2.0)
    cell.branch(3).add_to_group("tip")
    part = cell.branch([1, 2, 3]).copy(as_module=True)
    assert isinstance(part, jx.Cell) and not isinstance(part, jx.View)
    assert part.shape == (3, 6)
    assert part.branch_parents.tolist() == [-1, -1, -1]  # their parent (branch 0) was cut
    sub = cell.branch([0, 1]).copy(as_module=True)
    assert sub.branch_parents.tolist() == [-1, 0]
    assert part.nodes["global_comp_index"].tolist() == list(range(6))
    assert part.nodes["radius"].tolist() == [2.0, 2.0, 1.0, 1.0, 1.0, 1.0]
    assert [ch.name for ch in part.channels] == ["HH"]
    assert _glob(part.tip) == [4, 5]
    part.set("radius", 5.0)
    assert cell.nodes["radius"].tolist() == [1.0, 1.0, 2.0, 2.0] + [1.0] * 4
    # Without as_module a copy is, as in Jaxley, the same view on a copy of the module.
    view = cell.branch(0).copy()
    assert isinstance(view, jx.View) and view.base is not cell
    assert _glob(view) == [0, 1]
    view.set("radius", 7.0)
    assert view.base.nodes["radius"].tolist()[:2] == [7.0, 7.0]
    assert cell.nodes["radius"].tolist()[:2] == [1.0, 1.0]
    with pytest.raises(TypeError, match="view"):
        jx.integrate(cell.branch(0), t_max=1.0)
