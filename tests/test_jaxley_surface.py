"""``sim`` offers Jaxley 0.14's public surface: same names, compatible signatures.

The reference surface is a snapshot (``tests/data/jaxley_surface.json``, made by
``python -m tests.make_jaxley_surface`` from jaxley 0.14.0), so this runs without
jaxley; when jaxley is installed the snapshot is also checked against it.

Signature rule: ``sim``'s parameters start with the reference's, in order and
with the same names; a parameter with a default in the reference has one here;
anything we add comes after them and has a default (so every call that works on
the reference works here).
"""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

import numpy as np
import pytest

import sim

SNAPSHOT = json.loads((Path(__file__).parent / "data" / "jaxley_surface.json").read_text())
NAMESPACES = sorted(SNAPSHOT["namespaces"])
CLASSES = sorted(SNAPSHOT["classes"])


def _params(obj) -> list[inspect.Parameter] | None:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    return [p for p in sig.parameters.values() if p.name not in ("self", "cls")]


def signature_problems(label: str, reference: list | None, obj) -> list[str]:
    """Differences that would break a call written for the reference."""
    ours = _params(obj)
    if reference is None or ours is None:
        return []
    variadic = {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD}
    ref = [r for r in reference if r[1] not in ("VAR_POSITIONAL", "VAR_KEYWORD")]
    fixed = [p for p in ours if p.kind not in variadic]
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in ours)
    problems = []
    for i, (name, kind, has_default) in enumerate(ref):
        if i >= len(fixed) or fixed[i].name != name:
            if takes_kwargs and kind == "KEYWORD_ONLY":
                continue
            got = [p.name for p in fixed]
            problems.append(f"{label}: expected {[r[0] for r in ref]} as prefix, got {got}")
            break
        p = fixed[i]
        if kind != "KEYWORD_ONLY" and p.kind is inspect.Parameter.KEYWORD_ONLY:
            problems.append(f"{label}: {name!r} is keyword-only here but positional there")
        if has_default and p.default is inspect.Parameter.empty:
            problems.append(f"{label}: {name!r} needs a default as in the reference")
    for p in fixed[len(ref) :]:
        if p.default is inspect.Parameter.empty:
            problems.append(f"{label}: added parameter {p.name!r} must have a default")
    return problems


@pytest.mark.parametrize("namespace", NAMESPACES, ids=lambda n: "sim" + n)
def test_namespace_has_reference_names_and_signatures(namespace):
    module = importlib.import_module("sim" + namespace)
    problems = []
    for name, ref in sorted(SNAPSHOT["namespaces"][namespace].items()):
        if not hasattr(module, name):
            problems.append(f"missing sim{namespace}.{name}")
            continue
        obj = getattr(module, name)
        if ref["kind"] == "class":
            if not inspect.isclass(obj):
                problems.append(f"sim{namespace}.{name} should be a class")
                continue
            problems += signature_problems(f"sim{namespace}.{name}()", ref["params"], obj.__init__)
        elif ref["kind"] == "function":
            problems += signature_problems(f"sim{namespace}.{name}", ref["params"], obj)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("cls_name", CLASSES)
def test_class_members(cls_name):
    from sim.modules.module import Module

    cls = Module if cls_name == "Module" else getattr(sim, cls_name)
    problems = []
    for name, ref in sorted(SNAPSHOT["classes"][cls_name].items()):
        if not hasattr(cls, name):
            problems.append(f"missing {cls_name}.{name}")
            continue
        if ref["kind"] == "method":
            problems += signature_problems(f"{cls_name}.{name}", ref["params"], getattr(cls, name))
    assert not problems, "\n".join(problems)


def test_snapshot_matches_installed_jaxley():
    pytest.importorskip("jaxley")
    from tests.make_jaxley_surface import snapshot

    current = snapshot()
    if current["version"] != SNAPSHOT["version"]:
        pytest.skip(f"jaxley {current['version']} installed; snapshot of {SNAPSHOT['version']}")
    assert current == SNAPSHOT


def test_signature_rule_detects_breaking_changes():
    """The checker itself: each kind of incompatibility is reported."""
    ref = [["a", "POSITIONAL_OR_KEYWORD", False], ["b", "POSITIONAL_OR_KEYWORD", True]]

    def same(a, b=1, extra=None): ...

    def renamed(a, c=1): ...

    def no_default(a, b): ...

    def required_extra(a, b=1, extra=2, more=None, *, must): ...

    def kw_only(a, *, b=1): ...

    assert signature_problems("f", ref, same) == []
    assert signature_problems("f", ref, renamed)
    assert signature_problems("f", ref, no_default)
    assert any("must" in p for p in signature_problems("f", ref, required_extra))
    assert signature_problems("f", ref, kw_only)


def test_no_public_method_is_a_stub():
    """No public Module method merely raises NotImplementedError."""
    from sim.modules.module import Module

    stubs = []
    for name in dir(Module):
        obj = inspect.getattr_static(Module, name)
        if name.startswith("_") or not inspect.isfunction(obj):
            continue
        body = inspect.getsource(obj)
        code = [ln.strip() for ln in body.splitlines()]
        if any(ln.startswith("raise NotImplementedError") for ln in code[1:4]):
            stubs.append(name)
    assert not stubs


# ----------------------------------------------------------------- behaviour


def _net(ncells: int = 5):
    comp = sim.Compartment()
    branch = sim.Branch(comp, ncomp=2)
    cell = sim.Cell([branch] * 3, parents=[-1, 0, 0])
    return sim.Network([cell] * ncells)


def test_level_attributes():
    assert sim.Compartment.compartment_params["radius"] == 1.0
    assert sim.Compartment.compartment_states == {"v": -70.0}
    assert sim.Branch.branch_params == {} and sim.Cell.cell_params == {}
    assert sim.Network.network_params == {} and sim.Network.network_states == {}
    assert isinstance(sim.__version__, str) and sim.__version__


def test_arrange_in_layers_positions():
    net = _net(5)
    net.arrange_in_layers([2, 3], within_layer_offset=100.0, between_layer_offset=1000.0)
    first = np.array([np.asarray(net.xyzr[3 * c])[0, :3] for c in range(5)])
    expected = [[0, -50, 0], [0, 50, 0], [1000, -100, 0], [1000, 0, 0], [1000, 100, 0]]
    np.testing.assert_allclose(first, expected)
    net.arrange_in_layers([2, 3], vertical_layers=True)
    first = np.array([np.asarray(net.xyzr[3 * c])[0, :3] for c in range(5)])
    expected = [[-250, 1500, 0], [250, 1500, 0], [-500, 0, 0], [0, 0, 0], [500, 0, 0]]
    np.testing.assert_allclose(first, expected)
    with pytest.raises(ValueError, match="add up to the number of cells"):
        net.arrange_in_layers([2, 2])


def test_derived_node_columns_follow_geometry():
    net = _net(2)
    net.cell(1).branch(2).set("radius", 2.0)
    nodes = net.nodes
    r, length = nodes["radius"].to_numpy(), nodes["length"].to_numpy()
    np.testing.assert_allclose(nodes["area"], 2 * np.pi * r * length)
    np.testing.assert_allclose(nodes["volume"], np.pi * r**2 * length)
    np.testing.assert_allclose(nodes["resistive_load_in"], length / 2 / (np.pi * r**2))
    assert (nodes["controlled_by_param"] == 0).all()
    assert net.cell(1).nodes["controlled_by_param"].unique().tolist() == [1]
    assert net.cell(1).branch(2).nodes["controlled_by_param"].unique().tolist() == [5]
    assert net.cell(1).branch(2).comp("all").nodes["controlled_by_param"].tolist() == [10, 11]


def test_swc_area_column_is_the_simulated_area():
    cell = sim.read_swc(
        Path(__file__).parents[2] / "shared/data/morphologies/morph_ca1_n120.swc", ncomp=2
    )
    nodes = cell.nodes
    cylinder = 2 * np.pi * nodes["radius"] * nodes["length"]
    np.testing.assert_allclose(nodes["area"], cylinder * nodes["area_factor"])
    assert not np.allclose(nodes["area_factor"], 1.0)  # 3-D areas differ from cylinders


def test_group_views_index_cells_within_the_group():
    net = _net(4)
    net.cell([1, 3]).add_to_group("exc")
    assert net.exc.shape == (2, 6, 12)
    assert net.exc.cell(1).nodes["global_comp_index"].tolist() == list(range(18, 24))
    assert net.exc.cell(0).branch(2).nodes["global_comp_index"].tolist() == [10, 11]
    assert net.exc.branch(1).nodes["global_comp_index"].tolist() == [8, 9, 20, 21]
    assert [c.nodes["global_cell_index"].iloc[0] for c in net.exc.cells] == [1, 3]


def test_view_copy_is_independent():
    cell = sim.Cell([sim.Branch(sim.Compartment(), 2)] * 2, parents=[-1, 0])
    copied = cell.branch(1).copy()
    copied.set("radius", 3.0)
    assert cell.nodes["radius"].tolist() == [1.0] * 4
    assert copied.nodes["radius"].tolist() == [3.0, 3.0]
    with cell.branch(0) as b:
        b.set("length", 20.0)
    assert cell.nodes["length"].tolist() == [20.0, 20.0, 10.0, 10.0]
