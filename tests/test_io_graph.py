"""Compartment graphs: SWC -> graph -> cell (against Jaxley), module <-> graph round trips."""

from __future__ import annotations

import warnings
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest

pytest.importorskip("networkx")

import sim as jx  # noqa: E402
from sim.channels import HH  # noqa: E402
from sim.io.graph import (  # noqa: E402
    build_compartment_graph,
    connect_graphs,
    from_graph,
    to_graph,
    to_swc_graph,
    vis_compartment_graph,
)

jax.config.update("jax_enable_x64", True)

MORPH = Path(__file__).parents[2] / "shared" / "data" / "morphologies"
SWCS = [
    "morph_ca1_n120.swc",
    "morph_3_types_single_point_soma.swc",
    "morph_somatic_branchpoint.swc",
    "morph_variable_radiuses_multi_branch.swc",
    "morph_interrupted_soma.swc",
]


def _hand_cell():
    comp = jx.Compartment()
    cell = jx.Cell(jx.Branch(comp, ncomp=2), parents=[-1, 0, 0, 1, 1])
    cell.insert(HH())
    cell.branch(2).set("radius", 0.5)
    cell.branch(3).set("HH_gNa", 0.2)
    cell.branch(1).add_to_group("apical")
    return cell


def _voltages(cell):
    cell.delete_recordings() if len(cell.recordings) else None
    cell.branch(0).comp(0).record(verbose=False)
    cell.branch(cell.total_nbranches - 1).comp(0).record(verbose=False)
    cell.branch(0).comp(0).stimulate(jx.step_current(1.0, 3.0, 0.5, 0.025, 10.0), verbose=False)
    return np.asarray(jx.integrate(cell, delta_t=0.025))


def _assert_same_cell(a, b):
    pd.testing.assert_frame_equal(a.nodes, b.nodes)
    np.testing.assert_array_equal(a.branch_parents, b.branch_parents)
    np.testing.assert_array_equal(a.branch_parent_x, b.branch_parent_x)
    assert len(a.xyzr) == len(b.xyzr)
    for x, y in zip(a.xyzr, b.xyzr):
        np.testing.assert_array_equal(x, y)
    assert a.group_names == b.group_names
    assert [c.name for c in a.channels] == [c.name for c in b.channels]
    assert type(a) is type(b)


def test_round_trip_hand_built_cell_is_exact():
    cell = _hand_cell()
    cell.branch(0).comp(0).make_trainable("radius", verbose=False)
    back = from_graph(to_graph(cell, channels=True))
    _assert_same_cell(cell, back)
    assert len(back.trainables) == 1 and back.trainables[0]["key"] == "radius"
    cell.delete_trainables()
    back.delete_trainables()
    np.testing.assert_allclose(_voltages(back), _voltages(cell), atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", ["morph_ca1_n120.swc", "morph_3_types_single_point_soma.swc"])
def test_round_trip_swc_cell_is_exact(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cell = jx.read_swc(MORPH / name, ncomp=2)
    cell.insert(HH())
    back = from_graph(to_graph(cell, channels=True))
    _assert_same_cell(cell, back)
    assert back._from_swc
    np.testing.assert_allclose(_voltages(back), _voltages(cell), atol=1e-12, rtol=0)


def test_renumbered_swc_cell_simulates_identically():
    """A traversal from another root renumbers, but the circuit stays the same."""
    cell = jx.read_swc(MORPH / "morph_ca1_n120.swc", ncomp=1)
    cell.insert(HH())
    graph = to_graph(cell, channels=True)
    tip = next(n for n in sorted(graph.nodes) if graph.degree(n) == 1)
    other = from_graph(graph, solve_root=tip)
    assert other.nodes["length"].sum() == pytest.approx(cell.nodes["length"].sum())
    np.testing.assert_allclose(other.nodes["area"].sum(), cell.nodes["area"].sum(), rtol=1e-12)
    v_cell = _voltages(cell)[0]
    other.delete_recordings() if len(other.recordings) else None
    start = other.nodes.index[other.nodes["global_branch_index"] != -1]
    soma = int(np.flatnonzero(
        np.isclose(other.nodes["x"], cell.nodes.loc[0, "x"])
        & np.isclose(other.nodes["y"], cell.nodes.loc[0, "y"])
    )[0])  # fmt: skip
    assert soma in start
    view = other.select(nodes=[soma])
    view.record(verbose=False)
    view.stimulate(jx.step_current(1.0, 3.0, 0.5, 0.025, 10.0), verbose=False)
    v_other = np.asarray(jx.integrate(other, delta_t=0.025))[0]
    np.testing.assert_allclose(v_other, v_cell, atol=1e-9, rtol=0)


def test_network_round_trip_with_synapses():
    from sim.synapses import IonotropicSynapse

    net = jx.Network([_hand_cell(), _hand_cell()])
    jx.connect(net.cell(0).branch(0).comp(0), net.cell(1).branch(2).comp(1), IonotropicSynapse())
    net.set("IonotropicSynapse_gS", 0.01)
    back = from_graph(to_graph(net, synapses=True, channels=True))
    pd.testing.assert_frame_equal(net.nodes, back.nodes)
    pd.testing.assert_frame_equal(net.edges, back.edges)
    assert type(back).__name__ == "Network"
    np.testing.assert_array_equal(net.branch_parents, back.branch_parents)
    no_syn = from_graph(to_graph(net, channels=True))
    assert len(no_syn.edges) == 0


def test_channels_false_drops_mechanism_columns():
    back = from_graph(to_graph(_hand_cell()))
    assert back.channels == [] and "HH_gNa" not in back.nodes


@pytest.mark.parametrize("name", SWCS)
@pytest.mark.parametrize("kwargs", [{"ncomp": 2}, {"ncomp": 3, "max_len": 100.0}])
def test_swc_graph_pipeline_matches_jaxley(name, kwargs):
    jaxley = pytest.importorskip("jaxley")
    from jaxley.io import graph as jgraph

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = jgraph.from_graph(
            jgraph.build_compartment_graph(jgraph.to_swc_graph(str(MORPH / name)), **kwargs)
        )
        ours = from_graph(build_compartment_graph(to_swc_graph(MORPH / name), **kwargs))
    assert isinstance(ref, jaxley.Cell)
    assert len(ours.nodes) == len(ref.nodes)
    np.testing.assert_array_equal(ours.branch_parents, ref.comb_parents)
    for key in ("length", "radius"):
        np.testing.assert_allclose(ours.nodes[key], ref.nodes[key], rtol=1e-12, atol=0)
    for key in ("area", "resistive_load_in", "resistive_load_out"):  # measured: <= 1e-15 rel.
        np.testing.assert_allclose(ours.nodes[key], ref.nodes[key], rtol=1e-10, atol=0)
    np.testing.assert_allclose(ours.nodes[["x", "y", "z"]], ref.nodes[["x", "y", "z"]], atol=1e-3)
    for group in ref.group_names:
        np.testing.assert_array_equal(ours.nodes[group], ref.nodes[group])


def test_jaxley_to_graph_reads_back():
    jaxley = pytest.importorskip("jaxley")
    from jaxley.io.graph import from_graph as jax_from_graph
    from jaxley.modules.base import to_graph as jax_to_graph

    comp = jaxley.Compartment()
    cell = jaxley.Cell(jaxley.Branch(comp, ncomp=3), parents=[-1, 0, 0, 1])
    cell.branch(1).set("radius", 0.3)
    graph = jax_to_graph(cell)
    as_given = from_graph(graph, traverse_for_solve_order=False)
    np.testing.assert_array_equal(as_given.branch_parents, cell.comb_parents)
    for ours, ref in ((as_given, cell), (from_graph(graph), jax_from_graph(graph))):
        np.testing.assert_array_equal(ours.branch_parents, ref.comb_parents)  # DFS renumbers
        for key in ("length", "radius", "area", "resistive_load_in", "x", "y"):
            np.testing.assert_allclose(ours.nodes[key], ref.nodes[key], rtol=1e-12)


def test_errors_and_given_order():
    with pytest.raises(TypeError, match="DiGraph"):
        from_graph({"not": "a graph"})
    graph = to_graph(_hand_cell())
    same = from_graph(graph, traverse_for_solve_order=False)
    np.testing.assert_array_equal(same.branch_parents, [-1, 0, 0, 1, 1])
    graph.nodes[0]["branch_index"] = 3
    with pytest.raises(ValueError, match="traverse_for_solve_order"):
        from_graph(graph, traverse_for_solve_order=False)
    with pytest.raises(ValueError, match="columns"):
        bad = Path(__file__).parent / "data" / "_bad.swc"
        bad.write_text("1 1 0 0 0 1\n")
        try:
            to_swc_graph(bad)
        finally:
            bad.unlink()


def test_connect_graphs_and_vis():
    import matplotlib

    matplotlib.use("Agg")
    cell = _hand_cell()
    cell.compute_xyz()
    cell.compute_compartment_centers()
    g = to_graph(cell)
    joined = connect_graphs(g, g, 0, 0)
    n_comps = sum(1 for _, t in joined.nodes(data="type") if t == "comp")
    assert n_comps == 20 and sorted(joined.nodes)[:20] == list(range(20))
    merged = from_graph(joined)
    assert merged.total_nbranches == 10
    ax = vis_compartment_graph(g)
    assert ax is not None
