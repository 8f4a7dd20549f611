"""Connecting compartments of a network with synapses (``jaxley.connect``).

Random choices (``sparse_connect``, ``random_post_comp=True``) draw from NumPy's
global random state, in the same order of calls as Jaxley 0.14, so
``np.random.seed(s)`` before building a network gives the same edges in both
libraries (for ``random_post_comp=False``; with ``True`` the compartments are
drawn by our own rule, uniform within each postsynaptic cell).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "connect",
    "connectivity_matrix_connect",
    "fully_connect",
    "is_same_network",
    "sample_comp",
    "sparse_connect",
]


def is_same_network(pre, post) -> bool:
    """Whether two views belong to the same ``Network``."""
    from sim.modules.network import Network

    return isinstance(pre.base, Network) and pre.base is post.base


def _same_network(pre, post) -> None:
    if not is_same_network(pre, post):
        raise ValueError(
            "pre and post must be views of the same jx.Network, e.g. "
            "connect(net.cell(0).branch(0).comp(0), net.cell(1).branch(0).comp(0), syn); got "
            f"{type(pre.base).__name__} and {type(post.base).__name__} objects."
        )


def sample_comp(cell_view, num: int = 1, replace: bool = True) -> np.ndarray:
    """``num`` random compartments (global indices) of ``cell_view``."""
    return np.random.choice(np.asarray(cell_view._sel), num, replace=replace)


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


def _cells(view) -> np.ndarray:
    return np.unique(view.base.nodes["global_cell_index"].to_numpy()[view._sel])


def _first_comp(view, cells: np.ndarray) -> np.ndarray:
    """Global index of branch 0, compartment 0 of each cell (Jaxley's synapse site)."""
    nodes = view.base.nodes
    first = nodes[(nodes["local_branch_index"] == 0) & (nodes["local_comp_index"] == 0)]
    lookup = dict(zip(first["global_cell_index"].to_numpy(), first.index.to_numpy()))
    return np.asarray([lookup[int(c)] for c in cells], dtype=np.int64)


def _random_comps(view, cells: np.ndarray) -> np.ndarray:
    """One random compartment of ``view`` in each of ``cells`` (repeats allowed)."""
    nodes = view.base.nodes
    sel = np.asarray(view._sel)
    owner = nodes["global_cell_index"].to_numpy()[sel]
    out = np.empty(len(cells), dtype=np.int64)
    for k, cell in enumerate(cells):
        out[k] = np.random.choice(sel[owner == cell])
    return out


def fully_connect(pre_cell_view, post_cell_view, synapse_type, random_post_comp: bool = False):
    """Connect every cell of ``pre_cell_view`` to every cell of ``post_cell_view``.

    Synapses go from branch 0, compartment 0 of the presynaptic cell to branch 0,
    compartment 0 of the postsynaptic cell (a random compartment of it with
    ``random_post_comp=True``).
    """
    _same_network(pre_cell_view, post_cell_view)
    pre_cells, post_cells = _cells(pre_cell_view), _cells(post_cell_view)
    pre = np.repeat(_first_comp(pre_cell_view, pre_cells), len(post_cells))
    targets = np.tile(post_cells, len(pre_cells))
    if random_post_comp:
        post = _random_comps(post_cell_view, targets)
    else:
        post = _first_comp(post_cell_view, targets)
    pre_cell_view.base.append_synapses(pre, post, synapse_type)


def sparse_connect(
    pre_cell_view, post_cell_view, synapse_type, p: float, random_post_comp: bool = False
):
    """Connect random pairs of cells: ``Binomial(n_pre * n_post, p)`` synapses.

    As in Jaxley, pre and post cells of each synapse are drawn independently and
    uniformly, so a pair may be connected more than once and ``p = 1`` does not
    connect every pair. Sites as in :func:`fully_connect`.
    """
    _same_network(pre_cell_view, post_cell_view)
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0 <= p <= 1:
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}.")
    pre_cells, post_cells = _cells(pre_cell_view), _cells(post_cell_view)
    num = np.random.binomial(len(pre_cells) * len(post_cells), p)
    if num == 0:
        return
    pre_pick = np.random.choice(pre_cells, size=num)
    post_pick = np.random.choice(post_cells, size=num)
    order = np.argsort(pre_pick)  # sorted by presynaptic cell, as in Jaxley
    pre_pick, post_pick = pre_pick[order], post_pick[order]
    pre = _first_comp(pre_cell_view, pre_pick)
    if random_post_comp:
        post = _random_comps(post_cell_view, post_pick)
    else:
        post = _first_comp(post_cell_view, post_pick)
    pre_cell_view.base.append_synapses(pre, post, synapse_type)


def connectivity_matrix_connect(
    pre_cell_view,
    post_cell_view,
    synapse_type,
    connectivity_matrix,
    random_post_comp: bool = False,
):
    """Connect cell ``i`` of ``pre_cell_view`` to cell ``j`` of ``post_cell_view`` where
    ``connectivity_matrix[i, j]`` is True (a boolean ``(n_pre, n_post)`` matrix)."""
    _same_network(pre_cell_view, post_cell_view)
    pre_cells, post_cells = _cells(pre_cell_view), _cells(post_cell_view)
    matrix = np.asarray(connectivity_matrix)
    if matrix.shape != (len(pre_cells), len(post_cells)):
        raise ValueError(
            f"connectivity_matrix must have shape (n_pre, n_post) = "
            f"{(len(pre_cells), len(post_cells))}, got {matrix.shape}."
        )
    if matrix.dtype != bool:
        raise TypeError(f"connectivity_matrix must be boolean, got dtype {matrix.dtype}.")
    rows, cols = np.nonzero(matrix)
    if rows.size == 0:
        return
    pre = _first_comp(pre_cell_view, pre_cells[rows])
    if random_post_comp:
        post = _random_comps(post_cell_view, post_cells[cols])
    else:
        post = _first_comp(post_cell_view, post_cells[cols])
    pre_cell_view.base.append_synapses(pre, post, synapse_type)
