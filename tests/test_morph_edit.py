"""Morphology editing (morph_delete / morph_connect) and compartment distances."""

from __future__ import annotations

import warnings
from pathlib import Path

import jax
import numpy as np
import pytest

pytest.importorskip("networkx")

import sim as jx  # noqa: E402
from sim.channels import HH  # noqa: E402
from sim.morphology import (  # noqa: E402
    distance_direct,
    distance_pathwise,
    morph_connect,
    morph_delete,
)

jax.config.update("jax_enable_x64", True)
MORPH = Path(__file__).parents[2] / "shared" / "data" / "morphologies"


def _cell(module, parents=(-1, 0, 0, 1, 1)):
    comp = module.Compartment()
    cell = module.Cell(module.Branch(comp, ncomp=2), parents=list(parents))
    if len(parents) > 3:
        cell.branch(2).set("length", 20.0)
        cell.branch(3).set("radius", 0.5)
    return cell


@pytest.mark.parametrize("deleted", [[4], [2], [3, 4], [1, 3, 4]])
def test_morph_delete_matches_jaxley(deleted):
    jaxley = pytest.importorskip("jaxley")
    from jaxley.morphology import morph_delete as jax_delete

    ref = jax_delete(_cell(jaxley).branch(deleted))
    ours = morph_delete(_cell(jx).branch(deleted))
    np.testing.assert_array_equal(ours.branch_parents, ref.comb_parents)
    for key in ("length", "radius"):
        np.testing.assert_allclose(ours.nodes[key], ref.nodes[key])


@pytest.mark.parametrize(
    "loc1, loc2",
    [((0, 0.0), (0, 0.0)), ((4, 1.0), (0, 0.0)), ((1, 1.0), (0, 0.0)), ((2, 0.0), (1, 1.0))],
)
def test_morph_connect_matches_jaxley(loc1, loc2):
    jaxley = pytest.importorskip("jaxley")
    from jaxley.morphology import morph_connect as jax_connect

    def join(module, fn):
        a, b = _cell(module), _cell(module, (-1, 0))
        return fn(a.branch(loc1[0]).loc(loc1[1]), b.branch(loc2[0]).loc(loc2[1]))

    ref, ours = join(jaxley, jax_connect), join(jx, morph_connect)
    np.testing.assert_array_equal(ours.branch_parents, ref.comb_parents)
    np.testing.assert_allclose(ours.nodes["length"], ref.nodes["length"])


def test_edit_keeps_channels_and_leaves_input_alone():
    cell = _cell(jx)
    cell.insert(HH())
    cell.branch(1).set("HH_gNa", 0.3)
    smaller = morph_delete(cell.branch(4))
    assert len(cell.nodes) == 10 and len(smaller.nodes) == 8
    assert [c.name for c in smaller.channels] == ["HH"]
    np.testing.assert_allclose(smaller.branch(1).nodes["HH_gNa"], 0.3)
    jx.integrate(smaller.branch(0).comp(0).record(verbose=False) or smaller, t_max=1.0)


def test_morph_delete_errors():
    cell = _cell(jx)
    with pytest.raises(ValueError, match="every compartment"):
        morph_delete(cell.branch("all"))
    with pytest.raises(ValueError, match="disconnected"):
        morph_delete(cell.branch(1))  # branches 3 and 4 would float free
    net = jx.Network([_cell(jx), _cell(jx)])
    with pytest.raises(ValueError, match="Cell"):
        morph_delete(net.cell(0).branch(1))
    cell.branch(0).comp(0).record(verbose=False)
    with pytest.raises(ValueError, match="recordings"):
        morph_delete(cell.branch(4))
    with pytest.raises(ValueError, match="single compartment"):
        morph_connect(_cell(jx).branch(0), _cell(jx).branch(0).loc(0.0))


def test_deleting_soma_of_swc_cell_is_refused():
    cell = jx.read_swc(MORPH / "morph_ca1_n120.swc", ncomp=1)
    with pytest.raises(ValueError, match="disconnected"):
        morph_delete(cell.soma)
    apical = morph_delete(cell.apical)
    assert len(apical.nodes) == len(cell.nodes) - int(cell.nodes["apical"].sum())
    assert apical.group_names == ["soma", "basal", "apical"] or "soma" in apical.group_names


def test_distances_hand_computed():
    """Branch 0: 2 x 10 µm along x; branch 1: 2 x 20 µm (child of 0)."""
    comp = jx.Compartment()
    cell = jx.Cell([jx.Branch(comp, ncomp=2), jx.Branch(comp, ncomp=2)], parents=[-1, 0])
    cell.branch(1).set("length", 20.0)
    cell.xyzr = [np.array([[0, 0, 0, 1], [20, 0, 0, 1]], float),
                 np.array([[20, 0, 0, 1], [20, 40, 0, 1]], float)]  # fmt: skip
    cell.nodes.loc[:, ["x", "y", "z"]] = [[5, 0, 0], [15, 0, 0], [20, 10, 0], [20, 30, 0]]
    start = cell.branch(0).comp(0)
    np.testing.assert_allclose(distance_pathwise(start, cell), [0.0, 10.0, 25.0, 45.0])
    np.testing.assert_allclose(
        distance_direct(start, cell), [0.0, 10.0, np.hypot(15, 10), np.hypot(15, 30)]
    )
    assert distance_pathwise(cell.branch(1).comp(1), cell.branch(0).comp(1)) == [35.0]
    with pytest.raises(ValueError, match="single compartment"):
        distance_pathwise(cell.branch(0), cell)
    with pytest.raises(ValueError, match="same module"):
        distance_direct(start, _cell(jx))
    with pytest.raises(ValueError, match="compute_xyz"):
        plain = _cell(jx)
        distance_direct(plain.branch(0).comp(0), plain)


def test_pathwise_distance_inside_attachment():
    """A child hanging at x=0.5 of a one-compartment soma starts at the soma centre."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cell = jx.read_swc(MORPH / "morph_3_types_single_point_soma.swc", ncomp=1)
    mids = np.flatnonzero((cell.branch_parent_x > 0) & (cell.branch_parent_x < 1))
    if not mids.size:
        pytest.skip("no inside attachment in this morphology")
    child = int(mids[0])
    first = int(np.flatnonzero(cell.nodes["global_branch_index"] == child)[0])
    parent_first = int(np.flatnonzero(
        cell.nodes["global_branch_index"] == cell.branch_parents[child])[0])  # fmt: skip
    d = distance_pathwise(cell.select(nodes=[parent_first]), cell.select(nodes=[first]))[0]
    assert d == pytest.approx(0.5 * cell.nodes.loc[first, "length"])


def test_distances_match_jaxley_on_swc():
    jaxley = pytest.importorskip("jaxley")
    from jaxley.morphology import distance_direct as jax_direct
    from jaxley.morphology import distance_pathwise as jax_path

    from sim.io.graph import build_compartment_graph, from_graph, to_swc_graph

    fname = MORPH / "morph_ca1_n120.swc"
    ref = jaxley.read_swc(str(fname), ncomp=2)
    ours = from_graph(build_compartment_graph(to_swc_graph(fname), ncomp=2))
    for b in (0, 7):
        expect = np.asarray(jax_path(ref.branch(b).comp(1), ref))
        got = np.asarray(distance_pathwise(ours.branch(b).comp(1), ours))
        np.testing.assert_allclose(got, expect, rtol=1e-12)
        expect = np.asarray(jax_direct(ref.branch(b).comp(1), ref))
        got = np.asarray(distance_direct(ours.branch(b).comp(1), ours))
        np.testing.assert_allclose(got, expect, atol=1e-3)
