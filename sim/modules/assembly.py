"""Assembling modules from smaller ones (compartments -> branch -> cell -> network)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def validate_parents(parents: Sequence[int], nbranches: int) -> np.ndarray:
    """Check that `parents` describes a tree over `nbranches` branches; return it as array."""
    try:
        arr = np.asarray(parents)
    except Exception as err:  # pragma: no cover - defensive
        raise TypeError(f"parents must be a list of ints, got {parents!r}.") from err
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"parents must be a flat list of ints, got {parents!r}.")
    if len(arr) != nbranches:
        raise ValueError(
            f"parents has {len(arr)} entries but the cell has {nbranches} branches; "
            "give one parent index per branch (-1 for the root)."
        )
    roots = np.flatnonzero(arr == -1)
    if len(roots) != 1:
        raise ValueError(
            f"parents must contain exactly one root (-1), got {len(roots)} in {arr.tolist()}."
        )
    bad = np.flatnonzero((arr < -1) | (arr >= nbranches) | (arr == np.arange(nbranches)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"parents[{i}] = {arr[i]} is not a valid parent: use -1 or the index of "
            f"another branch in [0, {nbranches})."
        )
    for start in range(nbranches):  # every branch must reach the root without a cycle
        seen, b = set(), start
        while b != -1:
            if b in seen:
                raise ValueError(f"parents {arr.tolist()} contain a cycle through branch {b}.")
            seen.add(b)
            b = int(arr[b])
    return arr.astype(int)


def _merge_channels(children) -> list:
    merged: dict[str, object] = {}
    for child in children:
        for ch in child.base._channels:
            if ch.name in merged and type(merged[ch.name]) is not type(ch):
                raise ValueError(
                    f"Two different mechanisms are named {ch.name!r}; rename one with "
                    "change_name()."
                )
            merged.setdefault(ch.name, ch)
    return list(merged.values())


def _columns(child) -> dict[str, np.ndarray]:
    nodes = child.base.nodes
    return {c: nodes[c].to_numpy() for c in nodes.columns}


def stack(parent, children, level: str) -> None:
    """Fill `parent` (an empty Module) with the nodes of `children` stacked at `level`.

    `level` is the level of the children: "comp" (building a branch), "branch"
    (building a cell) or "cell" (building a network). Work is column-wise numpy,
    and a child repeated many times (``Branch(comp, ncomp=10_000)``) is read once.
    """
    children = list(children)
    cache: dict[int, dict[str, np.ndarray]] = {}
    for c in children:
        if id(c) not in cache:
            cache[id(c)] = _columns(c)
    tables = [cache[id(c)] for c in children]
    sizes = np.array([len(next(iter(t.values()))) for t in tables])
    nbranches = np.array(
        [int(np.unique(t["global_branch_index"]).size) for t in tables], dtype=np.int64
    )
    channels = _merge_channels(children)
    groups = list(dict.fromkeys(g for c in children for g in c.base.group_names))
    flags = {ch.name for ch in channels} | set(groups)
    names = list(dict.fromkeys(k for t in tables for k in t))
    data = {}
    for name in names:
        parts = []
        for t, n in zip(tables, sizes):
            if name in t:
                parts.append(t[name])
            else:
                parts.append(np.zeros(n, bool) if name in flags else np.full(n, np.nan))
        col = np.concatenate(parts)
        data[name] = col.astype(bool) if name in flags else col
    offsets = np.concatenate([[0], np.cumsum(nbranches)[:-1]])
    which = np.repeat(np.arange(len(children)), sizes)
    if level == "comp":
        data["global_branch_index"] = np.zeros(sizes.sum(), dtype=np.int64)
        data["global_cell_index"] = np.zeros(sizes.sum(), dtype=np.int64)
    elif level == "branch":
        data["global_branch_index"] = which.astype(np.int64)
        data["global_cell_index"] = np.zeros(sizes.sum(), dtype=np.int64)
    else:
        data["global_branch_index"] = data["global_branch_index"] + offsets[which]
        data["global_cell_index"] = which.astype(np.int64)
    parent.nodes = pd.DataFrame(data)
    parent._channels = channels
    parent.group_names = groups
    if level == "cell":
        parents, parent_x = [], []
        for child, off in zip(children, offsets):
            child_parents = np.asarray(child.base.branch_parents)
            parents += np.where(child_parents < 0, -1, child_parents + off).tolist()
            parent_x += list(child.base.branch_parent_x)
        parent.branch_parents = np.asarray(parents, dtype=int)
        parent.branch_parent_x = np.asarray(parent_x, dtype=float)
    parent.xyzr = (
        [] if level == "comp" else [np.array(x, dtype=float) for c in children for x in c.base.xyzr]
    )
    parent._finalize()
