"""A tree solver that eliminates unbranched segments in parallel (the default on CPU).

Cable trees are mostly long unbranched runs of compartments joined at a few
branch points. Call a node a *junction* if it is a root, has two or more
children, or is declared one (``force_junction``); every other node has a
parent and at most one child, so the non-junction nodes form vertical
*segments* (maximal paths), each hanging from a junction ``P`` (the parent of
its top node) and, unless it ends in a leaf, carrying one junction ``C`` below
its bottom node.

The solve has three phases:

1. **Segment elimination**, all segments at once. Going up from the bottom node,
   each node is eliminated into the one above it (Thomas' algorithm) while its
   coupling to ``C`` is carried along; the top node is finally eliminated into
   ``P``, which leaves a direct coupling ``C``–``P`` (fill-in) and updates the
   diagonals and right-hand sides of ``P`` and ``C``.
2. **Junction solve**: what is left is a tree over the junctions only (``C``
   hangs from ``P``), about one node per branch point, solved by any
   :class:`~sim.solvers.tree.TreeSolver` (default: sequential Hines).
3. **Back-substitution**, all segments at once, from the top node down, with
   the now known ``x_P`` and ``x_C``.

Phases 1 and 3 take one vectorised round per node of the longest segment. An
unbranched chain (a cell of one branch) is eliminated as if rooted at its middle
node (:func:`balanced_parent`): two segments of half its length instead of one,
so half the rounds; the solver re-orients the couplings, the system is unchanged.
Nodes are best numbered in the solver's *round-major order* (see
:meth:`SegmentTreeSolver.preferred_order`): segments sorted by length, round
``j`` holding the ``j``-th node from the bottom of every segment that long, then
the junctions. In that numbering every round reads and writes a contiguous
slice and the solve does no gathers at all; otherwise the inputs are permuted
into it once per solve.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
from jax import lax

from sim.solvers.tree import SequentialTreeSolver, TreeSolver, pad_one, tree_order

__all__ = ["SegmentTreeSolver", "SegmentLayout", "balanced_parent", "segment_layout"]


@dataclass(frozen=True)
class SegmentLayout:
    """The segment decomposition of a forest, in round-major order.

    ``S`` segments sorted by decreasing length (the longest has ``K`` nodes),
    ``M`` junctions, ``N`` nodes.

    Attributes:
        order: All nodes in round-major order: round 0 (the bottom node of every
            segment), round 1, ..., then the junctions (ascending).
        widths: Number of segments with more than ``j`` nodes, for ``j < K``.
        junctions: The junction nodes (ascending), shape ``(M,)``.
        top_junction: Junction slot (in ``0..M-1``) of each segment's ``P``.
        bottom_junction: Junction slot of each segment's ``C``, ``M`` if none.
        junction_parent: Parent slot of every junction in the junction tree.
        junction_segment: Segment through which a junction hangs from its
            junction parent, ``S`` if it is a root or a direct child.
    """

    order: np.ndarray
    widths: np.ndarray
    junctions: np.ndarray
    top_junction: np.ndarray
    bottom_junction: np.ndarray
    junction_parent: np.ndarray
    junction_segment: np.ndarray

    @property
    def num_segments(self) -> int:
        return int(self.widths[0]) if self.widths.size else 0

    @property
    def max_length(self) -> int:
        return int(self.widths.size)

    @property
    def num_segment_nodes(self) -> int:
        return int(self.widths.sum())


def _segments(parent: np.ndarray, is_junction: np.ndarray) -> list[list[int]]:
    """Maximal paths of non-junction nodes, each listed top to bottom."""
    n = parent.shape[0]
    has_parent = parent >= 0
    nchild = np.bincount(parent[has_parent], minlength=n)
    only_child = np.full(n, -1, dtype=np.int64)
    kids = np.flatnonzero(has_parent)
    single = nchild[parent[kids]] == 1
    only_child[parent[kids[single]]] = kids[single]
    tops = np.flatnonzero(~is_junction & has_parent & is_junction[np.maximum(parent, 0)])
    paths = []
    for top in tops:
        path = [int(top)]
        c = only_child[top]
        while c >= 0 and not is_junction[c]:
            path.append(int(c))
            c = only_child[c]
        paths.append(path)
    return paths


def balanced_parent(
    parent: np.ndarray | Sequence[int], force_junction: np.ndarray | None = None
) -> np.ndarray:
    """``parent`` with every unbranched chain re-rooted at its middle node.

    The elimination takes one round per node of the longest segment, and a root is
    a junction that ends the segments hanging from it. A chain (a tree in which no
    node has two children, e.g. a cell of one branch) rooted at an end is one
    segment of ``n - 1`` nodes; rooted at its middle, two of about ``n / 2``.
    The linear system is the same (its couplings are re-oriented by the solver);
    other trees, and chains containing a forced junction, keep their root.
    """
    par = tree_order(parent).parent
    n = par.shape[0]
    has_parent = par >= 0
    nchild = np.bincount(par[has_parent], minlength=n)
    only_child = np.full(n, -1, dtype=np.int64)
    kids = np.flatnonzero(has_parent)
    only_child[par[kids]] = kids  # exact where nchild == 1, the only case used
    forced = np.zeros(n, bool) if force_junction is None else np.asarray(force_junction, bool)
    out = par.copy()
    for root in np.flatnonzero(~has_parent):
        path = [int(root)]
        while nchild[path[-1]] == 1:
            path.append(int(only_child[path[-1]]))
        if nchild[path[-1]] > 1 or len(path) < 3 or forced[path].any():
            continue  # branched, too short to gain a round, or with forced junctions
        mid = (len(path) - 1) // 2
        for k, node in enumerate(path):
            out[node] = -1 if k == mid else path[k + 1] if k < mid else path[k - 1]
    return out


def segment_layout(
    parent: np.ndarray | Sequence[int], force_junction: np.ndarray | None = None
) -> SegmentLayout:
    """Decompose a forest into junctions and unbranched segments (round-major)."""
    parent = tree_order(parent).parent
    n = parent.shape[0]
    has_parent = parent >= 0
    nchild = np.bincount(parent[has_parent], minlength=n)
    is_junction = ~has_parent | (nchild >= 2)
    if force_junction is not None:
        is_junction = is_junction | np.asarray(force_junction, dtype=bool)
    paths = sorted(_segments(parent, is_junction), key=lambda p: (-len(p), p[0]))
    s = len(paths)
    k = len(paths[0]) if paths else 0
    widths = np.array([sum(len(p) > j for p in paths) for j in range(k)], dtype=np.int64)
    rounds = [[p[-1 - j] for p in paths[: widths[j]]] for j in range(k)]
    junctions = np.flatnonzero(is_junction)
    order = np.concatenate([np.asarray(r, dtype=np.int64) for r in rounds] + [junctions])

    m = junctions.size
    slot = np.full(n, -1, dtype=np.int64)
    slot[junctions] = np.arange(m)
    segment_of_bottom = np.full(n, -1, dtype=np.int64)
    top_junction = np.zeros(s, dtype=np.int64)
    bottom_junction = np.full(s, m, dtype=np.int64)
    child_of = {int(c): int(p) for c, p in zip(np.flatnonzero(has_parent), parent[has_parent])}
    below = {p: c for c, p in child_of.items() if nchild[p] == 1}
    for q, path in enumerate(paths):
        top_junction[q] = slot[parent[path[0]]]
        segment_of_bottom[path[-1]] = q
        c = below.get(path[-1])
        if c is not None:
            bottom_junction[q] = slot[c]
    junction_parent = np.full(m, -1, dtype=np.int64)
    junction_segment = np.full(m, s, dtype=np.int64)
    for q, node in enumerate(junctions):
        p = parent[node]
        if p < 0:
            continue
        if is_junction[p]:
            junction_parent[q] = slot[p]
        else:
            seg = segment_of_bottom[p]
            junction_segment[q] = seg
            junction_parent[q] = top_junction[seg]
    return SegmentLayout(
        order=order,
        widths=widths,
        junctions=junctions,
        top_junction=top_junction,
        bottom_junction=bottom_junction,
        junction_parent=junction_parent,
        junction_segment=junction_segment,
    )


class SegmentTreeSolver(TreeSolver):
    """Eliminate unbranched segments in parallel, then solve the junction tree.

    Args:
        parent: Parent array, see :class:`~sim.solvers.tree.TreeSolver`.
        force_junction: Optional boolean mask of nodes to treat as junctions
            (e.g. branch points, so that they are numbered after compartments).
        junction_solver: Factory ``parent -> TreeSolver`` for the reduced system
            over the junctions (default: sequential Hines elimination).
        max_unrolled_rounds: Segments up to this many nodes are eliminated by an
            unrolled Python loop over static slices; longer ones by a
            :func:`jax.lax.scan` over padded rounds.
    """

    def __init__(
        self,
        parent: np.ndarray | Sequence[int],
        *,
        force_junction: np.ndarray | None = None,
        junction_solver: Callable[[np.ndarray], TreeSolver] = SequentialTreeSolver,
        max_unrolled_rounds: int = 32,
    ) -> None:
        super().__init__(parent)
        # Eliminate on the balanced rooting; _solve re-orients the couplings.
        rooted = balanced_parent(self.parent, force_junction)
        flipped = (rooted >= 0) & (self.parent[np.maximum(rooted, 0)] == np.arange(rooted.size))
        self._rerooted = bool(np.any(rooted != self.parent))
        self._coupling_src = np.where(flipped, rooted, np.arange(rooted.size))
        self._flipped = flipped
        self._is_root = rooted < 0
        self.layout = segment_layout(rooted, force_junction)
        self._junction = junction_solver(self.layout.junction_parent)
        self._permuted = not np.array_equal(self.layout.order, np.arange(self.num_nodes))
        self._inverse = np.argsort(self.layout.order)
        self._unrolled = self.layout.max_length <= max_unrolled_rounds
        self._tops = _children_table(self.layout.top_junction, self.layout.junctions.size)
        if not self._unrolled:
            self._padded = _PaddedRounds.build(self.layout)

    @staticmethod
    def preferred_order(
        parent: np.ndarray | Sequence[int], force_junction: np.ndarray | None = None
    ) -> np.ndarray:
        """Node numbering in which the solve needs no permutation (round-major)."""
        return segment_layout(balanced_parent(parent, force_junction), force_junction).order

    def _reoriented(self, lower, upper):
        """Couplings of the balanced rooting: a node whose edge to its (new) parent
        was its original child's edge takes that child's couplings, swapped."""
        src, flip = self._coupling_src, self._flipped
        lo = jnp.where(flip, upper[src], lower[src])
        up = jnp.where(flip, lower[src], upper[src])
        return jnp.where(self._is_root, 0.0, lo), jnp.where(self._is_root, 0.0, up)

    def _solve(self, diag, lower, upper, rhs):
        lay = self.layout
        if self._rerooted:
            lower, upper = self._reoriented(lower, upper)
        # Coefficients in round-major order; the coupling of a node to its parent
        # (lower) and of the parent to it (upper) are per node and move with it.
        coeffs = (diag, rhs, lower, upper)
        if self._permuted:
            coeffs = tuple(a[lay.order] for a in coeffs)
        d, b, lo, up = coeffs
        ns = lay.num_segment_nodes
        d_j, b_j, lo_j, up_j = (a[ns:] for a in (d, b, lo, up))
        if lay.num_segments == 0:
            x = self._junction_solve(d_j, lo_j, up_j, b_j)
        else:
            # Couplings of the bottom junction C to the bottom node of its segment.
            m = lay.junctions.size
            has_c = lay.bottom_junction < m
            c_slot = np.minimum(lay.bottom_junction, m - 1)
            u_c = jnp.where(has_c, up_j[c_slot], 0.0)
            l_c = jnp.where(has_c, lo_j[c_slot], 0.0)
            rows = (d[:ns], b[:ns], lo[:ns], up[:ns])
            if self._unrolled:
                reduced, saved = _eliminate_rounds(rows, lay.widths, u_c, l_c)
            else:
                reduced, saved = self._padded.eliminate(rows, u_c, l_c)
            x_j = self._solve_junctions(reduced, d_j, b_j, lo_j, up_j)
            x_top = _take(x_j, lay.top_junction)  # every segment hangs from a junction
            if has_c.any():
                x_bot = pad_one(x_j, 0.0)[lay.bottom_junction]
            else:  # all segments end in leaves (e.g. unbranched cells): no padded copy
                x_bot = jnp.zeros_like(x_top)
            if self._unrolled:
                x_seg = _substitute_rounds(saved, lo[:ns], lay.widths, x_top, x_bot)
            else:
                x_seg = self._padded.substitute(saved, lo[:ns], x_top, x_bot)
            x = jnp.concatenate([x_seg, x_j])
        return x[self._inverse] if self._permuted else x

    def _solve_junctions(self, reduced, d_j, b_j, lo_j, up_j):
        """Add the segments' contributions to the junction rows, then solve them.

        Written as gathers only (no scatter), so that XLA fuses the assembly: a
        junction receives from the segment it hangs from (its bottom) and from the
        segments hanging from it (``_tops``, padded to the largest fan-out).
        """
        lay = self.layout
        s = lay.num_segments
        d_top, b_top, u_pc, l_cp, d_bot, b_bot = reduced
        via = lay.junction_segment < s
        seg = np.minimum(lay.junction_segment, s - 1)
        d = d_j + jnp.where(via, d_bot[seg], 0.0) + self._sum_tops(d_top)
        b = b_j + jnp.where(via, b_bot[seg], 0.0) + self._sum_tops(b_top)
        lo_j = jnp.where(via, l_cp[seg], lo_j)
        up_j = jnp.where(via, u_pc[seg], up_j)
        return self._junction_solve(d, lo_j, up_j, b)

    def _sum_tops(self, values):
        """Per junction, the sum of ``values`` over the segments hanging from it."""
        padded = pad_one(values, 0.0)
        tops = self._tops
        if tops.shape[1] > MAX_UNROLLED_FANOUT:
            return padded[tops].sum(axis=1)
        # Column by column: each column is usually a slice, and a sum of slices fuses
        # into its consumer (a row sum of a gathered table does not).
        total = _take(padded, tops[:, 0])
        for k in range(1, tops.shape[1]):
            total = total + _take(padded, tops[:, k])
        return total

    def _junction_solve(self, d, lo, up, b):
        if self._junction._child.size == 0:  # only roots: a diagonal system
            return b / d
        return self._junction._solve(d, lo, up, b)


#: Junction fan-out up to which the segments' contributions are summed column by column.
MAX_UNROLLED_FANOUT = 4


def _take(x, idx: np.ndarray):
    """``x[idx]`` for a static ``idx``: a concatenation of slices when ``idx`` is a few
    increasing runs (e.g. ``0..m-1`` twice), else a gather."""
    idx = np.asarray(idx, dtype=np.int64)
    if idx.size == 0:
        return x[:0]
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    if breaks.size >= 4:
        return x[idx]
    runs = np.split(idx, breaks)
    parts = [x[int(r[0]) : int(r[-1]) + 1] for r in runs]
    return parts[0] if len(parts) == 1 else jnp.concatenate(parts)


def _children_table(parent_slot: np.ndarray, num_slots: int) -> np.ndarray:
    """``(num_slots, max_fanout)`` table of the items with each parent slot.

    Padded with ``len(parent_slot)`` (the index of an appended zero).
    """
    count = np.bincount(parent_slot, minlength=num_slots)
    table = np.full((num_slots, max(int(count.max(initial=0)), 1)), parent_slot.size, np.int64)
    fill = np.zeros(num_slots, dtype=np.int64)
    for item, slot in enumerate(parent_slot):
        table[slot, fill[slot]] = item
        fill[slot] += 1
    return table


def _eliminate_rounds(rows, widths, u_c, l_c):
    """Phase 1 over static slices: round ``j`` covers the first ``widths[j]`` segments."""
    d, b, lo, up = rows
    offsets = np.concatenate([[0], np.cumsum(widths)])
    s = int(widths[0])
    k = widths.size
    dt, bt = d[: widths[0]], b[: widths[0]]
    ut, lc = u_c, l_c
    d_bot = jnp.zeros(s, d.dtype)
    b_bot = jnp.zeros(s, d.dtype)
    tops, saved = [], []
    for j in range(k):
        w = int(widths[j])
        w_next = int(widths[j + 1]) if j + 1 < k else 0
        row = slice(int(offsets[j]), int(offsets[j]) + w)
        inv = 1.0 / dt
        d_bot = d_bot.at[:w].add(-lc * ut * inv)
        b_bot = b_bot.at[:w].add(-lc * bt * inv)
        f = up[row] * inv
        du, db, ut_up, lc_up = -f * lo[row], -f * bt, -f * ut, -lc * lo[row] * inv
        saved.append((inv, bt, ut))
        tops.append(tuple(a[w_next:] for a in (du, db, ut_up, lc_up)))
        if w_next:
            nxt = slice(int(offsets[j + 1]), int(offsets[j + 1]) + w_next)
            dt = d[nxt] + du[:w_next]
            bt = b[nxt] + db[:w_next]
            ut, lc = ut_up[:w_next], lc_up[:w_next]
    # Segments finishing at later rounds come first in segment order.
    top = tuple(jnp.concatenate(parts) for parts in zip(*reversed(tops)))
    return (*top, d_bot, b_bot), saved


def _substitute_rounds(saved, lo, widths, x_top, x_bot):
    """Phase 3 over static slices, from the top round down; returns round-major x."""
    offsets = np.concatenate([[0], np.cumsum(widths)])
    k = widths.size
    out = [None] * k
    x_prev = x_top[:0]
    for j in range(k - 1, -1, -1):
        w = int(widths[j])
        inv, bt, ut = saved[j]
        above = jnp.concatenate([x_prev, x_top[x_prev.shape[0] : w]])
        row = slice(int(offsets[j]), int(offsets[j]) + w)
        x_prev = (bt - lo[row] * above - ut * x_bot[:w]) * inv
        out[j] = x_prev
    return jnp.concatenate(out)


@dataclass(frozen=True)
class _PaddedRounds:
    """Phases 1 and 3 as scans over rounds padded to the number of segments.

    Used for very long segments (long unbranched cables), where unrolling one
    round per node would make the program too large.
    """

    gather: np.ndarray  # (K, S) round-major positions, ns for padding
    is_top: np.ndarray  # (K, S)
    cont: np.ndarray  # (K, S)
    scatter: np.ndarray  # positions of real slots in the flattened (K, S) table

    @classmethod
    def build(cls, lay: SegmentLayout) -> _PaddedRounds:
        k, s = lay.max_length, lay.num_segments
        ns = lay.num_segment_nodes
        offsets = np.concatenate([[0], np.cumsum(lay.widths)])
        gather = np.full((k, s), ns, dtype=np.int64)
        for j in range(k):
            gather[j, : lay.widths[j]] = offsets[j] + np.arange(lay.widths[j])
        length = (gather < ns).sum(axis=0)
        rounds = np.arange(k)[:, None]
        real = gather < ns
        return cls(
            gather=gather,
            is_top=rounds == (length[None, :] - 1),
            cont=rounds < (length[None, :] - 1),
            scatter=np.flatnonzero(real.ravel()),
        )

    def eliminate(self, rows, u_c, l_c):
        d, b, lo, up = (pad_one(r, fill)[self.gather] for r, fill in zip(rows, (1.0, 0, 0, 0)))
        d_next = jnp.concatenate([d[1:], d[-1:]])
        b_next = jnp.concatenate([b[1:], b[-1:]])
        zero = jnp.zeros_like(u_c)
        init = (d[0], b[0], u_c, l_c, zero, zero, zero, zero, zero, zero)
        carry, saved = lax.scan(
            _padded_round, init, (d_next, b_next, lo, up, self.is_top, self.cont)
        )
        dt, bt, ut, lc, d_bot, b_bot, d_top, b_top, u_pc, l_cp = carry
        return (d_top, b_top, u_pc, l_cp, d_bot, b_bot), saved

    def substitute(self, saved, lo, x_top, x_bot):
        lo = pad_one(lo, 0.0)[self.gather]

        def body(x_prev, xs):
            inv, bt, ut, lo_j, top = xs
            above = jnp.where(top, x_top, x_prev)
            x = (bt - lo_j * above - ut * x_bot) * inv
            return x, x

        _, xs = lax.scan(body, x_top, (*saved, lo, self.is_top), reverse=True)
        return xs.reshape(-1)[self.scatter]


def _padded_round(carry, xs):
    dt, bt, ut, lc, d_bot, b_bot, d_top, b_top, u_pc, l_cp = carry
    d_next, b_next, l_here, u_here, is_top, cont = xs
    inv = 1.0 / dt
    saved = (inv, bt, ut)
    d_bot = d_bot - lc * ut * inv
    b_bot = b_bot - lc * bt * inv
    f = u_here * inv
    du, db, ut_up, lc_up = -f * l_here, -f * bt, -f * ut, -lc * l_here * inv
    d_top = jnp.where(is_top, du, d_top)
    b_top = jnp.where(is_top, db, b_top)
    u_pc = jnp.where(is_top, ut_up, u_pc)
    l_cp = jnp.where(is_top, lc_up, l_cp)
    dt = d_next + jnp.where(cont, du, 0.0)
    bt = b_next + jnp.where(cont, db, 0.0)
    ut = jnp.where(cont, ut_up, 0.0)
    lc = jnp.where(cont, lc_up, 0.0)
    return (dt, bt, ut, lc, d_bot, b_bot, d_top, b_top, u_pc, l_cp), saved
