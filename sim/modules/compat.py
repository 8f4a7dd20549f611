"""Module attributes and helpers that exist for compatibility with Jaxley's ``Module``.

They expose the builder's bookkeeping under Jaxley's names (``ncomp_per_branch``,
``cumsum_ncomp``, ``comb_parents``, ...) and a few conveniences of its API.
"""

from __future__ import annotations

import numpy as np

from sim.modules.fields import ModuleFields


class CompatMixin(ModuleFields):
    """Jaxley's bookkeeping attributes, computed from ``nodes`` and the branch tree."""

    @property
    def num_trainable_params(self) -> int:
        """Total number of trainable values (over all ``make_trainable`` calls)."""
        return int(sum(np.size(t["init"]) for t in self.base.trainables))

    @property
    def trainable_params(self) -> list[dict]:
        """The trainable values, as ``get_parameters()`` returns them."""
        return self.base.get_parameters()

    @property
    def ncomp_per_branch(self) -> np.ndarray:
        """Number of compartments of every branch (global branch order)."""
        return np.bincount(self.base.nodes["global_branch_index"].to_numpy())

    @property
    def cumsum_ncomp(self) -> np.ndarray:
        """Index of the first compartment of every branch (and the total at the end)."""
        return np.concatenate([[0], np.cumsum(self.ncomp_per_branch)])

    @property
    def nbranches_per_cell(self) -> np.ndarray:
        nodes = self.base.nodes
        pairs = nodes[["global_cell_index", "global_branch_index"]].drop_duplicates()
        return np.bincount(pairs["global_cell_index"].to_numpy())

    @property
    def cumsum_nbranches(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.nbranches_per_cell)])

    @property
    def comb_parents(self) -> np.ndarray:
        """Parent branch of every branch (global indices, -1 for roots)."""
        return np.asarray(self.base.branch_parents, dtype=int)

    @property
    def comb_children(self) -> list[np.ndarray]:
        """Child branches of every branch."""
        parents = self.comb_parents
        return [np.flatnonzero(parents == b) for b in range(parents.size)]

    def copy_node_property_to_edges(self, properties_to_import, pre_or_post=("pre", "post")):
        """Copy compartment properties to ``.edges`` as ``pre_<name>`` / ``post_<name>``.

        As in Jaxley, a later change of the property is not propagated. Returns the
        module (or view) so that calls can be chained.
        """
        base = self.base
        names = (
            [properties_to_import]
            if isinstance(properties_to_import, str)
            else list(properties_to_import)
        )
        sides = [pre_or_post] if isinstance(pre_or_post, str) else list(pre_or_post)
        bad = [s for s in sides if s not in ("pre", "post")]
        if bad:
            raise ValueError(f"pre_or_post must be 'pre' and/or 'post', got {bad}.")
        missing = [n for n in names if n not in base.nodes.columns]
        if missing:
            raise ValueError(
                f"Unknown node properties {missing}; see module.nodes.columns for the names."
            )
        edges = self._edges_in_view
        for side in sides:
            comps = base.edges[f"{side}_index"].to_numpy()[edges]
            for name in names:
                column = f"{side}_{name}"
                if column not in base.edges:
                    base.edges[column] = np.nan
                base.edges.loc[edges, column] = base.nodes[name].to_numpy()[comps]
        return self

    def append_channel_currents_to_states(self, states: dict, all_params: dict, delta_t: float):
        """``states`` (from ``get_all_states``) with the membrane and synaptic currents."""
        from sim.core.convert import sim_state

        engine = self._engine()
        params = engine.step_params(all_params, delta_t)
        return engine.user_states(sim_state(self.base.compiled(), states), params)
