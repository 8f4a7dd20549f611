"""Direct solvers for tree-structured (Hines) linear systems.

A forest over ``N`` nodes is given by a static ``parent`` array (``-1`` marks a
root). The linear system solved here is, for every node ``i``::

    diag[i] * x[i] + lower[i] * x[parent[i]]
        + sum_{c : parent[c] == i} upper[c] * x[c] = rhs[i]

``lower`` couples a node to its parent (its row), ``upper`` couples the parent
to the node (the parent's row); both are ignored for roots. The matrix need not
be symmetric. No pivoting is done: the solvers assume the matrix is diagonally
dominant, which holds for implicit cable-equation steps.

Elimination works from the leaves towards the roots. Removing a node ``i``
with parent ``p`` from the system updates the parent's row as::

    diag[p] -= upper[i] * lower[i] / diag[i]
    rhs[p]  -= upper[i] * rhs[i] / diag[i]

after which the roots are solved directly and the remaining unknowns follow
from ``x[i] = (rhs[i] - lower[i] * x[p]) / diag[i]`` going back down the tree.

All index bookkeeping happens once, in numpy, when a solver is constructed;
:meth:`TreeSolver.solve` is a pure ``jax.numpy`` function that can be jitted,
vmapped and differentiated in forward and reverse mode.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = [
    "DenseTreeSolver",
    "LevelTreeSolver",
    "SequentialTreeSolver",
    "TreeOrder",
    "TreeSolver",
    "pad_one",
    "tree_order",
]


@dataclass(frozen=True)
class TreeOrder:
    """Topological bookkeeping of a validated forest.

    Attributes:
        parent: Parent of every node (``-1`` for roots), ``int64``.
        order: Node indices such that every parent precedes its children.
        depth: Distance of every node from its root (roots have depth 0).
    """

    parent: np.ndarray
    order: np.ndarray
    depth: np.ndarray

    @property
    def num_nodes(self) -> int:
        return int(self.parent.shape[0])

    @property
    def num_levels(self) -> int:
        return int(self.depth.max()) + 1


def _validate_parent(parent: np.ndarray | Sequence[int]) -> np.ndarray:
    """Check the shape, dtype and value range of a parent array."""
    arr = np.asarray(parent)
    if arr.ndim != 1:
        raise ValueError(f"parent must be a 1-D array, got shape {arr.shape}.")
    if arr.shape[0] == 0:
        raise ValueError("parent must describe at least one node, got an empty array.")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"parent must have an integer dtype, got {arr.dtype}.")
    arr = arr.astype(np.int64)
    n = arr.shape[0]
    bad = np.flatnonzero((arr < -1) | (arr >= n))
    if bad.size:
        raise ValueError(
            f"parent values must lie in [-1, {n}); node {int(bad[0])} has parent "
            f"{int(arr[bad[0]])}."
        )
    selfish = np.flatnonzero(arr == np.arange(n))
    if selfish.size:
        raise ValueError(f"node {int(selfish[0])} is its own parent.")
    return arr


def tree_order(parent: np.ndarray | Sequence[int]) -> TreeOrder:
    """Validate ``parent`` and compute a breadth-first topological order.

    Raises:
        ValueError: If ``parent`` is not a 1-D integer array with values in
            ``[-1, N)``, has a self-loop, or contains a cycle.
    """
    par = _validate_parent(parent)
    n = par.shape[0]
    non_roots = np.flatnonzero(par >= 0)
    # Children grouped by parent, stable in node index (CSR layout).
    by_parent = non_roots[np.argsort(par[non_roots], kind="stable")]
    counts = np.bincount(par[non_roots], minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)])

    depth = np.full(n, -1, dtype=np.int64)
    frontier = np.flatnonzero(par < 0)
    depth[frontier] = 0
    layers = [frontier]
    level = 0
    while frontier.size:
        level += 1
        # Concatenate the CSR child ranges of all frontier nodes.
        lens = counts[frontier]
        shift = np.repeat(starts[frontier] - np.cumsum(lens) + lens, lens)
        frontier = by_parent[shift + np.arange(shift.size)]
        depth[frontier] = level
        if frontier.size:
            layers.append(frontier)
    order = np.concatenate(layers)
    if order.size != n:
        cyclic = np.flatnonzero(depth < 0)
        shown = ", ".join(str(int(i)) for i in cyclic[:10])
        raise ValueError(
            f"parent array contains a cycle: {cyclic.size} node(s) are not "
            f"reachable from any root (e.g. {shown})."
        )
    return TreeOrder(parent=par, order=order, depth=depth)


def _as_float_arrays(
    num_nodes: int, diag, lower, upper, rhs
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Convert the coefficients to one common floating dtype and check shapes."""
    arrays = [jnp.asarray(a) for a in (diag, lower, upper, rhs)]
    dtype = jnp.result_type(*arrays, jnp.float32)
    names = ("diag", "lower", "upper", "rhs")
    for name, a in zip(names, arrays, strict=True):
        if a.shape != (num_nodes,):
            raise ValueError(
                f"{name} must have shape ({num_nodes},), got {a.shape}; use jax.vmap for batches."
            )
    d, lo, up, b = (a.astype(dtype) for a in arrays)
    return d, lo, up, b


class TreeSolver(abc.ABC):
    """Solver for a tree-structured linear system with a fixed sparsity pattern.

    Args:
        parent: Parent index of every node, ``-1`` for roots. Nodes may be
            numbered in any order; a topological order is computed here.
    """

    def __init__(self, parent: np.ndarray | Sequence[int]) -> None:
        self.tree: TreeOrder = tree_order(parent)
        has_parent = self.tree.parent >= 0
        self._child = np.flatnonzero(has_parent)
        self._child_parent = self.tree.parent[self._child]
        # Compiled once per solver; inlined when called inside an outer jit.
        self._jitted_solve = jax.jit(self._solve_differentiable)

    @property
    def num_nodes(self) -> int:
        """Number of unknowns."""
        return self.tree.num_nodes

    @property
    def parent(self) -> np.ndarray:
        """The validated parent array (``int64``)."""
        return self.tree.parent

    def solve(
        self, diag: jax.Array, lower: jax.Array, upper: jax.Array, rhs: jax.Array
    ) -> jax.Array:
        """Return ``x`` solving the tree system (see the module docstring).

        All four arguments have shape ``(N,)``; the result has the common
        floating dtype of the inputs. The solve is jitted per solver instance
        and composes with ``jit``, ``vmap``, ``grad`` and ``jacfwd``.
        """
        d, lo, up, b = _as_float_arrays(self.num_nodes, diag, lower, upper, rhs)
        return self._jitted_solve(d, lo, up, b)

    def matvec(self, diag: jax.Array, lower: jax.Array, upper: jax.Array, x: jax.Array):
        """The product of the tree matrix with ``x`` (roots' couplings ignored)."""
        y = diag * x
        c, p = self._child, self._child_parent
        y = y.at[c].add(lower[c] * x[p])
        return y.at[p].add(upper[c] * x[c])

    def _solve_differentiable(self, diag, lower, upper, rhs):
        """The solve with derivative rules of a linear solve.

        Forward mode: ``dx = A^{-1} (db - dA x)``; reverse mode: one solve with
        the transposed matrix (lower and upper swapped), so derivatives never
        trace through the elimination loops and cost one extra solve each.
        """

        def solve(_matvec, b):
            return self._solve(diag, lower, upper, b)

        # In reverse mode the barrier materialises the right-hand side once:
        # otherwise XLA fuses its producer (the mechanisms' adjoints, elementwise)
        # into every slice the elimination takes of it, recomputing it each time.
        def transpose_solve(_matvec, b):
            d, lo, up, b = lax.optimization_barrier((diag, lower, upper, b))
            return self._solve(d, up, lo, b)

        return lax.custom_linear_solve(
            lambda x: self.matvec(diag, lower, upper, x), rhs, solve, transpose_solve
        )

    @abc.abstractmethod
    def _solve(
        self, diag: jax.Array, lower: jax.Array, upper: jax.Array, rhs: jax.Array
    ) -> jax.Array:
        """Solve for validated, same-dtype inputs of shape ``(N,)``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_nodes={self.num_nodes})"


def pad_one(a: jax.Array, value: float) -> jax.Array:
    """Append one entry (the dummy node used for padding) to ``a``."""
    return jnp.concatenate([a, jnp.full((1,), value, dtype=a.dtype)])


class DenseTreeSolver(TreeSolver):
    """Assemble the full ``N x N`` matrix and call :func:`jax.numpy.linalg.solve`.

    ``O(N^3)``; intended as a reference for tests and for tiny systems.
    """

    def build_matrix(self, diag: jax.Array, lower: jax.Array, upper: jax.Array) -> jax.Array:
        """Return the dense system matrix for the given coefficients."""
        n = self.num_nodes
        idx = np.arange(n)
        mat = jnp.zeros((n, n), dtype=diag.dtype).at[idx, idx].set(diag)
        mat = mat.at[self._child, self._child_parent].set(lower[self._child])
        return mat.at[self._child_parent, self._child].set(upper[self._child])

    def _solve(self, diag, lower, upper, rhs):
        mat = self.build_matrix(diag, lower, upper)
        return jnp.linalg.solve(mat, rhs[:, None])[:, 0]


class SequentialTreeSolver(TreeSolver):
    """Hines' algorithm: eliminate one node at a time, as NEURON does.

    Elimination visits the non-root nodes children-first, back-substitution all
    nodes parents-first, each as a :func:`jax.lax.scan` of scalar steps that index
    the coefficient arrays in place (node numbers and parents are static
    constants of the scans, so nothing is permuted or padded).

    Args:
        parent: Parent array, see :class:`TreeSolver`.
        unroll: Loop unrolling factor passed to :func:`jax.lax.scan`.
    """

    def __init__(self, parent: np.ndarray | Sequence[int], *, unroll: int = 1) -> None:
        super().__init__(parent)
        order = self.tree.order
        par = self.parent[order]
        kids = par >= 0
        self._elim_nodes = order[kids][::-1].astype(np.int32)
        self._elim_parents = par[kids][::-1].astype(np.int32)
        self._order = order.astype(np.int32)
        self._order_parents = np.maximum(par, 0).astype(np.int32)
        self._order_is_root = ~kids
        self._unroll = max(1, int(unroll))

    def _solve(self, diag, lower, upper, rhs):
        def eliminate(carry, xs):
            d, b = carry
            i, p = xs
            f = upper[i] / d[i]
            d = d.at[p].add(-f * lower[i])
            b = b.at[p].add(-f * b[i])
            return (d, b), None

        elim = (self._elim_nodes, self._elim_parents)
        (d, b), _ = lax.scan(eliminate, (diag, rhs), elim, unroll=self._unroll)

        def substitute(x, xs):
            i, p, root = xs
            coupling = jnp.where(root, 0.0, lower[i] * x[p])
            return x.at[i].set((b[i] - coupling) / d[i]), None

        subst = (self._order, self._order_parents, self._order_is_root)
        x, _ = lax.scan(substitute, rhs, subst, unroll=self._unroll)  # every entry is overwritten
        return x


@dataclass(frozen=True)
class _Level:
    """Index arrays of one depth level (one row of the level layout).

    Slots past the level's real nodes are padding; they refer to the dummy node
    ``N`` whose coefficients are neutral (diag 1, everything else 0).

    Attributes:
        node: Node index of every slot (``N`` for padding).
        coupled: Like ``node`` but roots map to ``N`` too, so that their
            ``lower``/``upper`` coefficients read as zero.
        parent_slot: Slot of each node's parent in the previous level; roots and
            padding point one past the previous level's width.
        children: ``(width, max_children)`` slots of each node's children in the
            next level, padded with the next level's width; ``None`` when the
            level is too bushy and receives its children by a segment sum.
    """

    node: np.ndarray
    coupled: np.ndarray
    parent_slot: np.ndarray
    children: np.ndarray | None


def _level_groups(tree: TreeOrder) -> list[np.ndarray]:
    """Split the breadth-first order into one node array per depth."""
    counts = np.bincount(tree.depth)
    return np.split(tree.order, np.cumsum(counts)[:-1])


def _children_table(
    child_parent_slot: np.ndarray, *, width: int, num_cols: int, pad: int
) -> np.ndarray:
    """Tabulate the child slots of every parent slot, padded with ``pad``."""
    table = np.full((width, num_cols), pad, dtype=np.int64)
    by_parent = np.argsort(child_parent_slot, kind="stable")
    sorted_slots = child_parent_slot[by_parent]
    first = np.searchsorted(sorted_slots, sorted_slots, side="left")
    rank = np.arange(sorted_slots.size) - first
    table[sorted_slots, rank] = by_parent
    return table


def _build_levels(
    tree: TreeOrder, *, pad_width: int | None, max_gather_children: int
) -> list[_Level]:
    """Group nodes by depth and build each level's index arrays.

    With ``pad_width`` every level has that many slots and the same number of
    children columns (for :func:`jax.lax.scan`); otherwise widths are exact.
    """
    n = tree.num_nodes
    groups = _level_groups(tree)
    slot = np.zeros(n, dtype=np.int64)
    for nodes in groups:
        slot[nodes] = np.arange(nodes.size)
    widths = [pad_width or nodes.size for nodes in groups]
    # Real nodes of level k+1 are never roots, so their parent slot is defined.
    child_slots = [slot[tree.parent[nodes]] for nodes in groups[1:]] + [np.zeros(0, dtype=np.int64)]
    fanout = [np.bincount(s, minlength=1).max(initial=0) for s in child_slots]
    if pad_width is not None:
        fanout = [max(fanout)] * len(groups)
    levels = []
    for k, nodes in enumerate(groups):
        width = widths[k]
        prev_width = widths[k - 1] if k else (pad_width or 0)
        next_width = widths[k + 1] if k + 1 < len(groups) else (pad_width or 0)
        node = np.full(width, n, dtype=np.int64)
        node[: nodes.size] = nodes
        coupled = node.copy() if k else np.full(width, n, dtype=np.int64)
        parent_slot = np.full(width, prev_width, dtype=np.int64)
        if k:
            parent_slot[: nodes.size] = slot[tree.parent[nodes]]
        children = None
        if fanout[k] <= max_gather_children:
            children = _children_table(
                child_slots[k], width=width, num_cols=fanout[k], pad=next_width
            )
        levels.append(_Level(node, coupled, parent_slot, children))
    return levels


def _eliminate_level(
    rows: tuple[jax.Array, ...],
    incoming: jax.Array,
    children: jax.Array | np.ndarray | None,
    parent_slot: jax.Array | np.ndarray,
    *,
    num_parent_slots: int,
    emit_padded: bool,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Eliminate one level given the contributions of the level below it.

    ``incoming`` holds, per slot of the deeper level, ``upper/diag`` times
    ``(lower, rhs)`` (padded by a zero row) when ``children`` is a table, or the
    same values already summed per slot of this level when ``children`` is
    ``None``. Returns the eliminated ``diag`` and ``rhs`` of this level and its
    own contributions in the form its parent level expects (``emit_padded``:
    per slot plus a zero row; otherwise summed per parent slot).
    """
    diag, rhs, lower, upper = rows
    acc = incoming if children is None else incoming[children].sum(axis=1)
    diag = diag - acc[:, 0]
    rhs = rhs - acc[:, 1]
    factor = upper / diag
    share = jnp.stack([factor * lower, factor * rhs], axis=-1)
    if emit_padded:
        out = jnp.concatenate([share, jnp.zeros((1, 2), share.dtype)])
    else:
        out = jax.ops.segment_sum(share, parent_slot, num_segments=num_parent_slots + 1)[:-1]
    return diag, rhs, out


def _substitute_level(
    diag: jax.Array,
    rhs: jax.Array,
    lower: jax.Array,
    parent_slot: jax.Array | np.ndarray,
    x_parent: jax.Array,
) -> jax.Array:
    """Back-substitute one level; ``x_parent`` ends with an extra zero entry."""
    return (rhs - lower * x_parent[parent_slot]) / diag


class LevelTreeSolver(TreeSolver):
    """Level-parallel Gaussian elimination (leaves to roots, then back down).

    Nodes of equal depth are independent in both sweeps, so every level is one
    vectorised step. A level collects its children's contributions by gathering
    through a padded children table, or by a segment sum when some node of the
    level has more than ``max_gather_children`` children (star-like trees).

    Shallow trees (at most ``max_unrolled_levels`` levels) are unrolled as a
    Python loop with exact level widths. Deeper trees pad every level to the
    largest width with a dummy node and run :func:`jax.lax.scan` over levels,
    so compile time does not grow with depth.

    Args:
        parent: Parent array, see :class:`TreeSolver`.
        max_unrolled_levels: Largest number of levels solved by a Python loop.
        max_gather_children: Largest fan-out handled by the children table.
        unroll: Loop unrolling factor for :func:`jax.lax.scan`.
    """

    def __init__(
        self,
        parent: np.ndarray | Sequence[int],
        *,
        max_unrolled_levels: int = 16,
        max_gather_children: int = 16,
        unroll: int = 1,
    ) -> None:
        super().__init__(parent)
        tree = self.tree
        self.use_scan: bool = tree.num_levels > max_unrolled_levels
        self.max_width: int = int(np.bincount(tree.depth).max())
        self._unroll = max(1, int(unroll))
        self._levels = _build_levels(
            tree,
            pad_width=self.max_width if self.use_scan else None,
            max_gather_children=max_gather_children,
        )
        sizes = [lv.node.size for lv in self._levels]
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        flat = np.empty(tree.num_nodes, dtype=np.int64)
        for k, lv in enumerate(self._levels):
            real = np.flatnonzero(lv.node < tree.num_nodes)
            flat[lv.node[real]] = offsets[k] + real
        self._flat_position = flat

    @property
    def num_levels(self) -> int:
        """Number of depth levels (longest root-to-leaf path plus one)."""
        return self.tree.num_levels

    def _solve(self, diag, lower, upper, rhs):
        # Index N is the neutral dummy node used for padding and for roots.
        padded = (
            pad_one(diag, 1.0),
            pad_one(rhs, 0.0),
            pad_one(lower, 0.0),
            pad_one(upper, 0.0),
        )
        if self.use_scan:
            rows = self._solve_scanned(*padded)
        else:
            rows = self._solve_unrolled(*padded)
        return rows[self._flat_position]

    def _solve_unrolled(self, diag, rhs, lower, upper) -> jax.Array:
        """Python loop over levels with exact widths; returns concatenated rows."""
        levels = self._levels
        last = levels[-1]
        incoming = jnp.zeros((1 if last.children is not None else last.node.size, 2), diag.dtype)
        node = np.concatenate([lv.node for lv in levels])
        coupled = np.concatenate([lv.coupled for lv in levels])
        flat_rows = (diag[node], rhs[node], lower[coupled], upper[coupled])
        bounds = np.cumsum([0] + [lv.node.size for lv in levels])
        eliminated: list[tuple[jax.Array, jax.Array, jax.Array]] = []
        for k in range(len(levels) - 1, -1, -1):
            lv = levels[k]
            rows = tuple(a[bounds[k] : bounds[k + 1]] for a in flat_rows)
            parent_width = levels[k - 1].node.size if k else 0
            emit_padded = k == 0 or levels[k - 1].children is not None
            d_k, b_k, incoming = _eliminate_level(
                rows,
                incoming,
                lv.children,
                lv.parent_slot,
                num_parent_slots=parent_width,
                emit_padded=emit_padded,
            )
            eliminated.append((d_k, b_k, rows[2]))
        x_rows = []
        x_parent = jnp.zeros((1,), diag.dtype)
        for lv, (d_k, b_k, lo_k) in zip(levels, reversed(eliminated)):
            x_k = _substitute_level(d_k, b_k, lo_k, lv.parent_slot, x_parent)
            x_rows.append(x_k)
            x_parent = pad_one(x_k, 0.0)
        return jnp.concatenate(x_rows)

    def _solve_scanned(self, diag, rhs, lower, upper) -> jax.Array:
        """Scan over padded levels; returns the flattened ``(levels, width)`` rows."""
        levels = self._levels
        width = self.max_width
        node = np.stack([lv.node for lv in levels])
        coupled = np.stack([lv.coupled for lv in levels])
        parent_slot = jnp.asarray(np.stack([lv.parent_slot for lv in levels]))
        gather = levels[0].children is not None
        children = (
            jnp.asarray(np.stack([np.asarray(lv.children) for lv in levels])) if gather else None
        )
        rows = (diag[node], rhs[node], lower[coupled], upper[coupled])

        def eliminate(incoming, xs):
            rows_k, children_k, slot_k = xs
            d_k, b_k, out = _eliminate_level(
                rows_k,
                incoming,
                children_k,
                slot_k,
                num_parent_slots=width,
                emit_padded=gather,
            )
            return out, (d_k, b_k)

        init = jnp.zeros((width + 1 if gather else width, 2), diag.dtype)
        _, (el_d, el_b) = lax.scan(
            eliminate,
            init,
            (rows, children, parent_slot),
            reverse=True,
            unroll=self._unroll,
        )

        def substitute(x_parent, xs):
            d_k, b_k, lo_k, slot_k = xs
            x_k = _substitute_level(d_k, b_k, lo_k, slot_k, x_parent)
            return pad_one(x_k, 0.0), x_k

        x_init = jnp.zeros((width + 1,), diag.dtype)
        _, x_rows = lax.scan(
            substitute,
            x_init,
            (el_d, el_b, rows[2], parent_slot),
            unroll=self._unroll,
        )
        return x_rows.reshape(-1)
