"""The edges table of a module: synapses between compartments.

Every synapse instance is one row of ``module.edges`` (as in Jaxley): its global
edge index, its index among the edges of its type, the pre- and postsynaptic
compartments (global compartment indices), the synapse type and its position
along the branch, followed by one column per synapse parameter and state (NaN
on edges of other types). The synapse objects are in ``module.synapses``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.modules.fields import ModuleFields
from sim.synapses.synapse import validate_synapse

EDGE_INDEX_COLUMNS = {
    "global_edge_index": np.int64,
    "index_within_type": np.int64,
    "pre_index": np.int64,
    "post_index": np.int64,
    "type": object,
    "type_ind": np.int64,
    "pre_locs": float,
    "post_locs": float,
}


def empty_edges() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in EDGE_INDEX_COLUMNS.items()})


class EdgeTableMixin(ModuleFields):
    """Synapse bookkeeping of the base module (``edges`` and ``synapses``)."""

    # ----------------------------------------------------------------- names
    @property
    def synapses(self) -> list:
        """The synapse types in the module, in the order they were connected."""
        return list(self.base._synapses)

    @property
    def synapse_names(self) -> list[str]:
        return [s.name for s in self.base._synapses]

    @property
    def synapse_param_names(self) -> list[str]:
        return [k for s in self.base._synapses for k in s.synapse_params]

    @property
    def synapse_state_names(self) -> list[str]:
        return [k for s in self.base._synapses for k in s.synapse_states]

    @property
    def synapse_current_names(self) -> list[str]:
        return [f"i_{s.name}" for s in self.base._synapses]

    def edge_keys(self) -> set[str]:
        """Parameters, states and currents that live on edges."""
        base = self.base
        return (
            set(base.synapse_param_names)
            | set(base.synapse_state_names)
            | set(base.synapse_current_names)
        )

    def edge_key_type(self, key: str) -> str:
        """Name of the synapse type owning an edge key."""
        for syn in self.base._synapses:
            if key in syn.synapse_params or key in syn.synapse_states or key == f"i_{syn.name}":
                return syn.name
        raise KeyError(key)

    # ----------------------------------------------------------------- edges in view
    @property
    def _edges_in_view(self) -> np.ndarray:
        """Global indices of the edges in this module or view.

        For compartment views (as in Jaxley): edges whose pre- and postsynaptic
        compartments are both in the view; edge views select edges directly.
        """
        explicit = getattr(self, "_edge_sel", None)
        if explicit is not None:
            return explicit
        edges = self.base.edges
        if edges.empty:
            return np.zeros(0, dtype=np.int64)
        inside = np.isin(edges["pre_index"].to_numpy(), self._sel) & np.isin(
            edges["post_index"].to_numpy(), self._sel
        )
        return edges["global_edge_index"].to_numpy()[inside]

    # ----------------------------------------------------------------- adding synapses
    def append_synapses(self, pre: np.ndarray, post: np.ndarray, synapse) -> None:
        """Add one edge of type ``synapse`` per (pre, post) compartment pair."""
        validate_synapse(synapse)
        base = self.base
        pre = np.asarray(pre, dtype=np.int64).reshape(-1)
        post = np.asarray(post, dtype=np.int64).reshape(-1)
        if pre.size != post.size:
            raise ValueError(
                f"connect needs as many pre- as postsynaptic compartments, got {pre.size} "
                f"and {post.size}."
            )
        names = [s.name for s in base._synapses]
        if synapse.name in names:
            known = base._synapses[names.index(synapse.name)]
            if type(known) is not type(synapse):
                raise ValueError(
                    f"A different synapse named {synapse.name!r} is already connected; rename "
                    "one of them with change_name()."
                )
            type_ind = names.index(synapse.name)
        else:
            clash = (set(synapse.synapse_params) | set(synapse.synapse_states)) & (
                base.settable_keys() | base.edge_keys()
            )
            if clash:
                raise ValueError(
                    f"{synapse.name}: keys {sorted(clash)} are already used by another "
                    "mechanism or synapse; rename it with change_name()."
                )
            base._synapses.append(synapse)
            type_ind = len(base._synapses) - 1
        edges = base.edges
        start = len(edges)
        n_type = int((edges["type"] == synapse.name).sum()) if start else 0
        rows = pd.DataFrame(
            {
                "global_edge_index": np.arange(start, start + pre.size),
                "index_within_type": np.arange(n_type, n_type + pre.size),
                "pre_index": pre,
                "post_index": post,
                "type": synapse.name,
                "type_ind": type_ind,
                "pre_locs": _locs(base.nodes, pre),
                "post_locs": _locs(base.nodes, post),
            }
        )
        for key, value in {**synapse.synapse_params, **synapse.synapse_states}.items():
            rows[key] = float(value)
        base.edges = rows if edges.empty else pd.concat([edges, rows], ignore_index=True)
        base._touch()


def _locs(nodes: pd.DataFrame, comps: np.ndarray) -> np.ndarray:
    """Relative position (compartment centre, in [0, 1]) of compartments on their branch."""
    local = nodes["local_comp_index"].to_numpy()[comps]
    branch = nodes["global_branch_index"].to_numpy()
    ncomp = np.bincount(branch)[branch[comps]]
    return (local + 0.5) / ncomp
