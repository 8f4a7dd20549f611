"""Connecting compartments of a network with synapses (``jaxley.connect``)."""

from __future__ import annotations

import numpy as np

__all__ = ["connect"]


def _same_network(pre, post) -> None:
    from sim.modules.network import Network

    if not isinstance(pre.base, Network) or pre.base is not post.base:
        raise ValueError(
            "pre and post must be views of the same jx.Network, e.g. "
            "connect(net.cell(0).branch(0).comp(0), net.cell(1).branch(0).comp(0), syn)."
        )


def connect(pre, post, synapse_type) -> None:
    """Connect compartments of one network with synapses of type ``synapse_type``.

    ``pre`` and ``post`` are views of ``N`` compartments each; synapse ``k`` connects
    the ``k``-th compartment of ``pre`` to the ``k``-th of ``post`` (in increasing
    compartment index). One compartment each gives one synapse.
    """
    _same_network(pre, post)
    pre_comps = np.asarray(pre._sel, dtype=np.int64)
    post_comps = np.asarray(post._sel, dtype=np.int64)
    if pre_comps.size != post_comps.size:
        raise ValueError(
            f"connect pairs compartments one to one: pre has {pre_comps.size} and post "
            f"{post_comps.size}; use fully_connect or sparse_connect for other patterns."
        )
    pre.base.append_synapses(pre_comps, post_comps, synapse_type)
