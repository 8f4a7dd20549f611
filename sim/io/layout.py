"""Which compartment of a compartment graph becomes which compartment of a module.

A :class:`Layout` lists the graph's compartment nodes in the module's order, with
their branch and cell, whether each is traversed against its traced direction
(``flipped``), and the branch tree (parent branch and attachment point ``x``).
Three ways to get one:

* :func:`exact_layout`: a graph made by :func:`sim.io.graph.to_graph` and not
  changed structurally keeps the module's own numbering and tree.
* :func:`traversed_layout`: Jaxley's depth-first numbering from a root (per
  connected cell): a new branch starts after every tip and branch point.
* :func:`given_layout`: trust the graph's node names and ``branch_index``.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from sim.io.swc_graph import first_tip, sorted_dfs_edges

__all__ = ["Layout", "exact_layout", "traversed_layout", "given_layout", "skeleton"]


@dataclass
class Layout:
    order: list
    branch: np.ndarray
    cell: np.ndarray
    flipped: np.ndarray
    parents: np.ndarray
    parent_x: np.ndarray
    exact: bool = False


def is_comp(graph, node) -> bool:
    return graph.nodes[node].get("type") == "comp"


def skeleton(graph: nx.DiGraph) -> nx.Graph:
    """The undirected axial graph (synapse edges left out); ``mid`` marks edges to a
    child attached inside a compartment."""
    skel = nx.Graph()
    skel.add_nodes_from(graph.nodes)
    for i, j, data in graph.edges(data=True):
        if data.get("type") != "synapse":
            skel.add_edge(i, j, mid="sim_parent_x" in data)
    return skel


def exact_layout(graph: nx.DiGraph) -> Layout | None:
    """The module's own layout if `graph` is an unmodified ``to_graph`` export."""
    meta = graph.graph.get("sim_layout")
    if not isinstance(meta, dict):
        return None
    n = len(meta["branch"])
    comps = sorted(node for node in graph.nodes if is_comp(graph, node))
    if comps != list(range(n)):
        return None
    if [graph.nodes[k].get("branch_index") for k in comps] != list(meta["branch"]):
        return None
    edges = sorted((int(i), int(j)) for i, j, t in graph.edges(data="type") if t != "synapse")
    if edges != meta["edges"]:
        return None
    return Layout(
        order=comps,
        branch=np.asarray(meta["branch"], dtype=int),
        cell=np.asarray(meta["cell"], dtype=int),
        flipped=np.zeros(n, dtype=bool),
        parents=np.asarray(meta["branch_parents"], dtype=int),
        parent_x=np.asarray(meta["branch_parent_x"], dtype=float),
        exact=True,
    )


# ----------------------------------------------------------------------------- traversal
def _default_root(graph, component: set):
    """The original root compartment of a ``to_graph`` export, else the first tip."""
    meta = graph.graph.get("sim_layout")
    if isinstance(meta, dict):
        branch = np.asarray(meta["branch"])
        roots = np.flatnonzero(np.asarray(meta["branch_parents"]) < 0)
        firsts = [int(np.flatnonzero(branch == b)[0]) for b in roots if (branch == b).any()]
        for node in firsts:
            if node in component and is_comp(graph, node):
                return node
    sub = graph.subgraph(component).to_undirected(as_view=True)
    return first_tip(sub)


class _Walk:
    """Depth-first numbering state across the cells of a graph."""

    def __init__(self, graph, skel):
        self.graph, self.skel = graph, skel
        self.order: list = []
        self.branch: dict = {}
        self.cell: dict = {}
        self.parent: dict = {}
        self.next_branch = 0

    def run(self, root, cell: int) -> None:
        skel, graph = self.skel, self.graph
        b = self.next_branch
        self.branch[root], self.cell[root] = b, cell
        if is_comp(graph, root):
            self.order.append(root)
        if skel.degree(root) == 0:
            b += 1

        def key(parent, node):
            return (skel.edges[parent, node]["mid"], node)

        for i, j in sorted_dfs_edges(skel, root, key=key):
            if skel.edges[i, j]["mid"] and b == self.branch[i]:
                b += 1
            self.branch[j], self.cell[j], self.parent[j] = b, cell, i
            if is_comp(graph, j):
                self.order.append(j)
            if skel.degree(j) < 2 or not is_comp(graph, j):
                b += 1
        self.next_branch = max(b, max(self.branch.values()) + 1)


def _reversed(graph, child, parent) -> bool:
    return graph.has_edge(child, parent) and not graph.has_edge(parent, child)


def _flips(graph, walk: _Walk) -> np.ndarray:
    first_child: dict = {}
    for j, i in walk.parent.items():
        first_child.setdefault(i, j)
    flips = []
    for node in walk.order:
        if node in walk.parent:
            flips.append(_reversed(graph, node, walk.parent[node]))
        else:
            child = first_child.get(node)
            flips.append(child is not None and _reversed(graph, child, node))
    return np.asarray(flips, dtype=bool)


def _end_facing(graph, comp, bp, flipped: bool, is_last: bool) -> float:
    """1.0 if branch point `bp` sits at the distal end of `comp`, 0.0 if proximal."""
    if graph.has_edge(comp, bp) != graph.has_edge(bp, comp):
        distal = graph.has_edge(comp, bp)
        return float(distal != flipped)
    return 1.0 if is_last else 0.0


def _mid_x(graph, anchor, child, pos: int, n: int, flipped: bool) -> float:
    stored = (
        graph.edges[anchor, child].get("sim_parent_x") if graph.has_edge(anchor, child) else None
    )
    if stored is not None:
        x = 1.0 - float(stored) if flipped else float(stored)
        if min(int(x * n), n - 1) == pos and 0.0 < x < 1.0:
            return x
    return (pos + 0.5) / n


def _tree(graph, layout_order, branch, flipped, parent_of) -> tuple[np.ndarray, np.ndarray]:
    """Parent branch and attachment point of every branch from the walk's tree."""
    index = {node: k for k, node in enumerate(layout_order)}
    nbranches = int(branch.max()) + 1 if len(branch) else 0
    rows = [np.flatnonzero(branch == b) for b in range(nbranches)]
    parents = np.full(nbranches, -1, dtype=int)
    xs = np.ones(nbranches)
    for b, r in enumerate(rows):
        first = layout_order[r[0]]
        p = parent_of.get(first)
        bp = None
        while p is not None and not is_comp(graph, p):
            bp, p = p, parent_of.get(p)
        if p is None:
            continue
        k = index[p]
        pb = int(branch[k])
        prow = rows[pb]
        pos = int(np.flatnonzero(prow == k)[0])
        parents[b] = pb
        if bp is not None:
            xs[b] = _end_facing(graph, p, bp, bool(flipped[k]), pos == len(prow) - 1)
        else:
            xs[b] = _mid_x(graph, p, first, pos, len(prow), bool(flipped[k]))
    return parents, xs


def traversed_layout(graph: nx.DiGraph, solve_root=None) -> Layout:
    """Jaxley's depth-first numbering (each connected cell separately)."""
    skel = skeleton(graph)
    parts = sorted(nx.connected_components(skel), key=lambda c: min(c))
    if solve_root is not None:
        if solve_root not in graph or not is_comp(graph, solve_root):
            raise ValueError(f"solve_root={solve_root!r} is not a compartment node of the graph.")
    walk = _Walk(graph, skel)
    cell = 0
    for part in parts:
        if not any(is_comp(graph, n) for n in part):
            continue
        root = solve_root if solve_root in part else _default_root(graph, part)
        walk.run(root, cell)
        cell += 1
    order = walk.order
    branch = np.asarray([walk.branch[n] for n in order], dtype=int)
    _, branch = np.unique(branch, return_inverse=True)
    flipped = _flips(graph, walk)
    parents, xs = _tree(graph, order, branch, flipped, walk.parent)
    cells = np.asarray([walk.cell[n] for n in order], dtype=int)
    return Layout(order, branch, cells, flipped, parents, xs)


# ----------------------------------------------------------------------------- as given
def _given_parent_map(graph, order, branch) -> dict:
    """Tree parent of every first compartment, read from the edge directions."""
    index = {node: k for k, node in enumerate(order)}
    parent_of: dict = {}
    axial = [(i, j) for i, j, t in graph.edges(data="type") if t != "synapse"]
    preds: dict = {}
    for i, j in axial:
        preds.setdefault(j, []).append(i)
    for node in graph.nodes:
        if is_comp(graph, node):
            continue
        succ = [j for j in graph.successors(node) if graph.edges[node, j].get("type") != "synapse"]
        before = preds.get(node, [])
        if before:
            parent_of[node], children = before[0], succ
        elif succ:
            anchor = min(succ, key=lambda j: branch[index[j]])
            parent_of[node], children = anchor, [j for j in succ if j != anchor]
        else:
            continue
        for j in children:
            parent_of[j] = node
    for i, j in axial:
        if is_comp(graph, i) and is_comp(graph, j) and branch[index[i]] != branch[index[j]]:
            parent_of[j] = i
    return parent_of


def given_layout(graph: nx.DiGraph) -> Layout:
    """Trust the graph: compartments in node order, their ``branch_index``/``cell_index``."""
    order = sorted(n for n in graph.nodes if is_comp(graph, n))
    missing = [n for n in order if "branch_index" not in graph.nodes[n]]
    if missing:
        raise ValueError(
            f"Compartment nodes {missing[:5]} have no 'branch_index'; use "
            "traverse_for_solve_order=True to number the graph."
        )
    branch = np.asarray([graph.nodes[n]["branch_index"] for n in order], dtype=int)
    if np.any(np.diff(branch) < 0) or np.any(np.diff(np.unique(branch)) != 1) or branch[0] != 0:
        raise ValueError(
            "With traverse_for_solve_order=False the compartments (sorted by node name) "
            "must have branch_index 0, 1, 2, ... in contiguous blocks; use "
            "traverse_for_solve_order=True instead."
        )
    cells = np.asarray([graph.nodes[n].get("cell_index", 0) for n in order], dtype=int)
    flipped = np.zeros(len(order), dtype=bool)
    parent_of = _given_parent_map(graph, order, branch)
    parents, xs = _tree(graph, order, branch, flipped, parent_of)
    return Layout(order, branch, cells, flipped, parents, xs)
