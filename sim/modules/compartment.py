"""A single isopotential compartment."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.modules.module import GEOMETRY_FACTORS, Module


class Compartment(Module):
    """A single compartment: the building block of branches, cells and networks.

    Defaults (as in Jaxley): radius 1 µm, length 10 µm, axial resistivity
    5000 Ω·cm, capacitance 1 µF/cm², initial voltage -70 mV.
    """

    def __init__(self) -> None:
        super().__init__()
        row = {
            "local_cell_index": 0,
            "local_branch_index": 0,
            "local_comp_index": 0,
            "global_cell_index": 0,
            "global_branch_index": 0,
            "global_comp_index": 0,
            **self.compartment_params,
            **self.compartment_states,
            **{f: 1.0 for f in GEOMETRY_FACTORS},
            "x": np.nan,
            "y": np.nan,
            "z": np.nan,
        }
        self.nodes = pd.DataFrame([row])
        self.branch_parents = np.array([-1])
        self.branch_parent_x = np.array([1.0])
        self.xyzr = [np.full((1, 4), np.nan)]
        self._finalize()
