"""Editing morphologies: deleting branches of a cell and joining two cells.

Both work like Jaxley's ``morph_delete`` / ``morph_connect``: the cell is exported as
a compartment graph (:func:`sim.io.graph.to_graph`), edited, and read back with
:func:`sim.io.graph.from_graph`, which numbers branches and compartments by
Jaxley's depth-first traversal from the original root compartment.
"""

from __future__ import annotations

import numpy as np

__all__ = ["morph_delete", "morph_connect"]


def _check_cell(view, name: str) -> None:
    from sim.modules.cell import Cell
    from sim.modules.module import Module

    if not isinstance(view, Module):
        raise TypeError(f"{name} must be a view of a sim Cell, got {type(view).__name__}.")
    base = view.base
    if not isinstance(base, Cell):
        raise ValueError(
            f"{name} is part of a {type(base).__name__}; morphologies can only be edited "
            "in a Cell (edit the cells before building a Network)."
        )
    problems = []
    if len(base.recordings):
        problems.append(f"{len(base.recordings)} recordings (run delete_recordings())")
    if any(np.size(v) for v in base.external_inds.values()):
        problems.append("stimuli or clamps (run delete_stimuli() / delete_clamps())")
    if base.trainables:
        problems.append(f"{len(base.trainables)} trainable parameters (run delete_trainables())")
    if problems:
        raise ValueError(f"Cannot edit the morphology of a cell with {', '.join(problems)}.")


def _with_coordinates(base):
    """A copy of the cell with traced points and compartment centres."""
    cell = base.copy()
    if any(np.isnan(np.asarray(x, dtype=float)[:, :3]).any() for x in cell.xyzr):
        cell.compute_xyz()
    if cell.nodes[["x", "y", "z"]].isna().to_numpy().any():
        cell.compute_compartment_centers()
    return cell


def morph_delete(module_view):
    """A new cell without the compartments of `module_view` (usually whole branches).

    Args:
        module_view: A view of a `Cell`, e.g. ``cell.branch([3, 4])`` or ``cell.axon``.

    Returns:
        A new `Cell` (the input is not changed), renumbered by depth-first traversal
        from the root compartment; channels, values and groups are kept.

    Raises:
        ValueError if the view is not of a `Cell`, the cell has recordings, stimuli
        or trainables, the view holds every compartment, or the rest would fall
        apart into several pieces (e.g. deleting the soma of a cell).
    """
    import networkx as nx

    from sim.io.graph import from_graph, to_graph

    _check_cell(module_view, "module_view")
    base = module_view.base
    doomed = set(np.asarray(module_view._sel, dtype=int).tolist())
    if len(doomed) == len(base.nodes):
        raise ValueError("morph_delete would delete every compartment of the cell.")
    graph = to_graph(_with_coordinates(base), channels=True)
    keep = [n for n, t in graph.nodes(data="type") if t != "comp" or n not in doomed]
    sub = graph.subgraph(keep).copy()
    core = [n for n in sub.nodes if sub.nodes[n]["type"] == "comp" or sub.degree(n) > 1]
    pieces = nx.number_weakly_connected_components(sub.subgraph(core))
    if pieces > 1:
        raise ValueError(
            f"Deleting these {len(doomed)} compartments splits the cell into {pieces} "
            "disconnected pieces; delete whole subtrees (not the branches joining them)."
        )
    return from_graph(sub)


def _junction_node(graph, comp: int):
    """The branch point next to compartment `comp` (largest name), else `comp` itself."""
    bps = [n for n in graph.predecessors(comp) if graph.nodes[n]["type"] == "branchpoint"]
    bps += [n for n in graph.successors(comp) if graph.nodes[n]["type"] == "branchpoint"]
    return max(bps) if bps else comp


def morph_connect(module_view1, module_view2):
    """Join two cells into one at two locations.

    Args:
        module_view1: One compartment of a `Cell`, e.g. ``cell.branch(5).loc(1.0)``:
            if a branch point is next to it (``loc(0.0)`` of a child branch,
            ``loc(1.0)`` of a branch with children) the cells join there, else at the
            compartment (a tip).
        module_view2: The same for the second cell, which is moved so that the two
            locations meet.

    Returns:
        A new `Cell` made of both (the inputs are not changed).

    Raises:
        ValueError if a view is not one compartment of a `Cell`, or a cell has
        recordings, stimuli or trainable parameters.
    """
    from sim.io.graph import connect_graphs, from_graph, to_graph

    nodes = []
    graphs = []
    for name, view in (("module_view1", module_view1), ("module_view2", module_view2)):
        _check_cell(view, name)
        sel = np.asarray(view._sel, dtype=int)
        if view.base is view or len(sel) != 1:
            raise ValueError(
                f"{name} must be a single compartment of a cell, e.g. "
                "cell.branch(0).loc(0.0); got {len(sel)} compartments."
            )
        graph = to_graph(_with_coordinates(view.base), channels=True)
        graphs.append(graph)
        nodes.append(_junction_node(graph, int(sel[0])))
    combined = connect_graphs(graphs[0], graphs[1], nodes[0], nodes[1])
    return from_graph(combined)
