"""A neuron: branches connected as a tree."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sim.modules.assembly import stack, validate_parents
from sim.modules.branch import Branch
from sim.modules.compartment import Compartment
from sim.modules.module import Module


class Cell(Module):
    """A cell made of branches; ``parents[i]`` is the parent branch of branch ``i`` (-1: root).

    Every child branch attaches to the far end of its parent branch.
    """

    #: Cell-level parameters and states (none; kept for Jaxley's attribute names).
    cell_params: dict[str, float] = {}
    cell_states: dict[str, float] = {}
    #: Built by ``read_swc``: branches carry traced 3-D points (``xyzr``).
    _from_swc: bool = False

    def __init__(
        self,
        branches=None,
        parents: Sequence[int] | None = None,
        xyzr: list | None = None,
    ) -> None:
        super().__init__()
        if branches is None:
            branches = Branch()
        if isinstance(branches, Branch):
            n = len(parents) if parents is not None else 1
            branch_list = [branches] * n
        else:
            try:
                # As in Jaxley, a compartment in the list acts as a one-compartment branch.
                branch_list = [Branch(b) if isinstance(b, Compartment) else b for b in branches]
            except TypeError:
                branch_list = []
            if not branch_list or not all(isinstance(b, Branch) for b in branch_list):
                raise TypeError(
                    f"Cell() takes a Branch or a non-empty list of Branches, got {branches!r}."
                )
        if parents is None:
            if len(branch_list) != 1:
                raise ValueError(
                    f"{len(branch_list)} branches need a parents list, e.g. "
                    f"{[-1] + [0] * (len(branch_list) - 1)}."
                )
            parents = [-1]
        parent_arr = validate_parents(parents, len(branch_list))
        stack(self, branch_list, level="branch")
        self.branch_parents = parent_arr
        self.branch_parent_x = np.ones(len(parent_arr))
        if xyzr is not None:
            if len(xyzr) != len(branch_list):
                raise ValueError(
                    f"xyzr has {len(xyzr)} entries but there are {len(branch_list)} branches."
                )
            self.xyzr = [np.asarray(x, dtype=float).reshape(-1, 4) for x in xyzr]
        else:
            self.xyzr = [np.full((1, 4), np.nan) for _ in branch_list]
