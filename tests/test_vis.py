"""Plotting morphologies: ``vis`` for every type on cells, SWC cells, views and networks.

The assertions are on the artists that ``vis`` leaves on the Axes: how many, where
their points are (traced points, compartment centres, radii) and their colour.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection, PolyCollection  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.patches import Circle, Polygon  # noqa: E402

import sim as jx  # noqa: E402
from sim.synapses import IonotropicSynapse  # noqa: E402

SWC = Path(__file__).resolve().parents[2] / "shared" / "data" / "morphologies"
CA1 = SWC / "morph_ca1_n120.swc"
TYPES = ("line", "scatter", "comp", "morph", "volume")
RED = to_rgba("r")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def hand_built_cell():
    """Three branches of three compartments; branch 0 is thicker."""
    branch = jx.Branch(jx.Compartment(), ncomp=3)
    cell = jx.Cell(branch, parents=[-1, 0, 0])
    cell.branch(0).set("radius", 2.0)
    return cell


@pytest.fixture(scope="module")
def swc_cell():
    if not CA1.exists():
        pytest.skip(f"{CA1} is absent")
    cell = jx.read_swc(CA1, ncomp=2)
    cell.compute_compartment_centers()
    return cell


def moved_network():
    cell = jx.Cell(jx.Branch(jx.Compartment(), ncomp=2), parents=[-1, 0])
    net = jx.Network([cell] * 3)
    net.move_to(x=np.array([0.0, 100.0, 200.0]), y=np.array([0.0, 50.0, 0.0]), z=np.zeros(3))
    return net


def new_axes():
    return plt.subplots()[1]


def save_png(ax, path: Path) -> None:
    ax.figure.savefig(path)
    assert path.stat().st_size > 1000


def polygon_points(patch: Polygon) -> np.ndarray:
    """The vertices of a filled polygon without the closing vertex."""
    return patch.get_path().vertices[:-1]


def expected_rectangle(centre, axis, length, radius) -> np.ndarray:
    """Corners of a cylinder lying in the xy-plane, seen from above."""
    a = np.asarray(axis, float) / np.linalg.norm(axis)
    n = np.asarray([-a[1], a[0]])
    c = np.asarray(centre, float)
    return np.asarray([c + s * 0.5 * length * a + t * radius * n for s in (1, -1) for t in (1, -1)])


# ---------------------------------------------------------------------- hand-built cell
def test_hand_built_layout_matches_jaxley():
    cell = hand_built_cell()
    cell.compute_xyz()
    # Jaxley 0.14 places the two children at y = -/+ 0.25 x from the end of the root.
    np.testing.assert_allclose(cell.xyzr[0][:, :3], [[0, 0, 0], [30, 0, 0]], atol=1e-12)
    np.testing.assert_allclose(cell.xyzr[1][1, :2], [59.104275004, -7.276068751], atol=1e-8)
    np.testing.assert_allclose(cell.xyzr[2][1, :2], [59.104275004, 7.276068751], atol=1e-8)
    np.testing.assert_allclose(cell.nodes["x"].to_numpy()[:3], [5.0, 15.0, 25.0], atol=1e-12)
    np.testing.assert_allclose(cell.xyzr[0][:, 3], 2.0)  # the mean radius of the branch


def test_line_draws_the_traced_points_of_every_branch(tmp_path):
    cell = hand_built_cell()
    ax = new_axes()
    assert cell.vis(ax=ax, color="r", lw=3.0) is ax
    assert len(ax.lines) == 3 and not ax.patches and not ax.collections
    for line, pts in zip(ax.lines, cell.xyzr):
        np.testing.assert_allclose(line.get_xydata(), pts[:, :2], atol=1e-9)
        assert to_rgba(line.get_color()) == RED and line.get_linewidth() == 3.0
    save_png(ax, tmp_path / "line.png")


def test_scatter_draws_the_traced_points(tmp_path):
    cell = hand_built_cell()
    ax = cell.vis(type="scatter", color="r")
    assert len(ax.collections) == 3 and all(isinstance(c, PathCollection) for c in ax.collections)
    for coll, pts in zip(ax.collections, cell.xyzr):
        np.testing.assert_allclose(coll.get_offsets(), pts[:, :2], atol=1e-9)
        assert tuple(coll.get_facecolor()[0]) == RED
    save_png(ax, tmp_path / "scatter.png")


def test_comp_draws_one_cylinder_outline_per_compartment(tmp_path):
    cell = hand_built_cell()
    ax = cell.vis(ax=new_axes(), type="comp", color="r")
    nodes = cell.nodes
    assert len(ax.patches) == len(nodes) == 9
    for k, patch in enumerate(ax.patches):
        b = int(nodes["global_branch_index"].iloc[k])
        axis = cell.xyzr[b][1, :2] - cell.xyzr[b][0, :2]
        centre = nodes[["x", "y"]].to_numpy()[k]
        corners = expected_rectangle(centre, axis, nodes["length"].iloc[k], nodes["radius"].iloc[k])
        got = polygon_points(patch)
        assert got.shape == (4, 2)
        np.testing.assert_allclose(np.sort(got, axis=0), np.sort(corners, axis=0), atol=1e-9)
        np.testing.assert_allclose(got.mean(axis=0), centre, atol=1e-9)
        assert patch.get_facecolor() == RED
    # Branch 0 has radius 2: its rectangles are 4 µm wide.
    np.testing.assert_allclose(np.ptp(polygon_points(ax.patches[0])[:, 1]), 4.0, atol=1e-12)
    save_png(ax, tmp_path / "comp.png")


def test_comp_straight_length_and_resolution_options():
    cell = hand_built_cell()
    cell.compute_xyz()
    cell.branch(0).set("length", 20.0)  # longer than the laid-out branch now
    ax = cell.vis(type="comp", resolution=8)
    np.testing.assert_allclose(np.ptp(polygon_points(ax.patches[0])[:, 0]), 20.0, atol=1e-9)
    ax = cell.vis(type="comp", true_comp_length=False, resolution=8)
    np.testing.assert_allclose(np.ptp(polygon_points(ax.patches[0])[:, 0]), 10.0, atol=1e-9)


def _assert_on_discs(poly: np.ndarray, discs: list[tuple[np.ndarray, float]]) -> None:
    dist = np.stack([np.abs(np.linalg.norm(poly - c, axis=1) - r) for c, r in discs])
    assert dist.min(axis=0).max() < 1e-9


def test_morph_draws_frustums_with_ball_ends(tmp_path):
    cell = hand_built_cell()
    ax = cell.vis(type="morph", color="r")
    assert len(ax.collections) == 3 and all(isinstance(c, PolyCollection) for c in ax.collections)
    for coll, pts in zip(ax.collections, cell.xyzr):
        (poly,) = [p.vertices for p in coll.get_paths()]  # one segment per branch
        discs = [(pts[0, :2], pts[0, 3]), (pts[1, :2], pts[1, 3])]
        _assert_on_discs(poly, discs)
        assert tuple(coll.get_facecolor()[0]) == RED
    # The horizontal root branch (radius 2) spans [-2, 32] x [-2, 2].
    root = ax.collections[0].get_paths()[0].vertices
    np.testing.assert_allclose([root.min(0), root.max(0)], [[-2, -2], [32, 2]], atol=1e-9)
    save_png(ax, tmp_path / "morph.png")


def test_volume_and_three_dims_draw_in_3d(tmp_path):
    cell = hand_built_cell()
    ax = cell.vis(type="volume", color="r")  # two dims are completed to (0, 1, 2)
    assert ax.name == "3d" and len(ax.collections) == 3
    save_png(ax, tmp_path / "volume.png")
    ax = cell.vis(type="line", dims=(0, 1, 2))
    assert ax.name == "3d" and len(ax.lines) == 3
    for line, pts in zip(ax.lines, cell.xyzr):
        np.testing.assert_allclose(np.asarray(line.get_data_3d()).T, pts[:, :3], atol=1e-9)
    assert len(cell.vis(type="comp", dims=(0, 1, 2)).collections) == 9
    assert len(cell.vis(type="morph", dims=(2, 0, 1)).collections) == 3


def test_other_projections_swap_the_coordinates():
    cell = hand_built_cell()
    cell.move(0.0, 0.0, 7.0)
    ax = cell.vis(dims=(2, 0))
    np.testing.assert_allclose(ax.lines[1].get_xydata(), cell.xyzr[1][:, [2, 0]], atol=1e-9)
    np.testing.assert_allclose(ax.lines[1].get_xdata(), 7.0)


def test_single_point_branch_is_a_disc():
    comp = jx.Compartment()
    xyzr = [np.array([[0.0, 0.0, 0.0, 5.0]]), np.array([[0, 0, 0, 1.0], [0, 20, 0, 1.0]])]
    cell = jx.Cell([jx.Branch(comp, ncomp=1), jx.Branch(comp, ncomp=2)], [-1, 0], xyzr=xyzr)
    for kind in ("line", "comp", "morph"):
        ax = cell.vis(type=kind, color="r")
        (disc,) = [p for p in ax.patches if isinstance(p, Circle)]
        assert disc.get_radius() == 5.0 and disc.center == (0.0, 0.0)
        assert disc.get_facecolor() == RED


# ---------------------------------------------------------------------- SWC cell
def test_swc_line_scatter_and_morph_follow_the_trace(swc_cell, tmp_path):
    nb = len(swc_cell.xyzr)
    ax = swc_cell.vis(type="line", color="r")
    assert len(ax.lines) == nb
    for line, pts in zip(ax.lines, swc_cell.xyzr):
        np.testing.assert_allclose(line.get_xydata(), pts[:, :2], atol=1e-9)
    save_png(ax, tmp_path / "swc_line.png")
    ax = swc_cell.vis(type="scatter", dims=(0, 2))
    assert len(ax.collections) == nb
    np.testing.assert_allclose(ax.collections[5].get_offsets(), swc_cell.xyzr[5][:, [0, 2]])
    save_png(ax, tmp_path / "swc_scatter.png")
    ax = swc_cell.vis(type="morph", color="r")
    assert len(ax.collections) == nb
    pts = swc_cell.xyzr[3]
    polys = [p.vertices for p in ax.collections[3].get_paths()]
    assert len(polys) == int((np.linalg.norm(np.diff(pts[:, :3], axis=0), axis=1) > 0).sum())
    _assert_on_discs(polys[0], [(pts[0, :2], pts[0, 3]), (pts[1, :2], pts[1, 3])])
    save_png(ax, tmp_path / "swc_morph.png")


def test_swc_comp_is_centred_on_the_compartment_centres(swc_cell, tmp_path):
    ax = swc_cell.vis(type="comp", color="r")
    nodes = swc_cell.nodes
    assert len(ax.patches) == len(nodes)
    centres = np.asarray([polygon_points(p).mean(axis=0) for p in ax.patches])
    np.testing.assert_allclose(centres, nodes[["x", "y"]].to_numpy(), atol=1e-9)
    k = 17
    poly = polygon_points(ax.patches[k])
    # No outline point is further from the centre than half the length and the radius.
    reach = np.hypot(nodes["length"].iloc[k] / 2, nodes["radius"].iloc[k])
    assert np.linalg.norm(poly - centres[k], axis=1).max() <= reach + 1e-9
    save_png(ax, tmp_path / "swc_comp.png")


def test_swc_volume_of_a_view(swc_cell, tmp_path):
    ax = swc_cell.branch([0, 1, 2]).vis(type="volume", dims=(0, 1, 2), resolution=6)
    assert ax.name == "3d" and len(ax.collections) == 3
    save_png(ax, tmp_path / "swc_volume.png")


# ---------------------------------------------------------------------- views
def test_view_draws_only_its_branches_on_the_given_axes():
    cell = hand_built_cell()
    ax = new_axes()
    cell.vis(ax=ax)
    assert cell.branch(1).vis(ax=ax, color="r") is ax
    assert len(ax.lines) == 4
    np.testing.assert_allclose(ax.lines[-1].get_xydata(), cell.xyzr[1][:, :2], atol=1e-9)
    assert to_rgba(ax.lines[-1].get_color()) == RED
    assert len(cell.branch([0, 2]).vis(type="comp").patches) == 6


def test_view_of_some_compartments_draws_their_part_of_the_branch():
    cell = hand_built_cell()
    ax = cell.branch(1).comp([0, 2]).vis()
    pts = cell.xyzr[1][:, :2]
    at = [pts[0] + f * (pts[1] - pts[0]) for f in (0.0, 1 / 3, 2 / 3, 1.0)]
    xy = ax.lines[0].get_xydata()
    assert np.isnan(xy[2]).all()  # a gap where compartment 1 is not in view
    np.testing.assert_allclose(xy[[0, 1, 3, 4]], at, atol=1e-9)
    ax = cell.branch(1).comp(1).vis(type="comp")
    (patch,) = ax.patches
    np.testing.assert_allclose(polygon_points(patch).mean(0), cell.nodes[["x", "y"]].iloc[4])


# ---------------------------------------------------------------------- networks
@pytest.mark.parametrize("kind", TYPES)
def test_network_cells_are_drawn_at_their_positions(kind, tmp_path):
    net = moved_network()
    ax = net.vis(type=kind, color="r")
    roots = np.asarray([[0.0, 0.0], [100.0, 50.0], [200.0, 0.0]])
    if kind == "line":
        assert len(ax.lines) == 6
        starts = np.asarray([line.get_xydata()[0] for line in ax.lines[::2]])
        np.testing.assert_allclose(starts, roots, atol=1e-9)
    elif kind == "scatter":
        offsets = [c.get_offsets() for c in ax.collections]
        np.testing.assert_allclose(np.asarray([o[0] for o in offsets[::2]]), roots, atol=1e-9)
    elif kind == "comp":
        centres = np.asarray([polygon_points(p).mean(0) for p in ax.patches])
        np.testing.assert_allclose(centres[[0, 4, 8]], roots + [5.0, 0.0], atol=1e-9)
    elif kind == "morph":
        lows = np.asarray([c.get_paths()[0].vertices.min(0) for c in ax.collections[::2]])
        np.testing.assert_allclose(lows, roots - 1.0, atol=1e-9)
    else:
        assert ax.name == "3d" and len(ax.collections) == 6
    save_png(ax, tmp_path / f"net_{kind}.png")


def test_network_view_draws_the_selected_cells():
    net = moved_network()
    ax = net.cell([0, 2]).vis(type="scatter", color="r")
    assert len(ax.collections) == 4
    firsts = [c.get_offsets()[0] for c in ax.collections[::2]]
    np.testing.assert_allclose(firsts, [[0.0, 0.0], [200.0, 0.0]], atol=1e-9)


def test_network_synapses_and_point_detail():
    net = moved_network()
    jx.connect(net.cell(0).branch(1).comp(1), net.cell(1).branch(0).comp(0), IonotropicSynapse())
    ax = net.vis(synapse_color="g")
    assert len(ax.lines) == 7
    # Compartment 1 of 2 of branch 1 (x 20..40) to compartment 0 of cell 1 (x 100..120).
    np.testing.assert_allclose(ax.lines[-1].get_xydata(), [[35.0, 0.0], [105.0, 50.0]])
    assert to_rgba(ax.lines[-1].get_color()) == to_rgba("g")
    np.testing.assert_allclose(ax.collections[-1].get_offsets(), [[105.0, 50.0]])
    ax = net.vis(detail="point")
    cells = np.asarray([c.get_offsets()[0] for c in ax.collections[:3]])
    np.testing.assert_allclose(cells, [[20.0, 0.0], [120.0, 50.0], [220.0, 0.0]], atol=1e-9)
    with pytest.raises(ValueError, match="detail must be one of"):
        net.vis(detail="nope")


def test_network_with_all_cells_at_one_place_warns():
    cell = jx.Cell(jx.Branch(jx.Compartment(), ncomp=1), parents=[-1])
    net = jx.Network([cell] * 2)
    with pytest.warns(UserWarning, match="same position"):
        net.vis()
    net.cell(1).move(10.0, 0.0, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.vis()


def test_traced_cells_keep_their_coordinates_in_a_mixed_network(swc_cell):
    plain = jx.Cell(jx.Branch(jx.Compartment(), ncomp=1), parents=[-1])
    net = jx.Network([swc_cell, plain])
    net.vis()
    for old, new in zip(swc_cell.xyzr, net.xyzr):
        np.testing.assert_array_equal(old, new)
    np.testing.assert_allclose(net.xyzr[-1][:, :3], [[0, 0, 0], [10, 0, 0]])


# ---------------------------------------------------------------------- errors
def test_bad_type_or_dims_name_the_valid_choices():
    cell = hand_built_cell()
    with pytest.raises(ValueError, match="'line', 'scatter', 'comp', 'morph', 'volume'"):
        cell.vis(type="surface")
    for dims in [(0,), (0, 3), (1, 1), (0, 1, 2, 0), "xy", (0.5, 1)]:
        with pytest.raises(ValueError, match=r"0 \(x\), 1 \(y\), 2 \(z\)"):
            cell.vis(dims=dims)
    with pytest.raises(ValueError, match="3-D Axes"):
        cell.vis(ax=new_axes(), dims=(0, 1, 2))
    with pytest.raises(ValueError, match="resolution"):
        cell.vis(type="comp", resolution=1)


def test_fully_connected_synapses_run_between_the_compartment_locations():
    from sim.connect import fully_connect

    cell = jx.Cell(jx.Branch(jx.Compartment(), ncomp=2), parents=[-1, 0])
    net = jx.Network([cell] * 3)
    net.arrange_in_layers([1, 2], within_layer_offset=100.0, between_layer_offset=300.0)
    fully_connect(net.cell([0]), net.cell([1, 2]), IonotropicSynapse())
    ax = net.vis(dims=(0, 1))
    assert len(ax.lines) == 6 + len(net.edges) == 8
    # Layer 0 at x = 0; layer 1 at x = 300, y = -/+ 50. Compartment 0 of branch 0
    # (x 0..20 from the cell's root) is at loc 0.25, i.e. 5 µm along the branch.
    for line, post_y in zip(ax.lines[-2:], (-50.0, 50.0)):
        np.testing.assert_allclose(line.get_xydata(), [[5.0, 0.0], [305.0, post_y]], atol=1e-9)
    posts = np.concatenate([c.get_offsets() for c in ax.collections])
    np.testing.assert_allclose(posts, [[305.0, -50.0], [305.0, 50.0]], atol=1e-9)


def test_network_in_3d_and_cell_plot_kwargs():
    net = moved_network()
    jx.connect(net.cell(0).branch(0).comp(0), net.cell(2).branch(1).comp(1), IonotropicSynapse())
    ax = net.vis(dims=(0, 1, 2))
    assert ax.name == "3d" and len(ax.lines) == 7
    np.testing.assert_allclose(
        np.asarray(ax.lines[-1].get_data_3d()).T, [[5.0, 0.0, 0.0], [235.0, 0.0, 0.0]], atol=1e-9
    )
    ax = net.vis(cell_plot_kwargs={"type": "comp", "alpha": 0.5}, synapse_plot_kwargs={"lw": 4})
    assert len(ax.patches) == 12 and all(p.get_alpha() == 0.5 for p in ax.patches)
    assert ax.lines[-1].get_linewidth() == 4
    with pytest.warns(UserWarning, match="ignores the keyword arguments \\['layers'\\]"):
        net.vis(layers=[1, 2])


def test_network_bad_dims_and_ax():
    net = moved_network()
    with pytest.raises(ValueError, match=r"0 \(x\), 1 \(y\), 2 \(z\)"):
        net.vis(dims=(0, 5))
    with pytest.raises(ValueError, match="3-D Axes"):
        net.vis(ax=new_axes(), dims=(0, 1, 2))
    with pytest.raises(ValueError, match="'line', 'scatter'"):
        net.vis(type="blob")


# ---------------------------------------------------------------------- against Jaxley
def _xy_of_lines(ax):
    return [line.get_xydata() for line in ax.lines]


def _bbox(points: np.ndarray) -> np.ndarray:
    return np.asarray([points.min(0), points.max(0)])


def _build_cell(lib):
    cell = lib.Cell(lib.Branch(lib.Compartment(), ncomp=3), parents=[-1, 0, 0, 1])
    cell.branch(0).set("radius", 2.0)
    return cell


def test_cell_drawing_matches_jaxley():
    jaxley = pytest.importorskip("jaxley")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = _build_cell(jaxley)
    ours = _build_cell(jx)
    ref_ax, our_ax = ref.vis(type="line"), ours.vis(type="line")
    assert len(ref_ax.lines) == len(our_ax.lines) == 4
    for a, b in zip(_xy_of_lines(ref_ax), _xy_of_lines(our_ax)):
        np.testing.assert_allclose(b, a, atol=1e-9)
    ref_ax, our_ax = ref.vis(type="scatter"), ours.vis(type="scatter")
    for a, b in zip(ref_ax.collections, our_ax.collections):
        np.testing.assert_allclose(b.get_offsets(), a.get_offsets(), atol=1e-9)
    # Jaxley fills the convex hull of a cylinder mesh: same extent up to its sampling.
    ref_ax, our_ax = ref.vis(type="comp", resolution=40), ours.vis(type="comp")
    assert len(ref_ax.patches) == len(our_ax.patches) == 12
    for a, b in zip(ref_ax.patches, our_ax.patches):
        box_a, box_b = _bbox(a.get_path().vertices), _bbox(b.get_path().vertices)
        np.testing.assert_allclose(box_b, box_a, atol=0.02)


def _build_network(lib, synapse):
    cell = lib.Cell(lib.Branch(lib.Compartment(), ncomp=2), parents=[-1, 0])
    net = lib.Network([cell] * 3)
    net.move_to(x=np.array([0.0, 100.0, 200.0]), y=np.array([0.0, 50.0, 0.0]), z=np.zeros(3))
    lib.connect(net.cell(0).branch(1).comp(1), net.cell(1).branch(0).comp(0), synapse())
    lib.connect(net.cell(2).branch(0).comp(1), net.cell(1).branch(1).comp(0), synapse())
    return net


@pytest.mark.parametrize("detail", ["full", "point"])
def test_network_drawing_matches_jaxley(detail):
    jaxley = pytest.importorskip("jaxley")
    from jaxley.synapses import IonotropicSynapse as JaxleySynapse

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_ax = _build_network(jaxley, JaxleySynapse).vis(detail=detail)
    our_ax = _build_network(jx, IonotropicSynapse).vis(detail=detail)
    assert len(ref_ax.lines) == len(our_ax.lines)
    for a, b in zip(_xy_of_lines(ref_ax), _xy_of_lines(our_ax)):
        np.testing.assert_allclose(b, a, atol=1e-9)
    assert len(ref_ax.collections) == len(our_ax.collections)
    for a, b in zip(ref_ax.collections, our_ax.collections):
        np.testing.assert_allclose(b.get_offsets(), a.get_offsets(), atol=1e-9)


def test_swc_morph_outline_matches_jaxley():
    jaxley = pytest.importorskip("jaxley")
    path = SWC / "morph_3_types.swc"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_ax = jaxley.read_swc(str(path), ncomp=2).vis(type="morph", resolution=40)
    our_ax = jx.read_swc(path, ncomp=2).vis(type="morph")
    ref = np.concatenate([p.get_path().vertices for p in ref_ax.patches])
    ours = np.concatenate([p.vertices for c in our_ax.collections for p in c.get_paths()])
    np.testing.assert_allclose(_bbox(ours), _bbox(ref), atol=0.01)


def test_plot_morphologies_script_writes_pngs(tmp_path):
    from experiments.plot_morphologies import main

    if not SWC.exists():
        pytest.skip(f"{SWC} is absent")
    written = main(["--out", str(tmp_path / "plots"), "--files", "1"])
    assert len(written) == len(TYPES) + 2
    assert all(p.exists() and p.stat().st_size > 1000 for p in written)
