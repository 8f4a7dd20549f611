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


def stack(parent, children, level: str) -> None:
    """Fill `parent` (an empty Module) with the nodes of `children` stacked at `level`.

    `level` is the level of the children: "comp" (building a branch), "branch"
    (building a cell) or "cell" (building a network).
    """
    frames, xyzr, parents, parent_x = [], [], [], []
    branch_offset = 0
    for k, child in enumerate(children):
        nodes = child.base.nodes.copy()
        nb = int(nodes["global_branch_index"].nunique())
        if level == "comp":
            nodes["global_branch_index"] = 0
            nodes["global_cell_index"] = 0
        elif level == "branch":
            nodes["global_branch_index"] = k
            nodes["global_cell_index"] = 0
        else:
            nodes["global_branch_index"] += branch_offset
            nodes["global_cell_index"] = k
            child_parents = np.asarray(child.base.branch_parents)
            parents += np.where(child_parents < 0, -1, child_parents + branch_offset).tolist()
            parent_x += list(child.base.branch_parent_x)
        if level != "comp":
            xyzr += [np.array(x, dtype=float) for x in child.base.xyzr]
        branch_offset += nb
        frames.append(nodes)
    nodes = pd.concat(frames, ignore_index=True)
    channels = _merge_channels(children)
    groups = list(dict.fromkeys(g for c in children for g in c.base.group_names))
    for name in [ch.name for ch in channels] + groups:
        nodes[name] = nodes[name].astype("boolean").fillna(False).astype(bool)
    parent.nodes = nodes
    parent._channels = channels
    parent.group_names = groups
    if level == "cell":
        parent.branch_parents = np.asarray(parents, dtype=int)
        parent.branch_parent_x = np.asarray(parent_x, dtype=float)
    parent.xyzr = xyzr
    parent._finalize()
