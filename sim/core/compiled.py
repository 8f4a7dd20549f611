"""Compile a (mutable, pandas-backed) module into an immutable, typed model.

Everything the simulation needs is extracted here, once, in numpy: the
compartment graph, an *internal node order* chosen for the voltage solver, the
mechanisms with the positions they live at, the packed state layout, trainable
parameters, recordings and baked-in inputs. Traced code only ever sees these
arrays; the :class:`CompiledModule` is a static pytree (no leaves), hashed by
identity, so it can be closed over or passed to ``jax.jit`` without retracing.

Internal order: compartments ``0..ncomp-1`` come first, branch points last, and
within the compartments the round-major order of
:class:`sim.solvers.segments.SegmentTreeSolver` (the default voltage solver
then works on contiguous slices). Every per-compartment array inside the step
is in internal order; conversion to the user's (global compartment index) order
happens only at the API surface.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import jax
import numpy as np

from sim.core.graph import Graph, build_graph
from sim.core.index import Index
from sim.core.mechanism import CompartmentMechanism, EdgeMechanism, IonSpec, StateView
from sim.core.sites import presynaptic_sites
from sim.solvers.segments import SegmentTreeSolver

__all__ = [
    "CompiledModule",
    "StateSlot",
    "Trainable",
    "RecordingSpec",
    "compile_module",
    "GEOMETRY_KEYS",
]

GEOMETRY_KEYS = ("area_factor", "ri_lower_factor", "ri_upper_factor")


@dataclass(frozen=True, eq=False)
class StateSlot:
    """A mechanism state key and the compartments where it exists.

    Inside the step the key is one packed array over ``index`` (no NaN padding).
    """

    key: str
    index: Index  # internal compartment positions
    comps: np.ndarray  # the same compartments, global indices (user order)


@dataclass(frozen=True, eq=False)
class Trainable:
    """A trainable parameter (or initial state) made by ``make_trainable``.

    ``value[groups[k]]`` is assigned to compartment ``comps[k]`` (global index),
    or, for synapse keys (``kind == "edge"``), to edge ``comps[k]``.
    """

    key: str
    kind: Literal["param", "state", "edge"]
    comps: np.ndarray
    groups: np.ndarray
    init: np.ndarray

    @property
    def num_values(self) -> int:
        return int(self.groups.max()) + 1 if self.groups.size else 0


@dataclass(frozen=True, eq=False)
class RecordingSpec:
    """Recorded quantities, grouped by source so that each group is one gather.

    ``sources[g]`` is ``("v", -1)``, ``("state", slot)``, ``("current", slot)``,
    ``("edge_state", slot)`` or ``("edge_current", mechanism)``; ``positions[g]``
    indexes the source array (internal compartment positions, positions within a
    packed state array, or edges within their type); ``rows[g]`` are the
    recording rows it fills. ``order`` puts the concatenated groups back in row
    order. ``comps`` is the user's ``rec_index`` (compartment or edge index).
    """

    sources: tuple[tuple[str, int], ...]
    positions: tuple[np.ndarray, ...]
    rows: tuple[np.ndarray, ...]
    order: np.ndarray
    states: tuple[str, ...]
    comps: np.ndarray

    def __len__(self) -> int:
        return len(self.states)


@dataclass(frozen=True, eq=False)
class CompiledModule:
    """Immutable, simulation-ready description of a module (see the module docstring)."""

    graph: Graph
    internal: Graph
    order: np.ndarray
    position: np.ndarray
    mechanisms: tuple[CompartmentMechanism, ...]
    edge_mechanisms: tuple[EdgeMechanism, ...]
    ions: tuple[IonSpec, ...]
    state_slots: tuple[StateSlot, ...]
    edge_state_keys: tuple[str, ...]
    edge_position: np.ndarray
    param_keys: tuple[str, ...]
    state_keys: tuple[str, ...]
    current_names: tuple[str, ...]
    current_index: tuple[Index, ...]
    base_params: Mapping[str, np.ndarray]
    base_states: Mapping[str, np.ndarray]
    base_edge_params: Mapping[str, np.ndarray]
    base_edge_states: Mapping[str, np.ndarray]
    trainables: tuple[Trainable, ...]
    recordings: RecordingSpec
    externals: Mapping[str, np.ndarray]
    external_inds: Mapping[str, np.ndarray]
    exp_euler_transition: np.ndarray | None

    def __repr__(self) -> str:
        return (
            f"CompiledModule(ncomp={self.ncomp}, nbranchpoints={self.graph.nbranchpoints}, "
            f"mechanisms={[m.name for m in self.mechanisms]}, "
            f"synapses={[m.name for m in self.edge_mechanisms]}, "
            f"recordings={len(self.recordings)}, trainables={len(self.trainables)})"
        )

    @property
    def ncomp(self) -> int:
        return self.graph.ncomp

    @property
    def nnodes(self) -> int:
        return self.graph.nnodes

    @property
    def rec_states(self) -> tuple[str, ...]:
        return self.recordings.states

    @property
    def rec_inds(self) -> np.ndarray:
        return self.recordings.comps

    def slot_of(self, key: str) -> int:
        """Position of a mechanism state key in ``state_slots``."""
        for k, slot in enumerate(self.state_slots):
            if slot.key == key:
                return k
        raise KeyError(key)

    def presence(self, key: str) -> np.ndarray:
        """Global indices of the compartments where a state key exists, ascending."""
        if key == "v":
            return np.arange(self.ncomp)
        return np.sort(self.state_slots[self.slot_of(key)].comps)


jax.tree_util.register_static(CompiledModule)


def internal_order(graph: Graph) -> np.ndarray:
    """Internal node order: compartments in the segment solver's order, then branch points."""
    is_bp = np.arange(graph.nnodes) >= graph.ncomp
    # Branch points are forced junctions; junctions come last, ascending, so the
    # branch points (numbered after all compartments) end up last.
    order = SegmentTreeSolver.preferred_order(graph.parent, force_junction=is_bp)
    if np.any(order[: graph.ncomp] >= graph.ncomp):  # pragma: no cover - invariant
        raise RuntimeError("internal order must put compartments first")
    return order


def _ions(base, slots: tuple[StateSlot, ...]) -> tuple[IonSpec, ...]:
    """Pumped and diffused concentrations, in a fixed order."""
    keys = list(dict.fromkeys([*base.pumped_ions, *base.diffusion_states]))
    slot_of = {s.key: k for k, s in enumerate(slots)}
    return tuple(IonSpec(k, slot_of[k], k in base.diffusion_states) for k in keys)


def _mechanisms(
    base,
    position: np.ndarray,
    slots: tuple[StateSlot, ...],
    currents: tuple[str, ...],
    ions: tuple[IonSpec, ...],
):
    """Bind every inserted channel or pump to its compartments and state views."""
    nodes = base.nodes
    ncomp = len(nodes)
    ion_of = {ion.key: k for k, ion in enumerate(ions)}
    out = []
    for ch in base._channels:
        user = np.flatnonzero(nodes[ch.name].to_numpy(dtype=bool))
        internal = np.sort(position[user])
        index = Index.of(internal, ncomp)
        owned, visible = [], []
        for k, slot in enumerate(slots):
            if slot.key in ch.channel_states:
                owned.append(StateView(slot.key, k, index.within(slot.index)))
            elif np.isin(internal, slot.index.positions).all():
                visible.append(StateView(slot.key, k, index.within(slot.index)))
        ion = None
        ion_name = getattr(ch, "ion_name", None)
        if ion_name:
            k = ion_of[ion_name]
            slot = slots[ions[k].slot]
            ion = (StateView(ion_name, ions[k].slot, index.within(slot.index)), k)
        out.append(
            CompartmentMechanism(
                kernel=ch,
                index=index,
                comps=_user_of(internal, position),
                param_keys=tuple(ch.channel_params),
                owned=tuple(owned),
                visible=tuple(visible),
                current_slot=currents.index(ch.current_name),
                ion=ion,
            )
        )
    return tuple(out)


def _user_of(internal: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Global compartment indices of internal positions."""
    order = np.empty_like(position)
    order[position] = np.arange(position.size)
    return order[internal]


def _edge_mechanisms(base, position: np.ndarray):
    """Bind every synapse type to its edges; per-type parameter and state tables."""
    edges = base.edges
    ncomp = len(base.nodes)
    mechs, params, states, state_keys = [], {}, {}, []
    edge_position = np.full(len(edges), -1, dtype=np.int64)
    for syn in base._synapses:
        rows = edges[edges["type"] == syn.name].sort_values("index_within_type")
        ids = rows["global_edge_index"].to_numpy(dtype=np.int64)
        edge_position[ids] = np.arange(ids.size)
        for key in syn.synapse_params:
            params[key] = rows[key].to_numpy(dtype=float).copy()
        slots = []
        for key in syn.synapse_states:
            states[key] = rows[key].to_numpy(dtype=float).copy()
            slots.append(len(state_keys))
            state_keys.append(key)
        pre = Index.of(position[rows["pre_index"].to_numpy(dtype=np.int64)], ncomp)
        mechs.append(
            EdgeMechanism(
                kernel=syn,
                edges=ids,
                pre=pre,
                post=Index.of(position[rows["post_index"].to_numpy(dtype=np.int64)], ncomp),
                param_keys=tuple(syn.synapse_params),
                state_keys=tuple(syn.synapse_states),
                state_slots=tuple(slots),
                sites=presynaptic_sites(syn, pre, params),
            )
        )
    return tuple(mechs), params, states, tuple(state_keys), edge_position


def _recordings(base, position, slots, currents, edge_mechs, edge_state_keys, edge_position):
    rec = base.recordings
    states = tuple(rec["state"].astype(str).tolist())
    comps = rec["rec_index"].to_numpy(dtype=np.int64)
    slot_of = {s.key: k for k, s in enumerate(slots)}
    lookups = {}
    for k, slot in enumerate(slots):
        table = np.full(position.size, -1, dtype=np.int64)
        table[slot.index.positions] = np.arange(len(slot.index))
        lookups[k] = table
    groups: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for row, (state, comp) in enumerate(zip(states, comps)):
        pos = int(position[comp]) if comp < position.size else -1
        if state in edge_state_keys:
            source, where = ("edge_state", edge_state_keys.index(state)), int(edge_position[comp])
        elif state in [m.current_name for m in edge_mechs]:
            k = [m.current_name for m in edge_mechs].index(state)
            source, where = ("edge_current", k), int(edge_position[comp])
        elif state == "v":
            source, where = ("v", -1), pos
        elif state in currents:  # a current may also be a (pump-read) state: record it live
            source, where = ("current", currents.index(state)), pos
        else:
            source, where = ("state", slot_of[state]), int(lookups[slot_of[state]][pos])
        groups.setdefault(source, []).append((row, where))
    sources = tuple(groups)
    rows = tuple(np.asarray([r for r, _ in groups[s]], dtype=np.int64) for s in sources)
    positions = tuple(np.asarray([w for _, w in groups[s]], dtype=np.int64) for s in sources)
    flat = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    return RecordingSpec(
        sources=sources,
        positions=positions,
        rows=rows,
        order=np.argsort(flat),
        states=states,
        comps=comps,
    )


def compile_module(module) -> CompiledModule:
    """Extract the immutable simulation description of `module` (a base module)."""
    base = module.base
    nodes = base.nodes
    ncomp = len(nodes)
    graph = build_graph(nodes, np.asarray(base.branch_parents), np.asarray(base.branch_parent_x))
    order = internal_order(graph)
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    comp_position = position[:ncomp]

    state_keys = tuple(base.state_keys())
    everywhere = np.arange(ncomp)
    slots = []
    for key in state_keys[1:]:
        user = everywhere[base.key_present(key, everywhere)]
        internal = np.sort(comp_position[user])
        slots.append(StateSlot(key, Index.of(internal, ncomp), _user_of(internal, comp_position)))
    slots_t = tuple(slots)
    current_names = tuple(base.current_names())
    current_index = []
    for name in current_names:
        mask = np.zeros(ncomp, dtype=bool)
        for ch in base._channels:
            if ch.current_name == name:
                mask |= nodes[ch.name].to_numpy(dtype=bool)
        current_index.append(Index.of(np.sort(comp_position[np.flatnonzero(mask)]), ncomp))
    param_keys = tuple(base.param_keys()) + GEOMETRY_KEYS
    trainables = tuple(
        Trainable(
            key=t["key"],
            kind="edge"
            if t["key"] in base.edge_keys()
            else ("state" if t["key"] in state_keys else "param"),
            comps=np.asarray(t["comp_idx"], dtype=np.int64),
            groups=np.asarray(t["group_idx"], dtype=np.int64),
            init=np.asarray(t["init"], dtype=float),
        )
        for t in base.trainables
    )
    transition = base.solver_customizers.get("exp_euler_transition")
    ions = _ions(base, slots_t)
    edge_mechs, edge_params, edge_states, edge_state_keys, edge_position = _edge_mechanisms(
        base, comp_position
    )
    return CompiledModule(
        graph=graph,
        internal=graph.renumbered(order),
        order=order,
        position=position,
        mechanisms=_mechanisms(base, comp_position, slots_t, current_names, ions),
        edge_mechanisms=edge_mechs,
        ions=ions,
        state_slots=slots_t,
        edge_state_keys=edge_state_keys,
        edge_position=edge_position,
        param_keys=param_keys,
        state_keys=state_keys,
        current_names=current_names,
        current_index=tuple(current_index),
        base_params={k: nodes[k].to_numpy(dtype=float).copy() for k in param_keys},
        base_states={k: nodes[k].to_numpy(dtype=float).copy() for k in state_keys},
        base_edge_params=edge_params,
        base_edge_states=edge_states,
        trainables=trainables,
        recordings=_recordings(
            base, comp_position, slots_t, current_names, edge_mechs, edge_state_keys, edge_position
        ),
        externals={k: np.asarray(v) for k, v in base.externals.items()},
        external_inds={k: np.asarray(v) for k, v in base.external_inds.items()},
        exp_euler_transition=None if transition is None else np.asarray(transition),
    )
