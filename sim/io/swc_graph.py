"""SWC files as networkx graphs, compartmentalised the way Jaxley's graph reader does.

:func:`to_swc_graph` turns every SWC line into a node (attributes ``id`` = SWC type,
``x``, ``y``, ``z``, ``r`` in µm and ``p`` = parent id) and every parent link into an
edge ``parent -> child`` with its length ``l`` (µm). :func:`build_compartment_graph`
traces that graph into unbranched branches and cuts each into ``ncomp`` equally long
compartments, giving a *compartment graph*: compartment nodes (``type="comp"``) and
branch points (``type="branchpoint"``), with the attribute names Jaxley 0.14 uses.

The branch tracing follows Jaxley's rules (a depth-first walk from the first tip,
new branches at branchings, at tips and where the SWC type changes; single-point
somata become a sphere-like cylinder of length ``2 r``), so the branches and their
order are Jaxley's, which differ from NEURON's (see :func:`sim.read_swc`).
Compartment areas, volumes and the axial "resistive loads" are integrated over
truncated cones between the traced points, as in Jaxley.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Iterable, Iterator

import networkx as nx
import numpy as np

__all__ = ["to_swc_graph", "build_compartment_graph", "GROUP_OF_SWC_TYPE"]

#: SWC type id -> group name (others become ``"custom<id>"``).
GROUP_OF_SWC_TYPE = {0: "undefined", 1: "soma", 2: "axon", 3: "basal", 4: "apical"}
_MIN_EDGE_LEN = 1e-5  # µm: two traced points never coincide
_DEFAULT_TYPES = (1, 2, 3, 4)


# ----------------------------------------------------------------------------- reading
def _load_rows(fname, num_lines: int | None) -> np.ndarray:
    try:
        rows = np.loadtxt(fname, ndmin=2, comments="#")
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as err:
        raise ValueError(
            f"Cannot read SWC file {fname!r}: {err}. Data lines must be 7 numbers "
            "'id type x y z radius parent'."
        ) from err
    if rows.shape[0] == 0:
        raise ValueError(f"SWC file {fname!r} has no data lines.")
    if rows.shape[1] != 7:
        raise ValueError(
            f"SWC file {fname!r} has {rows.shape[1]} columns; expected 7 "
            "('id type x y z radius parent')."
        )
    if num_lines is not None:
        if isinstance(num_lines, bool) or not isinstance(num_lines, (int, np.integer)):
            raise TypeError(f"num_lines must be an int or None, got {num_lines!r}.")
        rows = rows[:num_lines]
    return rows


def to_swc_graph(fname, num_lines: int | None = None) -> nx.DiGraph:
    """Read an SWC file into a directed graph of its traced points.

    Args:
        fname: Path to the SWC file.
        num_lines: Read only the first ``num_lines`` data lines (all if None).

    Returns:
        A ``networkx.DiGraph`` whose nodes are the SWC ids with attributes ``id``
        (SWC type), ``x``, ``y``, ``z``, ``r`` (µm) and ``p`` (parent id, -1 for a
        root), and whose edges ``parent -> child`` carry their length ``l`` (µm,
        at least 1e-5).
    """
    rows = _load_rows(fname, num_lines)
    graph = nx.DiGraph()
    for ident, swc_type, x, y, z, r, parent in rows:
        graph.add_node(
            int(ident), id=int(swc_type), x=float(x), y=float(y), z=float(z), r=float(r),
            p=int(parent),
        )  # fmt: skip
    for ident, parent in rows[:, [0, 6]].astype(np.int64):
        if parent == -1:
            continue
        if int(parent) not in graph:
            raise ValueError(
                f"SWC point {int(ident)} names parent {int(parent)}, which is not in the "
                "file (or beyond num_lines); use -1 for a root."
            )
        graph.add_edge(int(parent), int(ident))
    _complete_attributes(graph)
    return graph


def _complete_attributes(graph: nx.DiGraph) -> None:
    """Fill missing node attributes with defaults and set edge lengths ``l`` (µm)."""
    defaults = {"id": 0, "x": float("nan"), "y": float("nan"), "z": float("nan"), "r": 1.0}
    for _, data in graph.nodes(data=True):
        for key, value in defaults.items():
            data.setdefault(key, value)
        data.setdefault("p", 0)
    for i, j, data in graph.edges(data=True):
        if "l" in data:
            continue
        if i == j:
            length = 2.0 * float(graph.nodes[i]["r"])
        else:
            a = np.array([graph.nodes[i][k] for k in "xyz"], dtype=float)
            b = np.array([graph.nodes[j][k] for k in "xyz"], dtype=float)
            length = float(np.sqrt(np.sum((a - b) ** 2)))
        data["l"] = length if not length < _MIN_EDGE_LEN else _MIN_EDGE_LEN
    if graph.number_of_edges() and all(np.isnan(d["l"]) for *_, d in graph.edges(data=True)):
        for *_, data in graph.edges(data=True):  # no coordinates at all: unit lengths
            data["l"] = 1.0


# ----------------------------------------------------------------------------- tracing
def sorted_dfs_edges(graph: nx.Graph, root: Hashable, key=None) -> Iterator[tuple]:
    """Depth-first tree edges from `root`, visiting neighbours in sorted order.

    ``key(parent, node)`` orders the neighbours of ``parent`` (default: by node);
    the same order as ``networkx.dfs_edges(..., sort_neighbors=sorted)``.
    """

    def children(node):
        if key is None:
            return iter(sorted(graph.neighbors(node)))
        edge_key = key
        return iter(sorted(graph.neighbors(node), key=lambda n: edge_key(node, n)))

    visited = {root}
    stack = [children(root)]
    parents = [root]
    while stack:
        for child in stack[-1]:
            if child not in visited:
                visited.add(child)
                yield parents[-1], child
                parents.append(child)
                stack.append(children(child))
                break
        else:
            stack.pop()
            parents.pop()


def first_tip(graph: nx.Graph) -> Hashable:
    """The smallest node of degree < 2 (Jaxley's default tracing root)."""
    for node in sorted(graph.nodes):
        if graph.degree(node) < 2:
            return node
    raise ValueError("The graph has no tip (node of degree < 2) to start tracing from.")


def _expand_single_point_soma(graph: nx.DiGraph, soma: int) -> tuple[nx.DiGraph, list]:
    """Jaxley's single-point soma: a copy of the point, ``2 r`` away, starts the tree."""
    for edge in [*graph.in_edges(soma), *graph.out_edges(soma)]:
        graph.edges[edge]["l"] = 0.0
    template = 1 if 1 in graph else soma
    graph.nodes[template]["p"] = 0
    for node in graph.nodes:
        graph.nodes[node]["p"] += 1
    graph.add_node(-1, **{**graph.nodes[template], "p": -1})
    graph.add_edge(-1, soma, l=2.0 * float(graph.nodes[soma]["r"]))
    new_label = 0 if 0 in graph else 1  # Jaxley: the copy is node 1, ids shift by one
    mapping = {n: n + 1 for n in graph.nodes if n != -1}
    mapping[-1] = new_label
    graph = nx.relabel_nodes(graph, mapping)
    return graph, [new_label, soma + 1]


def _same_type(graph, i, j, relevant) -> bool:
    ti, tj = graph.nodes[i]["id"], graph.nodes[j]["id"]
    return (ti not in relevant and tj not in relevant) or ti == tj


def _walk_branches(und, directed, root, relevant) -> tuple[list, list]:
    """Split the depth-first walk into branches (lists of ``(i, j, length)``)."""
    branches, types, current = [], [], []
    for i, j in sorted_dfs_edges(und, root):
        tid = und.nodes[i]["id"]
        current.append((i, j, float(und.edges[i, j]["l"])))
        if und.degree(j) < 2:
            if not _same_type(und, i, j, relevant):
                branches += [current[:-1], current[-1:]]
                types += [tid, und.nodes[j]["id"]]
            else:
                branches.append(current)
                types.append(tid)
            current = []
        elif und.degree(j) > 2:
            branches.append(current)
            types.append(tid)
            current = []
        elif not _same_type(und, i, j, relevant):
            if directed.has_edge(j, i) and not directed.has_edge(i, j):
                branches.append(current)
                types.append(tid)
                current = []
            else:
                branches.append(current[:-1])
                types.append(tid)
                current = [current[-1]]
    kept = [(b, t) for b, t in zip(branches, types) if b]
    return [b for b, _ in kept], [t for _, t in kept]


def _split_long(branches, types, max_len: float) -> tuple[list, list, list]:
    """Cut branches where their cumulative length passes multiples of `max_len`."""
    new_points, out, out_types = [], [], []
    for branch, tid in zip(branches, types):
        bins = np.cumsum([e[2] for e in branch]) // max_len
        pieces = [[e for e, k in zip(branch, bins) if k == kk] for kk in np.unique(bins)]
        out += pieces
        out_types += [tid] * len(pieces)
        new_points += [piece[0][0] for piece in pieces[1:]]
    return new_points, out, out_types


def _split_interruptions(und, branches, types) -> tuple[list, list, list]:
    """Start a new branch where the SWC file's tracing order is interrupted."""
    points = []
    for node, data in und.nodes(data=True):
        parent = data["p"]
        if parent > -1 and parent != node - 1 and parent in und:
            if data["type"] != "branchpoint" and und.nodes[parent]["type"] != "branchpoint":
                points.append(parent)
    for node in points:
        found = next(
            ((k, hits) for k, b in enumerate(branches)
             if (hits := [r for r, e in enumerate(b) for v in e[:2] if v == node])),
            None,
        )  # fmt: skip
        if found is None or len(found[1]) < 2:
            continue
        k, hits = found
        cut = hits[1]
        branches = branches[:k] + [branches[k][:cut], branches[k][cut:]] + branches[k + 1 :]
        types = types[:k] + [types[k], types[k]] + types[k + 1 :]
    return points, branches, types


def trace_branches(swc_graph, root, max_len, ignore_interruptions, relevant_type_ids):
    """Jaxley's branch tracing of an SWC graph.

    Returns the undirected graph (node attribute ``type``: ``"branchpoint"`` or
    ``"spurious"``), the branches as lists of ``(i, j, length)`` edges, their SWC
    types and the nodes whose point is left out of the following branch's 3-D path
    (single-point somata and somatic branch points).
    """
    relevant = list(_DEFAULT_TYPES if relevant_type_ids is None else relevant_type_ids)
    directed = swc_graph.copy()
    ignore: list = []
    somata = [n for n, t in directed.nodes(data="id") if t == 1]
    if len(somata) == 1:
        directed, ignore = _expand_single_point_soma(directed, somata[0])
    und = directed.to_undirected()
    for node in somata:
        if node not in und:
            continue
        somatic = [n for n in und.neighbors(node) if und.nodes[n]["id"] == 1]
        if len(somatic) > 1:
            for i, j in list(und.edges(node)):
                if und.nodes[j]["id"] != 1:
                    ignore.append(i)
                    und.edges[i, j]["l"] = 0.0
    root = root if root else first_tip(und)
    for _, data in und.nodes(data=True):
        data["type"] = "spurious"
    branches, types = _walk_branches(und, directed, root, relevant)
    extra: list = []
    if max_len:
        extra, branches, types = _split_long(branches, types, float(max_len))
    for node in extra + [b[0][0] for b in branches[1:]]:
        und.nodes[node]["type"] = "branchpoint"
    if not ignore_interruptions:
        extra, branches, types = _split_interruptions(und, branches, types)
        for node in extra:
            und.nodes[node]["type"] = "branchpoint"
    return und, branches, types, set(ignore)


# ----------------------------------------------------------------------------- geometry
def split_xyzr(xyzr: np.ndarray, n: int) -> list[np.ndarray]:
    """Cut a traced path ``(m, 4)`` into `n` pieces of equal length (µm).

    Cut points are interpolated linearly (also the radius) and end one piece and
    start the next. A single-point path is returned `n` times.
    """
    xyzr = np.asarray(xyzr, dtype=float)
    if len(xyzr) == 1:
        return [xyzr] * n
    seg = np.linalg.norm(np.diff(xyzr[:, :3], axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    targets = np.linspace(0.0, cum[-1], n + 1)
    idx = np.clip(np.searchsorted(cum, targets, side="right") - 1, 0, len(xyzr) - 2)
    frac = (targets - cum[idx]) / np.where(seg < 1e-14, 1e-14, seg)[idx]
    cuts = xyzr[idx] + frac[:, None] * (xyzr[idx + 1] - xyzr[idx])
    pieces = []
    for k in range(n):
        inner = xyzr[(cum > targets[k]) & (cum < targets[k + 1])]
        pieces.append(np.vstack([cuts[k], *inner, cuts[k + 1]]))
    return pieces


def _resistive_load(xyzr: np.ndarray) -> float:
    """``∫ ds / (π r(s)²)`` (1/µm) along a path of truncated cones."""
    length = np.linalg.norm(np.diff(xyzr[:, :3], axis=0), axis=1)
    r1, r2 = xyzr[:-1, 3], xyzr[1:, 3]
    dr = r2 - r1
    const = np.isclose(dr, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cone = length / np.where(const, 1.0, dr) * (1.0 / r1 - 1.0 / r2)
        total = np.where(const, length / r1**2, cone)
    return float(np.sum(total) / np.pi)


def frustum_attributes(xyzr: np.ndarray, min_radius, ncomp: int) -> tuple[float, ...]:
    """Radius (µm), area (µm²), volume (µm³) and the two half-compartment resistive
    loads (1/µm) of a compartment traced by `xyzr` (truncated cones between points).

    A single point stands for a sphere shared by ``ncomp`` compartments.
    """
    r = xyzr[:, 3]
    if len(xyzr) > 1:
        length = np.linalg.norm(np.diff(xyzr[:, :3], axis=0), axis=1)
        weights = np.zeros(len(r))
        weights[1:] += length
        weights[:-1] += length
        total = np.sum(weights)
        radius = float(np.sum(r * weights / total)) if total > 0 else float("nan")
        area = float(np.sum(np.pi * (r[:-1] + r[1:]) * np.sqrt((r[1:] - r[:-1]) ** 2 + length**2)))
        volume = float(np.sum(np.pi / 3 * length * (r[:-1] ** 2 + r[:-1] * r[1:] + r[1:] ** 2)))
        loads = [_resistive_load(half) for half in split_xyzr(xyzr, 2)]
    else:
        radius = float(r.mean())
        area = 4.0 * np.pi * r[0] ** 2 / ncomp
        volume = 4.0 / 3.0 * np.pi * r[0] ** 3 / ncomp
        loads = [(r[0] / ncomp) / r[0] ** 2 / np.pi] * 2
    if min_radius is None:
        if not radius > 0.0:
            raise ValueError(
                "A compartment has radius 0 in the SWC file; pass min_radius=<µm> to "
                "build_compartment_graph (or read_swc) to clip radii from below."
            )
    elif radius < min_radius or np.isnan(radius):
        radius = float(min_radius)
    return radius, area, volume, float(loads[0]), float(loads[1])


# ----------------------------------------------------------------------------- assembly
def _branch_compartments(und, edges, ncomp, min_radius, ignore, swc_type) -> list[dict]:
    """Attribute dicts of the `ncomp` compartments of one traced branch."""
    nodes = [edges[0][0]] + [e[1] for e in edges]
    path = np.concatenate([[0.0], np.cumsum([e[2] for e in edges])])
    pts = np.array([[und.nodes[n][k] for k in ("x", "y", "z", "r")] for n in nodes], float)
    if len(nodes) > 1 and und.nodes[nodes[0]]["id"] != und.nodes[nodes[1]]["id"]:
        pts[0, 3] = pts[1, 3]  # the parent's radius does not bleed into this branch
    xyzr = pts[1:] if nodes[0] in ignore else pts
    pieces = split_xyzr(xyzr, ncomp)
    attrs = [frustum_attributes(p, min_radius, ncomp) for p in pieces]
    length = float(path.max())
    if length < 1e-8:
        warnings.warn(
            "Found a branch of length 0 (typically a dendrite without further points "
            "attached to a single-point soma); its length is set to 0.1 µm.",
            stacklevel=3,
        )
        length = 0.1
    comp_len = length / ncomp
    locs = np.linspace(comp_len / 2, length - comp_len / 2, ncomp)
    centre = np.stack([np.interp(locs, path, pts[:, k]) for k in range(3)], axis=1)
    comps = []
    for k in range(ncomp):
        radius, area, volume, load_in, load_out = attrs[k]
        comps.append(
            {
                "x": float(centre[k, 0]), "y": float(centre[k, 1]), "z": float(centre[k, 2]),
                "type": "comp", "xyzr": pieces[k], "area": area, "volume": volume,
                "resistive_load_in": load_in, "resistive_load_out": load_out,
                "groups": [group_name(swc_type)], "radius": radius, "length": comp_len,
                "cell_index": 0,
            }
        )  # fmt: skip
    return comps


def group_name(swc_type: int) -> str:
    """Group name of an SWC type id (``soma``, ``axon``, ``basal``, ``apical``, ...)."""
    return GROUP_OF_SWC_TYPE.get(int(swc_type), f"custom{int(swc_type)}")


def _check_build_args(swc_graph, ncomp, min_radius, max_len) -> None:
    if not isinstance(swc_graph, nx.DiGraph) or swc_graph.number_of_nodes() == 0:
        raise TypeError("swc_graph must be a non-empty networkx.DiGraph from to_swc_graph().")
    if isinstance(ncomp, bool) or not isinstance(ncomp, (int, np.integer)) or ncomp < 1:
        raise ValueError(f"ncomp must be a positive integer, got {ncomp!r}.")
    if min_radius is not None and not (np.isfinite(min_radius) and min_radius > 0):
        raise ValueError(f"min_radius must be a positive radius in µm, got {min_radius!r}.")
    if max_len is not None and not (np.isfinite(max_len) and max_len > 0):
        raise ValueError(f"max_len must be a positive length in µm, got {max_len!r}.")
    if not nx.is_tree(swc_graph.to_undirected(as_view=True)):
        raise ValueError("The SWC graph must be a single tree (connected, without cycles).")


def build_compartment_graph(
    swc_graph: nx.DiGraph,
    ncomp: int,
    root: int | None = None,
    min_radius: float | None = None,
    max_len: float | None = None,
    ignore_swc_tracing_interruptions: bool = True,
    relevant_type_ids: Iterable[int] | None = None,
) -> nx.DiGraph:
    """Compartmentalise an SWC graph: ``ncomp`` equal compartments per traced branch.

    Args:
        swc_graph: Graph from :func:`to_swc_graph` (not modified).
        ncomp: Compartments per branch.
        root: SWC id to start tracing from (default: the smallest tip).
        min_radius: Radii below this (µm) are clipped; without it a zero radius is
            an error.
        max_len: Branches longer than this (µm) are split at traced points.
        ignore_swc_tracing_interruptions: False starts a new branch where the file's
            tracing order is interrupted (as NEURON does).
        relevant_type_ids: Only changes between these SWC types start a new branch
            (default ``[1, 2, 3, 4]``).

    Returns:
        A directed compartment graph. Compartments are nodes ``0..N-1`` with
        ``x, y, z`` (centre, µm), ``branch_index``, ``comp_index``, ``type="comp"``,
        ``xyzr`` (traced points), ``area`` (µm²), ``volume`` (µm³),
        ``resistive_load_in``/``_out`` (1/µm), ``groups``, ``radius``, ``length``
        (µm) and ``cell_index``; branch points follow (``type="branchpoint"``, with
        ``x, y, z, p, groups, radius, length=0, cell_index``). Edges point away
        from the tracing root and carry no attributes.
    """
    _check_build_args(swc_graph, ncomp, min_radius, max_len)
    swc_graph = swc_graph.copy()
    _complete_attributes(swc_graph)
    und, branches, types, ignore = trace_branches(
        swc_graph, root, max_len, ignore_swc_tracing_interruptions, relevant_type_ids
    )
    graph = nx.DiGraph()
    comp_of_end, comp_of_start = {}, {}
    for b, (edges, swc_type) in enumerate(zip(branches, types)):
        first = graph.number_of_nodes()
        comps = _branch_compartments(und, edges, int(ncomp), min_radius, ignore, swc_type)
        for k, attrs in enumerate(comps):
            graph.add_node(first + k, **attrs, branch_index=b, comp_index=first + k)
            if k:
                graph.add_edge(first + k - 1, first + k)
        comp_of_start[b], comp_of_end[b] = first, first + int(ncomp) - 1
    _add_branchpoints(graph, und, branches, comp_of_start, comp_of_end, min_radius)
    return graph


def _add_branchpoints(graph, und, branches, starts, ends, min_radius) -> None:
    """Branch-point nodes (after the compartments, ordered by their parent branch)."""
    is_bp = {n for n, t in und.nodes(data="type") if t == "branchpoint"}
    links: dict = {}
    for b, edges in enumerate(branches):
        pre, post = edges[0][0], edges[-1][1]
        if pre in is_bp:
            links.setdefault(pre, [None, []])[1].append(starts[b])
        if post in is_bp:
            links.setdefault(post, [None, []])[0] = ends[b]
    order = sorted(
        (n for n in links if links[n][0] is not None),
        key=lambda n: graph.nodes[links[n][0]]["branch_index"],
    )
    order += [n for n in links if links[n][0] is None]
    label = graph.number_of_nodes()
    for node in order:
        data = und.nodes[node]
        radius = float(data["r"]) if min_radius is None else max(float(data["r"]), min_radius)
        graph.add_node(
            label, x=float(data["x"]), y=float(data["y"]), z=float(data["z"]),
            p=int(data.get("p", 0)), type="branchpoint", groups=[group_name(data["id"])],
            radius=radius, length=0.0, cell_index=0,
        )  # fmt: skip
        parent, children = links[node]
        if parent is not None:
            graph.add_edge(parent, label)
        for child in children:
            graph.add_edge(label, child)
        label += 1
