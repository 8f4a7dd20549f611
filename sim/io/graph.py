"""Compartment graphs (networkx) <-> modules, with Jaxley 0.14's functions and format.

* :func:`to_swc_graph`, :func:`build_compartment_graph`: an SWC file as a graph and
  its compartmentalisation (Jaxley's branch tracing and truncated-cone geometry).
* :func:`from_graph`: a module from a compartment graph (ours or Jaxley's).
* :func:`to_graph`: a module as a compartment graph.
* :func:`connect_graphs`: join two compartment graphs at two nodes.
* :func:`vis_compartment_graph`: draw a compartment graph with matplotlib.

``from_graph(to_graph(module, channels=True, synapses=True))`` rebuilds the module
exactly (same numbering, geometry, mechanisms, values, groups, synapses, stimuli,
recordings and trainables) as long as the graph was not changed structurally;
otherwise the graph is numbered by Jaxley's depth-first traversal.
"""

from __future__ import annotations

import copy

import networkx as nx
import numpy as np

from sim.io.build import assemble
from sim.io.export import to_graph
from sim.io.layout import exact_layout, given_layout, traversed_layout
from sim.io.swc_graph import build_compartment_graph, to_swc_graph

__all__ = [
    "build_compartment_graph",
    "connect_graphs",
    "from_graph",
    "to_graph",
    "to_swc_graph",
    "vis_compartment_graph",
]


def _check_graph(comp_graph) -> None:
    if not isinstance(comp_graph, nx.DiGraph):
        raise TypeError(
            f"comp_graph must be a networkx.DiGraph (from build_compartment_graph or "
            f"to_graph), got {type(comp_graph).__name__}."
        )
    bad = [n for n, t in comp_graph.nodes(data="type") if t not in ("comp", "branchpoint")]
    if bad:
        raise ValueError(
            f"Nodes {bad[:5]} have no type 'comp' or 'branchpoint'; a compartment graph "
            "comes from build_compartment_graph() or to_graph()."
        )


def _drop_tip_branchpoints(graph: nx.DiGraph) -> nx.DiGraph:
    """Branch points with fewer than two axial neighbours (left by editing)."""
    keep = []
    for node, kind in graph.nodes(data="type"):
        axial = [
            n
            for n in nx.all_neighbors(graph, node)
            if (graph.edges[node, n] if graph.has_edge(node, n) else graph.edges[n, node]).get(
                "type"
            )
            != "synapse"
        ]
        if kind == "comp" or len(set(axial)) > 1:
            keep.append(node)
    if len(keep) == graph.number_of_nodes():
        return graph
    sub = graph.subgraph(keep).copy()
    sub.graph.update(graph.graph)
    return sub


def from_graph(
    comp_graph: nx.DiGraph,
    assign_groups: bool = True,
    solve_root=None,
    traverse_for_solve_order: bool = True,
):
    """Build a module (`Cell`, or `Network` for several cells) from a compartment graph.

    Args:
        comp_graph: A graph from :func:`build_compartment_graph` or :func:`to_graph`
            (also Jaxley's), possibly edited (e.g. with :func:`connect_graphs`).
        assign_groups: Turn the ``groups`` node attribute (lists of names) into
            groups. Boolean group columns listed in the graph's ``group_names``
            are always kept.
        solve_root: Compartment node to start the numbering from (default: the
            original root compartment of a ``to_graph`` export, else the first tip).
        traverse_for_solve_order: Number compartments and branches by a depth-first
            traversal (Jaxley's order). False takes node names and ``branch_index``
            as they are.

    Returns:
        The module. Compartment geometry: ``length`` and ``radius`` (µm) from the
        nodes; the membrane area and the two half-compartment axial resistances
        reproduce the graph's ``area`` (µm²) and ``resistive_load_in``/``_out``
        (1/µm) through the geometry factors of ``nodes``. A graph exported by
        :func:`to_graph` and not changed structurally is rebuilt exactly in its
        own order (unless ``solve_root`` is given).

    Raises:
        TypeError / ValueError for something that is not a compartment graph or an
        inconsistent numbering with ``traverse_for_solve_order=False``.
    """
    _check_graph(comp_graph)
    layout = exact_layout(comp_graph) if solve_root is None else None
    graph = comp_graph
    if layout is None:
        graph = _drop_tip_branchpoints(comp_graph)
        if traverse_for_solve_order:
            layout = traversed_layout(graph, solve_root)
        else:
            layout = given_layout(graph)
    return assemble(graph, layout, assign_groups=assign_groups)


# ----------------------------------------------------------------------------- editing
def _mark_missing_flags(source: nx.DiGraph, target: nx.DiGraph) -> None:
    """Set False in `target` for every group and mechanism flag of `source`."""
    names = list(source.graph.get("group_names", []) or [])
    names += [getattr(c, "name", type(c).__name__) for c in source.graph.get("channels", []) or []]
    for _, data in target.nodes(data=True):
        for name in names:
            data.setdefault(name, False)


def _coordinate(graph: nx.DiGraph, node, axis: int) -> float:
    data = graph.nodes[node]
    if data["type"] == "branchpoint":
        return float(data["xyz"[axis]])
    xyzr = np.asarray(data["xyzr"], dtype=float).reshape(-1, 4)
    if len(xyzr) == 0:
        return float(data["xyz"[axis]])
    return float(xyzr[-1 if graph.in_degree(node) == 1 else 0, axis])


def _merge_graph_attributes(combined, graph1, graph2) -> None:
    for key in set(graph1.graph) | set(graph2.graph):
        v1, v2 = graph1.graph.get(key), graph2.graph.get(key)
        if isinstance(v1, list) and isinstance(v2, list):
            combined.graph[key] = v1 + v2
        else:
            combined.graph[key] = v2 if key in graph2.graph else v1
    groups = list(graph1.graph.get("group_names", []) or [])
    groups += [g for g in graph2.graph.get("group_names", []) or [] if g not in groups]
    combined.graph["group_names"] = groups
    cols = combined.graph.get("sim_node_columns")
    if cols is not None:
        combined.graph["sim_node_columns"] = list(dict.fromkeys(cols))
    for key in ("sim_layout", "sim_trainables"):
        combined.graph.pop(key, None)


def _join(combined, node1, node2) -> None:
    type1, type2 = combined.nodes[node1]["type"], combined.nodes[node2]["type"]
    if type1 == "comp" and type2 == "comp":
        template = next((d for _, d in combined.nodes(data=True) if d["type"] == "branchpoint"), {})
        attrs = {**copy.deepcopy(template), "type": "branchpoint"}
        for key in "xyz":
            a, b = combined.nodes[node1].get(key, np.nan), combined.nodes[node2].get(key, np.nan)
            attrs[key] = 0.5 * (float(a) + float(b))
        new = max(combined.nodes) + 1
        combined.add_node(new, **attrs)
        combined.add_edge(node1, new)
        combined.add_edge(new, node2)
    elif type1 == "comp" or type2 == "comp":
        combined.add_edge(node1, node2)
    else:
        for i in list(combined.predecessors(node2)):
            combined.add_edge(i, node1, **combined.edges[i, node2])
        for j in list(combined.successors(node2)):
            combined.add_edge(node1, j, **combined.edges[node2, j])
        combined.remove_node(node2)


def connect_graphs(graph1: nx.DiGraph, graph2: nx.DiGraph, node1, node2) -> nx.DiGraph:
    """Join two compartment graphs: `graph2` is moved so that `node2` meets `node1`.

    Two compartments are joined through a new branch point, a compartment and a
    branch point by an edge, and two branch points are merged into `node1`. Nodes
    of `graph2` are renamed after those of `graph1`; in the result compartments
    come first (``0..N-1``), branch points after. Neither input is modified.

    Raises:
        ValueError if `node1` / `node2` is not a node of its graph.
    """
    for graph, node, name in ((graph1, node1, "node1"), (graph2, node2, "node2")):
        _check_graph(graph)
        if node not in graph:
            raise ValueError(f"{name}={node!r} is not a node of its graph.")
    graph1, graph2 = copy.deepcopy(graph1), copy.deepcopy(graph2)
    _mark_missing_flags(graph1, graph2)
    _mark_missing_flags(graph2, graph1)
    for axis, key in enumerate("xyz"):
        offset = _coordinate(graph1, node1, axis) - _coordinate(graph2, node2, axis)
        for _, data in graph2.nodes(data=True):
            data[key] = float(data.get(key, np.nan)) + offset
            if data["type"] == "comp" and data.get("xyzr") is not None:
                data["xyzr"] = np.asarray(data["xyzr"], dtype=float).reshape(-1, 4).copy()
                data["xyzr"][:, axis] += offset
    shift = max(graph1.nodes) + 1
    graph2 = nx.relabel_nodes(graph2, {n: n + shift for n in graph2.nodes})
    combined = nx.compose(graph1, graph2)
    _merge_graph_attributes(combined, graph1, graph2)
    _join(combined, node1, node2 + shift)
    comps = sorted(n for n, t in combined.nodes(data="type") if t == "comp")
    bps = sorted(n for n, t in combined.nodes(data="type") if t != "comp")
    mapping = {n: k for k, n in enumerate(comps + bps)}
    return nx.relabel_nodes(combined, mapping)


# ----------------------------------------------------------------------------- drawing
def vis_compartment_graph(
    comp_graph: nx.DiGraph,
    ax=None,
    font_size: float = 7.0,
    node_size: float = 150.0,
    arrowsize: float = 10.0,
    comp_color: str = "r",
    branchpoint_color: str = "orange",
):
    """Draw a compartment graph at the nodes' ``x``/``y`` positions (µm).

    Args:
        comp_graph: Graph from :func:`build_compartment_graph` or :func:`to_graph`.
        ax: Matplotlib axis (a new 4x4 inch figure if None).
        font_size: Font size of the node names.
        node_size: Marker size of the nodes.
        arrowsize: Size of the edge arrows.
        comp_color: Colour of compartment nodes.
        branchpoint_color: Colour of branch-point nodes.

    Returns:
        The matplotlib axis.
    """
    import matplotlib.pyplot as plt

    _check_graph(comp_graph)
    colors = [
        comp_color if t == "comp" else branchpoint_color for _, t in comp_graph.nodes(data="type")
    ]
    pos = {
        n: (float(d.get("x", np.nan)), float(d.get("y", np.nan)))
        for n, d in comp_graph.nodes(data=True)
    }
    if any(not np.isfinite(p).all() for p in pos.values()):
        raise ValueError(
            "Some nodes have no x/y coordinates; run module.compute_xyz() and "
            "module.compute_compartment_centers() before to_graph()."
        )
    if ax is None:
        _, ax = plt.subplots(1, 1, figsize=(4, 4))
    nx.draw(
        comp_graph, pos=pos, with_labels=True, font_size=font_size, node_size=node_size,
        ax=ax, node_color=colors, arrowsize=arrowsize,
    )  # fmt: skip
    return ax
