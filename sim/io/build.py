"""Building a module from a compartment graph and a :class:`~sim.io.layout.Layout`."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd

from sim.io.layout import Layout

__all__ = ["assemble"]

#: Node attributes that are structure or derived geometry, not ``nodes`` columns.
_RESERVED = {
    "type", "xyzr", "groups", "branch_index", "comp_index", "cell_index", "area", "volume",
    "resistive_load_in", "resistive_load_out", "controlled_by_param", "id", "l", "p", "r",
    "recordings", "externals", "external_inds", "trainable",
}  # fmt: skip
_FACTORS = ("area_factor", "ri_lower_factor", "ri_upper_factor")


def _geometry_factors(data: dict, flipped: bool) -> tuple[float, float, float]:
    """Area and half-resistance factors relative to a cylinder of ``radius``/``length``."""
    length, radius = float(data.get("length", 10.0)), float(data.get("radius", 1.0))
    if all(f in data for f in _FACTORS):
        area, low, up = (float(data[f]) for f in _FACTORS)
    else:
        cyl_area = 2.0 * np.pi * radius * length
        half = (length / 2.0) / (np.pi * radius**2)
        area = float(data["area"]) / cyl_area if "area" in data else 1.0
        low = float(data["resistive_load_in"]) / half if "resistive_load_in" in data else 1.0
        up = float(data["resistive_load_out"]) / half if "resistive_load_out" in data else 1.0
    return (area, up, low) if flipped else (area, low, up)


def _channels(graph, present: set) -> list:
    found: dict[str, object] = {}
    for ch in graph.graph.get("channels", []) or []:
        name = getattr(ch, "name", type(ch).__name__)
        if name not in present:
            continue
        if name in found and type(found[name]) is not type(ch):
            raise ValueError(
                f"The graph holds two different mechanisms named {name!r}; rename one."
            )
        found.setdefault(name, ch)
    return list(found.values())


def _columns(graph, layout: Layout, assign_groups: bool) -> tuple[dict, list, list]:
    """Column arrays of the new ``nodes`` table, the group names and the channels."""
    rows = [graph.nodes[n] for n in layout.order]
    keys = list(dict.fromkeys(k for d in rows for k in d if k not in _RESERVED))
    keys = [k for k in keys if not k.startswith("local_") and not k.startswith("global_")]
    groups = [g for g in graph.graph.get("group_names", []) or [] if g in keys]
    if assign_groups:
        for d in rows:
            groups += [g for g in d.get("groups", []) or [] if g not in groups]
    channels = _channels(graph, set(keys))
    flags = set(groups) | {ch.name for ch in channels}
    cols: dict[str, np.ndarray] = {}
    for key in keys:
        default = False if key in flags else np.nan
        values = [d.get(key, default) for d in rows]
        cols[key] = np.asarray(values, dtype=bool) if key in flags else np.asarray(values)
    for g in groups:
        if g not in cols:
            cols[g] = np.zeros(len(rows), dtype=bool)
        if assign_groups:
            cols[g] = cols[g] | np.array([g in (d.get("groups") or []) for d in rows], bool)
    factors = np.array([_geometry_factors(d, f) for d, f in zip(rows, layout.flipped)])
    for k, name in enumerate(_FACTORS):
        cols[name] = factors[:, k].reshape(-1)
    return cols, groups, channels


def _node_table(graph, layout: Layout, cols: dict) -> pd.DataFrame:
    from sim.modules.module import Module

    n = len(layout.order)
    _, cells = np.unique(layout.cell, return_inverse=True)
    nodes = pd.DataFrame(cols, index=pd.RangeIndex(n))
    nodes["global_cell_index"] = cells.reshape(-1).astype(np.int64)
    nodes["global_branch_index"] = layout.branch.astype(np.int64)
    nodes["global_comp_index"] = np.arange(n, dtype=np.int64)
    for key, value in {**Module.compartment_params, **Module.compartment_states}.items():
        if key not in nodes:
            nodes[key] = value
    for key in ("x", "y", "z"):
        if key not in nodes:
            nodes[key] = np.nan
    dtypes = graph.graph.get("sim_node_dtypes", {}) or {}
    for c, t in dtypes.items():
        if c in nodes and str(nodes[c].dtype) != t:
            try:
                nodes[c] = nodes[c].astype(t)
            except (TypeError, ValueError):
                pass
    order = [c for c in graph.graph.get("sim_node_columns", []) or []]
    for c in order:
        if c not in nodes:
            nodes[c] = 0  # index and derived columns: recomputed by _finalize
    front = [c for c in order if c in nodes]
    return nodes.reindex(columns=front + [c for c in nodes.columns if c not in front])


def _branch_xyzr(graph, layout: Layout) -> list[np.ndarray]:
    nbranches = int(layout.branch.max()) + 1 if len(layout.branch) else 0
    out = []
    for b in range(nbranches):
        pieces = []
        for k in np.flatnonzero(layout.branch == b):
            piece = graph.nodes[layout.order[k]].get("xyzr")
            piece = np.full((0, 4), np.nan) if piece is None else np.asarray(piece, float)
            piece = piece.reshape(-1, 4)
            pieces.append(piece[::-1] if layout.flipped[k] else piece)
        xyzr = np.concatenate(pieces) if pieces else np.zeros((0, 4))
        out.append(xyzr if len(xyzr) else np.full((1, 4), np.nan))
    return out


def _module_class(graph, layout: Layout):
    from sim.modules.branch import Branch
    from sim.modules.cell import Cell
    from sim.modules.compartment import Compartment
    from sim.modules.network import Network

    ncells = len(np.unique(layout.cell))
    nbranches = int(layout.branch.max()) + 1
    kind = str(graph.graph.get("type", "cell")).lower()
    if ncells > 1:
        return Network
    if kind == "compartment" and len(layout.order) == 1:
        return Compartment
    if kind == "branch" and nbranches == 1:
        return Branch
    if kind == "network":
        return Network
    return Cell


def _restore_io(module, graph, layout: Layout) -> None:
    """Stimuli, recordings and trainables (only meaningful if the numbering is kept)."""
    g = graph.graph
    stored = [g.get("externals"), g.get("sim_trainables"), g.get("trainable_params")]
    recs = g.get("recordings")
    has_io = any(bool(x) for x in stored) or (recs is not None and len(recs) > 0)
    if not has_io:
        return
    if not layout.exact:
        warnings.warn(
            "The graph's stimuli, recordings and trainable parameters refer to the old "
            "compartment numbering and were not restored; add them to the new module.",
            UserWarning,
            stacklevel=4,
        )
        return
    keys = set(module.nodes.columns)
    module.externals = {k: np.array(v) for k, v in (g.get("externals") or {}).items()}
    module.external_inds = {k: np.array(v) for k, v in (g.get("external_inds") or {}).items()}
    if recs is not None and len(recs) > 0:
        module.recordings = recs[recs["state"].isin(keys | _edge_keys(module))].copy()
        module.recordings = module.recordings.reset_index(drop=True)
    trainables = copy.deepcopy(g.get("sim_trainables") or [])
    module.trainables = [t for t in trainables if t["key"] in keys | _edge_keys(module)]


def _edge_keys(module) -> set:
    keys = set(module.edges.columns)
    return keys | {f"i_{s.name}" for s in module._synapses} | set(module.membrane_current_names)


def _restore_synapses(module, graph, layout: Layout) -> None:
    from sim.modules.edges import EDGE_INDEX_COLUMNS

    edges = [(i, j, d) for i, j, d in graph.edges(data=True) if d.get("type") == "synapse"]
    if not edges:
        return
    index = {node: k for k, node in enumerate(layout.order)}
    rows = []
    for i, j, data in edges:
        if i not in index or j not in index:
            continue
        row = {k: v for k, v in data.items() if k not in ("type", "l")}
        row["type"] = row.pop("syn_type", None)
        if "edge_index" in row:
            row["global_edge_index"] = row.pop("edge_index")
        rows.append({"pre_index": index[i], "post_index": index[j], **row})
    table = pd.DataFrame(rows)
    if "global_edge_index" in table:
        table = table.sort_values("global_edge_index", kind="stable")
    table = table.reset_index(drop=True)
    table["global_edge_index"] = np.arange(len(table))
    columns = graph.graph.get("sim_edge_columns") or list(EDGE_INDEX_COLUMNS)
    front = [c for c in columns if c in table]
    table = table[front + [c for c in table.columns if c not in front]]
    for c, t in EDGE_INDEX_COLUMNS.items():
        if c in table and t is not object:
            table[c] = table[c].astype(t)
    module.edges = table
    module._synapses = list(graph.graph.get("synapses") or [])


def assemble(graph, layout: Layout, assign_groups: bool = True):
    """A new module with the compartments of `graph` in the order of `layout`."""
    from sim.modules.module import Module

    if not layout.order:
        raise ValueError("The graph has no compartment nodes (type='comp').")
    cols, groups, channels = _columns(graph, layout, assign_groups)
    cls = _module_class(graph, layout)
    module = cls.__new__(cls)
    Module.__init__(module)
    module.nodes = _node_table(graph, layout, cols)
    module.branch_parents = layout.parents.astype(int)
    module.branch_parent_x = layout.parent_x.astype(float)
    module.xyzr = _branch_xyzr(graph, layout)
    module._channels = channels
    module.group_names = groups
    module._diffusion_states = [
        s for s in graph.graph.get("sim_diffusion_states", []) or []
        if f"axial_diffusion_{s}" in module.nodes
    ]  # fmt: skip
    if "sim_from_swc" in graph.graph:
        from_swc = bool(graph.graph["sim_from_swc"])
    else:
        from_swc = all(
            len(x) >= 2 and np.isfinite(x).all() for x in module.xyzr
        )  # fmt: skip
    setattr(module, "_from_swc", from_swc)  # noqa: B010 - only Cell declares it
    module._finalize()
    _restore_synapses(module, graph, layout)
    _restore_io(module, graph, layout)
    module._touch()
    return module
