"""Turning a view into an independent module."""

from __future__ import annotations

import copy

import numpy as np


def module_from_view(view):
    """Copy the viewed compartments (and the branch tree between them) into a new module."""
    base = view.base
    new = copy.deepcopy(base)
    sel = view._sel
    nodes = base.nodes.loc[sel].copy()
    old_branches = np.unique(nodes["global_branch_index"].to_numpy())
    remap = {int(b): i for i, b in enumerate(old_branches)}
    nodes["global_branch_index"] = nodes["global_branch_index"].map(remap)
    cells = np.unique(nodes["global_cell_index"].to_numpy())
    nodes["global_cell_index"] = nodes["global_cell_index"].map(
        {int(c): i for i, c in enumerate(cells)}
    )
    parents = []
    for b in old_branches:
        p = int(base.branch_parents[b])
        parents.append(remap.get(p, -1))
    new.nodes = nodes
    new.branch_parents = np.asarray(parents, dtype=int)
    new.branch_parent_x = np.asarray(base.branch_parent_x)[old_branches]
    new.xyzr = [base.xyzr[b] for b in old_branches] if base.xyzr else []
    new._channels = [ch for ch in base._channels if nodes[ch.name].any()]
    new.trainables = []
    new.externals, new.external_inds = {}, {}
    new.recordings = base.recordings.iloc[0:0].copy()
    new._recorded = None
    new._compiled_cache = None
    new._finalize()
    return new
