"""An unbranched cable made of compartments."""

from __future__ import annotations

import numpy as np

from sim.modules.assembly import stack
from sim.modules.compartment import Compartment
from sim.modules.module import Module


class Branch(Module):
    """A branch: a chain of `ncomp` compartments.

    ``Branch(comp, ncomp=4)`` repeats one compartment; ``Branch([c0, c1, c2])``
    chains the given ones.
    """

    #: Branch-level parameters and states (none; kept for Jaxley's attribute names).
    branch_params: dict[str, float] = {}
    branch_states: dict[str, float] = {}

    def __init__(self, compartments=None, ncomp: int | None = None) -> None:
        super().__init__()
        if ncomp is not None and (
            isinstance(ncomp, bool) or not isinstance(ncomp, (int, np.integer)) or ncomp < 1
        ):
            raise ValueError(f"ncomp must be a positive integer, got {ncomp!r}.")
        if compartments is None:
            compartments = Compartment()
        if isinstance(compartments, Compartment):
            comps = [compartments] * (ncomp or 1)
        else:
            comps = list(compartments)
            if not comps or not all(isinstance(c, Compartment) for c in comps):
                raise TypeError("Branch() takes a Compartment or a non-empty list of them.")
            if ncomp is not None and ncomp != len(comps):
                raise ValueError(
                    f"ncomp={ncomp} but {len(comps)} compartments were given; drop ncomp."
                )
        stack(self, comps, level="comp")
        self.branch_parents = np.array([-1])
        self.branch_parent_x = np.array([1.0])
        self.xyzr = [np.full((1, 4), np.nan)]
