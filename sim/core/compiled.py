"""Compile a (mutable, pandas-backed) module into immutable arrays for simulation.

Everything the simulation needs is extracted here, once, in numpy: the
compartment graph (a forest over compartments + branch points), the
compartments each mechanism lives in, base parameter/state values, trainable
index maps and the recording layout. Traced code only ever sees these arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GEOMETRY_KEYS = ("area_factor", "ri_lower_factor", "ri_upper_factor")
LOWER, UPPER = 0, 1


@dataclass(frozen=True, eq=False)
class MechanismSlot:
    """A mechanism and the compartments it is inserted in (``None``: all of them)."""

    mechanism: object
    comps: np.ndarray | None


@dataclass(frozen=True, eq=False)
class Graph:
    """The compartment graph as a forest over ``ncomp + nbranchpoints`` nodes.

    The axial resistance between node ``i`` and ``parent[i]`` is the sum of one or
    two compartment half-resistances: half ``half_a[i]`` (0: lower, 1: upper) of
    compartment ``comp_a[i]``, plus half ``half_b[i]`` of ``comp_b[i]`` if
    ``comp_b[i] >= 0``.
    """

    ncomp: int
    nbranchpoints: int
    parent: np.ndarray
    comp_a: np.ndarray
    half_a: np.ndarray
    comp_b: np.ndarray
    half_b: np.ndarray

    @property
    def nnodes(self) -> int:
        return self.ncomp + self.nbranchpoints


@dataclass(frozen=True, eq=False)
class CompiledModule:
    """Immutable, simulation-ready description of a module."""

    graph: Graph
    mechanisms: tuple[MechanismSlot, ...]
    param_keys: tuple[str, ...]
    state_keys: tuple[str, ...]
    current_names: tuple[str, ...]
    current_comps: dict[str, np.ndarray]
    base_params: dict[str, np.ndarray]
    base_states: dict[str, np.ndarray]
    trainables: tuple[tuple[str, np.ndarray, np.ndarray], ...]
    rec_states: tuple[str, ...]
    rec_inds: np.ndarray
    externals: dict[str, np.ndarray]
    external_inds: dict[str, np.ndarray]
    exp_euler_transition: np.ndarray | None

    @property
    def ncomp(self) -> int:
        return self.graph.ncomp


def build_graph(nodes, branch_parents: np.ndarray, branch_parent_x: np.ndarray) -> Graph:
    """Build the compartment forest from per-compartment branch indices and the branch tree."""
    branch_of = nodes["global_branch_index"].to_numpy()
    nbranches = int(branch_of.max()) + 1
    order = np.lexsort((nodes["local_comp_index"].to_numpy(), branch_of))
    comps_of = [order[branch_of[order] == b] for b in range(nbranches)]
    ncomp = len(nodes)
    parent = [-1] * ncomp
    edge = [(-1, 0, -1, 0)] * ncomp
    bp_nodes: dict[tuple[int, int], int] = {}
    bp_parent: list[int] = []
    bp_edge: list[tuple[int, int, int, int]] = []

    def junction(p: int, end: int) -> int:
        key = (p, end)
        if key not in bp_nodes:
            bp_nodes[key] = ncomp + len(bp_nodes)
            anchor = comps_of[p][-1] if end == 1 else comps_of[p][0]
            bp_parent.append(int(anchor))
            bp_edge.append((int(anchor), UPPER if end == 1 else LOWER, -1, 0))
        return bp_nodes[key]

    for b in range(nbranches):
        comps = comps_of[b]
        for k in range(1, len(comps)):
            parent[comps[k]] = int(comps[k - 1])
            edge[comps[k]] = (int(comps[k - 1]), UPPER, int(comps[k]), LOWER)
        p = int(branch_parents[b]) if b < len(branch_parents) else -1
        if p < 0:
            continue
        x = float(branch_parent_x[b])
        if x >= 1.0 or x <= 0.0:
            parent[comps[0]] = junction(p, 1 if x >= 1.0 else 0)
        else:
            pcomps = comps_of[p]
            parent[comps[0]] = int(pcomps[min(int(x * len(pcomps)), len(pcomps) - 1)])
        edge[comps[0]] = (int(comps[0]), LOWER, -1, 0)

    parent_all = np.asarray(parent + bp_parent, dtype=np.int64)
    edges = np.asarray(edge + bp_edge, dtype=np.int64).reshape(-1, 4)
    return Graph(
        ncomp=ncomp,
        nbranchpoints=len(bp_parent),
        parent=parent_all,
        comp_a=edges[:, 0],
        half_a=edges[:, 1],
        comp_b=edges[:, 2],
        half_b=edges[:, 3],
    )


def compile_module(module) -> CompiledModule:
    """Extract the immutable simulation description of `module` (a base module)."""
    base = module.base
    nodes = base.nodes
    ncomp = len(nodes)
    graph = build_graph(nodes, np.asarray(base.branch_parents), np.asarray(base.branch_parent_x))
    slots = []
    for ch in base._channels:
        mask = nodes[ch.name].to_numpy(dtype=bool)
        slots.append(MechanismSlot(ch, None if mask.all() else np.flatnonzero(mask)))
    param_keys = tuple(base.param_keys()) + GEOMETRY_KEYS
    state_keys = tuple(base.state_keys())
    current_names = tuple(base.current_names())
    current_comps = {}
    for name in current_names:
        mask = np.zeros(ncomp, dtype=bool)
        for ch in base._channels:
            if ch.current_name == name:
                mask |= nodes[ch.name].to_numpy(dtype=bool)
        current_comps[name] = np.flatnonzero(mask)
    transition = base.solver_customizers.get("exp_euler_transition")
    return CompiledModule(
        graph=graph,
        mechanisms=tuple(slots),
        param_keys=param_keys,
        state_keys=state_keys,
        current_names=current_names,
        current_comps=current_comps,
        base_params={k: nodes[k].to_numpy(dtype=float).copy() for k in param_keys},
        base_states={k: nodes[k].to_numpy(dtype=float).copy() for k in state_keys},
        trainables=tuple(
            (t["key"], np.asarray(t["comp_idx"]), np.asarray(t["group_idx"]))
            for t in base.trainables
        ),
        rec_states=tuple(base.recordings["state"].astype(str).tolist()),
        rec_inds=base.recordings["rec_index"].to_numpy(dtype=np.int64),
        externals={k: np.asarray(v) for k, v in base.externals.items()},
        external_inds={k: np.asarray(v) for k, v in base.external_inds.items()},
        exp_euler_transition=None if transition is None else np.asarray(transition),
    )
