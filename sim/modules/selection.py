"""Selecting parts of a module: `.cell()`, `.branch()`, `.comp()`, `.loc()`, `.select()`.

A selection is nothing but a sorted array of global compartment indices into the
``nodes`` table of the *base* module (the object the user built). Views are cheap:
they hold a reference to the base module and that array, and every mutating method
writes through to the base.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

LEVELS = ("cell", "branch", "comp")
_PARENT_LEVEL = {"cell": None, "branch": "cell", "comp": "branch"}


def dense_rank_within(child: np.ndarray, parent: np.ndarray | None) -> np.ndarray:
    """Rank (0, 1, ...) of every ``child`` id among the distinct ids of its ``parent``."""
    if len(child) == 0:
        return np.zeros(0, dtype=int)
    if parent is None:
        parent = np.zeros_like(child)
    frame = pd.DataFrame({"p": parent, "c": child})
    ranks = frame.groupby("p")["c"].rank(method="dense").to_numpy()
    return ranks.astype(int) - 1


def normalize_index(idx: Any, level: str) -> np.ndarray | slice | None:
    """Turn a user index (int, list, array, range, slice, 'all') into an int array.

    Returns ``None`` for "everything".
    """
    if isinstance(idx, str):
        if idx == "all":
            return None
        raise ValueError(f"Unknown {level} index {idx!r}: use an int, a list of ints or 'all'.")
    if isinstance(idx, slice):
        return idx  # resolved by the caller, which knows the number of elements
    if isinstance(idx, (bool, np.bool_)):
        raise TypeError(f"A {level} index must be an integer, not {idx!r}.")
    if isinstance(idx, (int, np.integer)):
        return np.asarray([int(idx)])
    try:
        arr = np.asarray(idx)
    except Exception as err:  # pragma: no cover - defensive
        raise TypeError(f"Cannot interpret {idx!r} as a {level} index.") from err
    if arr.dtype == bool:
        return np.flatnonzero(arr)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"A {level} index must contain integers, got {arr.dtype} ({idx!r}).")
    return arr.astype(int).reshape(-1)


class Selectable:
    """Mixin with the view-creating methods shared by modules and views.

    Subclasses provide ``base`` (the module that owns the data), ``_sel`` (sorted
    global compartment indices), ``_scope`` and ``_ctrl`` (the level whose elements
    each get their own parameter in ``make_trainable``).
    """

    base: Any
    _sel: np.ndarray
    _scope: str
    _ctrl: str

    # ------------------------------------------------------------------ tables
    @property
    def _view_nodes(self) -> pd.DataFrame:
        return self.base.nodes.loc[self._sel]

    def _level_ids(self, level: str) -> np.ndarray:
        """For every selected compartment, the index of its `level` element.

        Local scope: rank within the parent element *inside this selection*;
        global scope: the global index in the base module.
        """
        nodes = self._view_nodes
        glob = nodes[f"global_{level}_index"].to_numpy()
        if self._scope == "global":
            return glob
        parent = _PARENT_LEVEL[level]
        parent_ids = None if parent is None else nodes[f"global_{parent}_index"].to_numpy()
        return dense_rank_within(glob, parent_ids)

    # ------------------------------------------------------------------ views
    def _at(self, level: str, idx: Any):
        from sim.modules.view import View

        ids = self._level_ids(level)
        wanted = normalize_index(idx, level)
        available = np.unique(ids)
        if isinstance(wanted, slice):
            wanted = available[wanted]
        if wanted is None:
            mask = np.ones(len(ids), dtype=bool)
        else:
            missing = np.setdiff1d(wanted, available)
            if missing.size:
                raise IndexError(
                    f"{level} index {missing.tolist()} does not exist in this view; "
                    f"valid {self._scope} {level} indices are "
                    f"{_describe_range(available)}."
                )
            mask = np.isin(ids, wanted)
        return View(self.base, self._sel[mask], ctrl=level, scope=self._scope)

    def cell(self, idx: Any):
        """View of the selected cell(s)."""
        return self._at("cell", idx)

    def branch(self, idx: Any):
        """View of the selected branch(es)."""
        return self._at("branch", idx)

    def comp(self, idx: Any):
        """View of the selected compartment(s)."""
        return self._at("comp", idx)

    def loc(self, at: Any):
        """View of the compartment(s) at relative location(s) `at` in [0, 1] of each branch."""
        from sim.modules.view import View

        if isinstance(at, str):
            if at != "all":
                raise ValueError(f"loc() takes a float in [0, 1] or 'all', got {at!r}.")
            return self.comp("all")
        locs = np.atleast_1d(np.asarray(at, dtype=float))
        if np.any((locs < 0.0) | (locs > 1.0)) or np.any(~np.isfinite(locs)):
            raise ValueError(f"loc() needs locations in [0, 1], got {at!r}.")
        # As Jaxley: compartment k of a branch of n covers [k, k + 1) * (1 + 1e-10) / n of
        # the *whole* branch (so a location on a boundary selects the lower compartment).
        all_branch = self.base.nodes["global_branch_index"].to_numpy()
        branch = all_branch[self._sel]
        local_comp = self.base.nodes["local_comp_index"].to_numpy()[self._sel]
        ncomp = np.bincount(all_branch)[branch]
        mask = np.zeros(len(branch), dtype=bool)
        for x in locs:
            target = np.zeros(len(branch), dtype=int)
            for n in np.unique(ncomp):
                target[ncomp == n] = np.digitize(x, np.linspace(0, 1 + 1e-10, n + 1)) - 1
            mask |= local_comp == target
        return View(self.base, self._sel[mask], ctrl="comp", scope=self._scope)

    def edge(self, idx: Any):
        """View of the selected synapse edge(s) (global edge indices, ``.edges`` rows)."""
        return self.select(edges=idx)

    def _edge_view(self, edges: Any):
        from sim.modules.view import View

        table = self.base.edges
        wanted = normalize_index(edges, "edge")
        available = np.asarray(self._edges_in_view)
        if wanted is None:
            wanted = available
        elif isinstance(wanted, slice):
            wanted = available[wanted]
        missing = np.setdiff1d(wanted, available)
        if missing.size:
            raise IndexError(
                f"edge index {missing.tolist()} does not exist here; valid edges are "
                f"{_describe_range(available)} (see .edges)."
            )
        wanted = np.unique(wanted)
        comps = np.unique(
            np.concatenate(
                [table["pre_index"].to_numpy()[wanted], table["post_index"].to_numpy()[wanted]]
            )
        )
        return View(self.base, comps, ctrl="edge", scope=self._scope, edges=wanted)

    def select(self, nodes: Any = None, edges: Any = None, sorted: bool = False):
        """View of the compartments with the given ``.nodes`` index values, or of the
        synapse edges with the given ``.edges`` index values (``edges=``)."""
        from sim.modules.view import View

        if edges is not None:
            if nodes is not None:
                raise ValueError("select() takes nodes= or edges=, not both.")
            return self._edge_view(edges)
        if nodes is None:
            return View(self.base, self._sel.copy(), ctrl="comp", scope=self._scope)
        wanted = normalize_index(nodes, "node")
        if wanted is None:
            return View(self.base, self._sel.copy(), ctrl="comp", scope=self._scope)
        if isinstance(wanted, slice):
            wanted = self._sel[wanted]
        missing = np.setdiff1d(wanted, self._sel)
        if missing.size:
            raise IndexError(f"Node index {missing.tolist()} is not part of this view.")
        sel = np.unique(wanted) if sorted else np.asarray(wanted)
        return View(self.base, np.sort(sel), ctrl="comp", scope=self._scope)

    def scope(self, scope: str):
        """Return a view of the same compartments that indexes with `scope` indices."""
        from sim.modules.view import View

        _check_scope(scope)
        return View(self.base, self._sel.copy(), ctrl=self._ctrl, scope=scope)

    @property
    def view(self):
        """A view of everything in this module or view (Jaxley's ``module.view``)."""
        return self.scope(self._scope)

    def set_scope(self, scope: str) -> None:
        """Switch this object between 'local' and 'global' indexing."""
        _check_scope(scope)
        self._scope = scope

    # ------------------------------------------------------------------ iteration
    def _iter_level(self, level: str) -> Iterator:
        for i in np.unique(self._level_ids(level)):
            yield self._at(level, int(i))

    @property
    def cells(self) -> Iterator:
        """Iterate over the cells in this module or view."""
        return self._iter_level("cell")

    @property
    def branches(self) -> Iterator:
        """Iterate over the branches in this module or view."""
        return self._iter_level("branch")

    @property
    def comps(self) -> Iterator:
        """Iterate over the compartments in this module or view."""
        return self._iter_level("comp")

    def _child_levels(self) -> tuple[str, ...]:
        """The levels below this module or view, e.g. ("branch", "comp") for a cell."""
        if self._ctrl == "module":
            start = {"Network": 0, "Cell": 1, "Branch": 2}.get(type(self.base).__name__, 3)
        else:
            start = LEVELS.index(self._ctrl) + 1 if self._ctrl in LEVELS else 3
        return LEVELS[start:]

    def __getitem__(self, index: Any):
        """Lazy indexing as in Jaxley: ``net[0, 1, 2]`` is ``net.cell(0).branch(1).comp(2)``."""
        index = index if isinstance(index, tuple) else (index,)
        levels = self._child_levels()
        if len(index) > len(levels):
            raise IndexError(
                f"Too many indices ({len(index)}): this object is indexed by {list(levels)}."
            )
        view = self
        for idx, level in zip(index, levels):
            view = view._at(level, idx)
        return view

    def __iter__(self) -> Iterator:
        """Iterate over the next level down (cells of a network, branches of a cell, ...)."""
        levels = self._child_levels()
        if not levels:
            raise TypeError("A single compartment cannot be iterated over.")
        return self._iter_level(levels[0])

    # ------------------------------------------------------------------ groups
    def add_to_group(self, group_name: str) -> None:
        """Add the viewed compartments to a named group, reachable as ``module.<group_name>``."""
        base = self.base
        if not isinstance(group_name, str) or not group_name.isidentifier():
            raise ValueError(f"Group names must be valid Python identifiers, got {group_name!r}.")
        reserved = set(base.nodes.columns) - set(base.group_names)
        if group_name in reserved or hasattr(type(base), group_name):
            raise ValueError(f"{group_name!r} is already a parameter, state or method name.")
        if group_name not in base.group_names:
            base.nodes[group_name] = False
            base.group_names.append(group_name)
        base.nodes.loc[self._sel, group_name] = True
        base._touch()

    def _group_view(self, name: str):
        from sim.modules.view import View

        base = self.base
        in_group = base.nodes.loc[self._sel, name].to_numpy(dtype=bool)
        # As in Jaxley, a group shares one parameter in make_trainable.
        return View(base, self._sel[in_group], ctrl="module", scope=self._scope)

    def __getattr__(self, name: str):
        # Only called when normal attribute lookup fails: resolve group names.
        if name.startswith("_"):
            raise AttributeError(name)
        base = self.__dict__.get("base")
        if base is not None and name in base.__dict__.get("group_names", ()):
            return self._group_view(name)
        raise AttributeError(f"{type(self).__name__!r} has no attribute or group {name!r}.")


def _check_scope(scope: str) -> None:
    if scope not in ("local", "global"):
        raise ValueError(f"scope must be 'local' or 'global', got {scope!r}.")


def _describe_range(values: np.ndarray) -> str:
    if len(values) == 0:
        return "none"
    if len(values) > 1 and np.all(np.diff(values) == 1):
        return f"{values[0]}..{values[-1]}"
    return str(values.tolist())
