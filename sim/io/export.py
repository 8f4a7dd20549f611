"""``to_graph``: a module as a networkx compartment graph (Jaxley 0.14's format).

Nodes ``0..N-1`` are the compartments (global index) with every ``nodes`` column
as an attribute (``global_`` stripped, ``local_*`` dropped), ``type="comp"`` and
``xyzr`` (the compartment's share of its branch's traced points); branch points
follow as nodes ``N..`` with ``x, y, z`` and ``type="branchpoint"``. Edges:
``comp -> next comp`` within a branch, ``parent's last comp -> branch point ->
child's first comp`` for children at a branch end (``bp -> parent's first comp``
when they hang at its start, x = 0), and ``parent comp -> child's first comp``
with ``sim_parent_x`` for children attached inside a compartment (0 < x < 1,
which Jaxley's modules cannot express). Synapses (``synapses=True``) are edges
``pre -> post`` with ``type="synapse"`` and their ``edges`` row as attributes.

Graph attributes: Jaxley's (``type``, ``ncomp``, ``externals``, ...) plus
``sim_*`` entries that let :func:`sim.io.graph.from_graph` rebuild an unmodified
graph exactly (branch tree, attachment points, column order, trainables).
"""

from __future__ import annotations

import copy
import warnings

import networkx as nx
import numpy as np

__all__ = ["to_graph", "junctions"]


def junctions(branch_parents, branch_parent_x) -> list[tuple[int, int, list[int]]]:
    """Branch points of a branch tree: ``(parent branch, end (0/1), children)``,
    ordered by parent branch and end (children attached inside excluded)."""
    found: dict[tuple[int, int], list[int]] = {}
    for child, (p, x) in enumerate(zip(branch_parents, branch_parent_x)):
        if p < 0 or 0.0 < x < 1.0:
            continue
        found.setdefault((int(p), 1 if x >= 1.0 else 0), []).append(child)
    return [(p, end, found[(p, end)]) for p, end in sorted(found)]


def _node_table(module, channels: bool):
    nodes = module.nodes.copy()
    nodes = nodes.drop(columns=[c for c in nodes.columns if c.startswith("local_")])
    nodes.columns = [c.replace("global_", "") for c in nodes.columns]
    if not channels:
        for ch in module._channels:
            keys = [ch.name, *ch.channel_params, *ch.channel_states]
            nodes = nodes.drop(columns=[k for k in keys if k in nodes.columns])
    return nodes


def _branch_rows(nodes) -> list[np.ndarray]:
    branch = nodes["branch_index"].to_numpy()
    nbranches = int(branch.max()) + 1 if len(branch) else 0
    return [np.flatnonzero(branch == b) for b in range(nbranches)]


def _add_compartments(graph, module, nodes, rows_of) -> None:
    records = nodes.to_dict(orient="index")
    for i, data in records.items():
        graph.add_node(int(i), **data, type="comp")
    for b, rows in enumerate(rows_of):
        xyzr = np.asarray(module.xyzr[b], dtype=float).reshape(-1, 4)
        for k, piece in zip(rows, np.array_split(xyzr, len(rows))):
            graph.nodes[int(k)]["xyzr"] = piece
        graph.add_edges_from(zip(rows[:-1].tolist(), rows[1:].tolist()))


def _end_point(module, nodes, branch: int, end: int, rows) -> dict:
    pts = np.asarray(module.xyzr[branch], dtype=float).reshape(-1, 4)
    point = pts[-1 if end else 0, :3] if len(pts) else np.full(3, np.nan)
    if np.isnan(point).any():
        anchor = rows[-1 if end else 0]
        point = nodes.loc[anchor, ["x", "y", "z"]].to_numpy(dtype=float)
    return {"x": float(point[0]), "y": float(point[1]), "z": float(point[2])}


def _add_tree(graph, module, nodes, rows_of) -> None:
    label = len(nodes)
    for p, end, children in junctions(module.branch_parents, module.branch_parent_x):
        graph.add_node(label, **_end_point(module, nodes, p, end, rows_of[p]), type="branchpoint")
        if end:
            graph.add_edge(int(rows_of[p][-1]), label)
        else:
            graph.add_edge(label, int(rows_of[p][0]))
        for c in children:
            graph.add_edge(label, int(rows_of[c][0]))
        label += 1
    for c, (p, x) in enumerate(zip(module.branch_parents, module.branch_parent_x)):
        if p >= 0 and 0.0 < x < 1.0:
            prow = rows_of[p]
            anchor = int(prow[min(int(x * len(prow)), len(prow) - 1)])
            graph.add_edge(anchor, int(rows_of[c][0]), sim_parent_x=float(x))


def _add_synapses(graph, module) -> None:
    edges = module.edges.copy()
    pairs = edges[["pre_index", "post_index"]]
    dupl = pairs.duplicated(keep=False)
    if dupl.any():
        warnings.warn(
            f"Synapses {edges.index[dupl].tolist()} connect the same compartments; a graph "
            "holds one edge per pair of compartments, so only the last one is kept.",
            UserWarning,
            stacklevel=3,
        )
    for _, row in edges.iterrows():
        data = row.to_dict()
        i, j = int(data.pop("pre_index")), int(data.pop("post_index"))
        data["syn_type"] = data.pop("type")
        if graph.has_edge(i, j) and graph.edges[i, j].get("type") != "synapse":
            raise ValueError(
                f"A synapse connects compartments {i} and {j}, which are also axially "
                "connected; a graph holds one edge per pair, so it cannot be exported."
            )
        graph.add_edge(i, j, **data, type="synapse")
    graph.graph["synapses"] = list(module.synapses)
    graph.graph["synapse_param_names"] = module.synapse_param_names
    graph.graph["synapse_state_names"] = module.synapse_state_names
    graph.graph["synapse_names"] = module.synapse_names
    graph.graph["synapse_current_names"] = module.synapse_current_names
    graph.graph["sim_edge_columns"] = list(module.edges.columns)


def _graph_attributes(graph, module, nodes, channels: bool) -> None:
    g = graph.graph
    g["type"] = type(module).__name__.lower()
    g["ncomp"] = module.ncomp
    g["externals"] = copy.deepcopy(module.externals)
    g["external_inds"] = copy.deepcopy(module.external_inds)
    g["recordings"] = module.recordings.copy()
    g["trainable_params"] = module.trainable_params
    g["indices_set_by_trainables"] = module.indices_set_by_trainables
    g["group_names"] = list(module.group_names)
    if channels:
        g["channels"] = list(module._channels)
        g["membrane_current_names"] = [c.current_name for c in module._channels]
    g["sim_layout"] = {
        "branch": nodes["branch_index"].to_numpy().copy(),
        "cell": nodes["cell_index"].to_numpy().copy(),
        "branch_parents": np.asarray(module.branch_parents, dtype=int).copy(),
        "branch_parent_x": np.asarray(module.branch_parent_x, dtype=float).copy(),
        "edges": sorted((int(i), int(j)) for i, j, t in graph.edges(data="type") if t is None),
    }
    dropped = set()
    if not channels:
        for ch in module._channels:
            dropped |= {ch.name, *ch.channel_params, *ch.channel_states}
    g["sim_node_columns"] = [c for c in module.nodes.columns if c not in dropped]
    g["sim_node_dtypes"] = {c: str(t) for c, t in module.nodes.dtypes.items() if c not in dropped}
    g["sim_from_swc"] = bool(getattr(module, "_from_swc", False))
    g["sim_trainables"] = copy.deepcopy(module.trainables)
    g["sim_diffusion_states"] = list(module._diffusion_states)


def to_graph(module, synapses: bool = False, channels: bool = False) -> nx.DiGraph:
    """Export a module (or a view, as a new module) as a compartment graph.

    Args:
        module: A `Compartment`, `Branch`, `Cell`, `Network` or a view of one.
        synapses: Also export the synapses (edges ``type="synapse"``, one per pair of
            compartments) and the synapse objects (graph attribute ``synapses``).
        channels: Also export the inserted mechanisms (graph attribute ``channels``)
            and their columns; without it the graph has no mechanism columns.

    Returns:
        A ``networkx.DiGraph`` in the format of Jaxley's ``to_graph`` (see the
        module docstring); :func:`sim.io.graph.from_graph` turns it back into a
        module, exactly if it was not changed structurally.
    """
    from sim.modules.module import Module
    from sim.modules.view import View

    if isinstance(module, View):
        module = module.copy(as_module=True)
    if not isinstance(module, Module):
        raise TypeError(f"to_graph() needs a sim module or view, got {type(module).__name__}.")
    nodes = _node_table(module, channels)
    rows_of = _branch_rows(nodes)
    graph = nx.DiGraph()
    _add_compartments(graph, module, nodes, rows_of)
    _add_tree(graph, module, nodes, rows_of)
    _graph_attributes(graph, module, nodes, channels)
    if synapses:
        _add_synapses(graph, module)
    return graph
