"""Presynaptic sites: evaluate a synapse's presynaptic terms once per source compartment.

In a network one presynaptic compartment usually drives many edges (its fan-out).
For a synapse like :class:`~sim.synapses.IonotropicSynapse` the expensive part of
the state update (two exponentials and the divisions of ``s_inf`` and ``tau``)
depends only on the presynaptic voltage and on parameters such as ``v_th``,
``delta`` and ``k_minus``. When those parameters are equal on all edges leaving a
compartment, the terms can be computed once per compartment and gathered to the
edges, the way NEURON runs one threshold detector per source however many
``NetCon`` objects it feeds.

A kernel opts in with the :class:`~sim.core.mechanism.PresynapticKernel`
interface. Whether the sharing is *valid* depends on parameter values, so it is
decided in two static steps:

1. at compile time (:func:`presynaptic_sites`): the kernel opts in and its
   presynaptic parameters are equal within every site in the edges table;
2. per simulation (:meth:`PresynapticSites.allows`): no ``data_set`` override
   touches those parameters and every trainable one gives all edges of a site the
   same value (a single value for all edges, or one per site, does).

Otherwise the step evaluates the kernel's ``update_states`` per edge, as before.
Both routes do the same arithmetic on the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from sim.core.index import Index
from sim.core.mechanism import PresynapticKernel

__all__ = ["PresynapticSites", "presynaptic_sites", "shares_update"]


@dataclass(frozen=True, eq=False)
class PresynapticSites:
    """The edges of one synapse type grouped by presynaptic compartment.

    Attributes:
        sites: Internal positions of the distinct presynaptic compartments.
        edge_site: For every edge (within-type order), the number of its site.
        first_edge: For every site, one of its edges (within-type position), whose
            parameter values stand for the whole site.
        keys: The parameters the presynaptic terms read.
    """

    sites: Index
    edge_site: np.ndarray
    first_edge: np.ndarray
    keys: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.sites)

    def allows(
        self, override_keys: Iterable[str], trainables: Iterable, edge_position: np.ndarray
    ) -> bool:
        """Whether the site values still hold with these overrides (static check).

        Args:
            override_keys: Keys of ``data_set`` entries of this simulation (their
                values and indices are traced, so any of ``keys`` disables sharing).
            trainables: :class:`~sim.core.compiled.Trainable` entries of the model.
            edge_position: ``CompiledModule.edge_position`` (global edge index ->
                position within its synapse type).
        """
        if set(override_keys) & set(self.keys):
            return False
        return all(
            self._uniform_per_site(t, edge_position) for t in trainables if t.key in self.keys
        )

    def _uniform_per_site(self, trainable, edge_position: np.ndarray) -> bool:
        """Every site receives one value from ``trainable`` (or keeps its base value).

        ``trainable.key`` is one of this type's parameters, so all its edges are ours.
        """
        label = np.full(self.edge_site.size, -1, dtype=np.int64)  # -1: untouched (base)
        label[edge_position[np.asarray(trainable.comps, dtype=np.int64)]] = trainable.groups
        return _constant_within(label, self.edge_site)

    def site_params(self, params: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
        """The presynaptic parameters of every site (from its representative edge)."""
        return {k: jnp.asarray(params[k])[self.first_edge] for k in self.keys}

    def to_edges(self, terms: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
        """Per-site terms gathered to the edges.

        The terms are stacked into one array first: that materialises them once per
        site. Gathering each term separately lets XLA fuse (and so recompute) the
        per-site arithmetic into the per-edge computation, which undoes the saving.
        """
        packed = jnp.stack([jnp.broadcast_to(t, (len(self),)) for t in terms], axis=1)
        per_edge = packed[self.edge_site]
        return tuple(per_edge[:, j] for j in range(len(terms)))


def _constant_within(values: np.ndarray, groups: np.ndarray) -> bool:
    """Whether ``values`` is constant within every group (NaN equals NaN)."""
    if values.size == 0:
        return True
    order = np.argsort(groups, kind="stable")
    g, v = groups[order], values[order]
    same_group = g[1:] == g[:-1]
    a, b = v[1:], v[:-1]
    equal = (a == b) | (np.isnan(a) & np.isnan(b)) if v.dtype.kind == "f" else a == b
    return bool(np.all(equal | ~same_group))


def shares_update(kernel) -> bool:
    """Whether ``kernel``'s ``update_states`` is the one its presynaptic split describes.

    A subclass that overrides ``update_states`` (but not the split) changes the
    dynamics; its update must then run as written, per edge.
    """
    if not isinstance(kernel, PresynapticKernel):
        return False
    mro = type(kernel).__mro__

    def owner(name: str):
        return next((c for c in mro if name in vars(c)), None)

    update, split = owner("update_states"), owner("presynaptic_terms")
    combine = owner("update_from_presynaptic")
    return (
        update is not None
        and split is not None
        and combine is not None
        and issubclass(split, update)
        and issubclass(combine, update)
    )


def presynaptic_sites(
    kernel,
    pre: Index,
    base_params: Mapping[str, np.ndarray],
) -> PresynapticSites | None:
    """Group the edges of ``kernel`` by presynaptic compartment, if worthwhile and valid.

    Returns None when the kernel does not implement the split, when no compartment
    drives more than one edge, or when a presynaptic parameter differs between edges
    of one site in the edges table.
    """
    if not shares_update(kernel) or len(pre) == 0:
        return None
    keys = tuple(kernel.presynaptic_params)
    unknown = [k for k in keys if k not in base_params]
    if unknown:
        raise ValueError(
            f"{kernel.name}.presynaptic_params names {unknown}, which are not parameters "
            f"of the synapse; use keys of synapse_params ({sorted(kernel.synapse_params)})."
        )
    sites, first_edge, edge_site = np.unique(pre.positions, return_index=True, return_inverse=True)
    if sites.size == pre.positions.size:
        return None
    edge_site = edge_site.reshape(-1).astype(np.int64)
    for k in keys:
        if not _constant_within(np.asarray(base_params[k], dtype=float), edge_site):
            return None
    return PresynapticSites(
        sites=Index.of(sites, pre.size),
        edge_site=edge_site,
        first_edge=first_edge.astype(np.int64),
        keys=keys,
    )
