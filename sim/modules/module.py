"""The base class of every user-built model: `Compartment`, `Branch`, `Cell`, `Network`.

A `Module` owns

* ``nodes``: one row per compartment with index columns, morphology, initial
  voltage, mechanism flags, mechanism parameters/states (NaN where absent) and
  group flags;
* ``branch_parents`` / ``branch_parent_x``: the branch tree (global branch indices;
  ``-1`` for roots) and where on its parent each branch attaches (1.0 = the end);
* ``channels``: the inserted mechanisms;
* ``externals`` / ``external_inds`` / ``recordings`` / ``trainables``.

Before simulation it is compiled (:func:`sim.core.compiled.compile_module`) into
immutable index arrays; the module itself is never touched by traced code.
"""

from __future__ import annotations

import copy as _copy
from typing import Any

import numpy as np
import pandas as pd

from sim.modules.compat import CompatMixin
from sim.modules.discretization import DiscretizationMixin
from sim.modules.edges import EdgeTableMixin, empty_edges
from sim.modules.inputs_outputs import InputOutputMixin
from sim.modules.mechanisms import MechanismTableMixin
from sim.modules.parameters import ParameterMixin
from sim.modules.placement import PlacementMixin
from sim.modules.selection import Selectable, dense_rank_within
from sim.modules.simulation import SimulationMixin

INDEX_COLUMNS = (
    "local_cell_index",
    "local_branch_index",
    "local_comp_index",
    "global_cell_index",
    "global_branch_index",
    "global_comp_index",
)
GEOMETRY_FACTORS = ("area_factor", "ri_lower_factor", "ri_upper_factor")
#: Read-only columns of ``nodes`` derived from length and radius (Jaxley's names).
DERIVED_COLUMNS = ("area", "volume", "resistive_load_in", "resistive_load_out")


def _refresh_derived_columns(nodes: pd.DataFrame) -> None:
    """Recompute the derived geometry columns in place (after any change to the table).

    ``area`` (µm²) is the membrane area the simulation uses (NEURON's 3-D area for
    SWC cells), ``volume`` (µm³) the cylinder volume the ion cable uses, and
    ``resistive_load_in``/``_out`` (1/µm) the proximal/distal half-compartment
    ``(L/2)/(πr²)`` times the geometry factor; multiplied by ``axial_resistivity``
    they are the half-compartment axial resistances.
    """
    if len(nodes) == 0 or "length" not in nodes or "radius" not in nodes:
        return
    length = nodes["length"].to_numpy(dtype=float)
    radius = nodes["radius"].to_numpy(dtype=float)
    factors = {
        f: nodes[f].to_numpy(dtype=float) if f in nodes else np.ones(len(nodes))
        for f in GEOMETRY_FACTORS
    }
    half = (length / 2.0) / (np.pi * radius**2)
    nodes["area"] = 2.0 * np.pi * radius * length * factors["area_factor"]
    nodes["volume"] = np.pi * radius**2 * length
    nodes["resistive_load_in"] = half * factors["ri_lower_factor"]
    nodes["resistive_load_out"] = half * factors["ri_upper_factor"]
    nodes["controlled_by_param"] = 0  # a view's ``nodes`` show its own level's index


class Module(
    Selectable,
    ParameterMixin,
    InputOutputMixin,
    MechanismTableMixin,
    EdgeTableMixin,
    SimulationMixin,
    DiscretizationMixin,
    PlacementMixin,
    CompatMixin,
):
    """Common behaviour of compartments, branches, cells and networks."""

    compartment_params: dict[str, float] = {
        "length": 10.0,
        "radius": 1.0,
        "axial_resistivity": 5000.0,
        "capacitance": 1.0,
    }
    compartment_states: dict[str, float] = {"v": -70.0}

    def __init__(self) -> None:
        self.base = self
        self._scope = "local"
        self._ctrl = "module"
        self.nodes = pd.DataFrame()
        self.branch_parents = np.zeros(0, dtype=int)
        self.branch_parent_x = np.zeros(0, dtype=float)
        self.xyzr: list[np.ndarray] = []
        self._channels: list = []
        self._synapses: list = []
        self._diffusion_states: list[str] = []
        self.edges = empty_edges()
        self.group_names: list[str] = []
        self.trainables: list[dict] = []
        self.externals: dict[str, np.ndarray] = {}
        self.external_inds: dict[str, np.ndarray] = {}
        self.recordings = pd.DataFrame(
            {"rec_index": pd.Series(dtype=np.int64), "state": pd.Series(dtype=object)}
        )
        self._recorded = None
        self.solver_customizers: dict[str, Any] = {"exp_euler_transition": None}
        self._revision = 0
        self._compiled_cache: tuple[int, Any] | None = None
        self._sel = np.zeros(0, dtype=int)
        self._edge_sel = None

    # ------------------------------------------------------------------ bookkeeping
    def _touch(self) -> None:
        """Mark the module as changed (invalidates the compiled representation)."""
        self._revision += 1
        _refresh_derived_columns(self.nodes)

    def _finalize(self) -> None:
        """Recompute index columns and the selection after a structural change."""
        nodes = self.nodes.reset_index(drop=True)
        nodes["global_comp_index"] = np.arange(len(nodes))
        nodes["local_cell_index"] = dense_rank_within(nodes["global_cell_index"].to_numpy(), None)
        nodes["local_branch_index"] = dense_rank_within(
            nodes["global_branch_index"].to_numpy(), nodes["global_cell_index"].to_numpy()
        )
        nodes["local_comp_index"] = dense_rank_within(
            nodes["global_comp_index"].to_numpy(), nodes["global_branch_index"].to_numpy()
        )
        self.nodes = nodes
        self._sel = np.arange(len(nodes))
        self._touch()

    @property
    def initialized(self) -> bool:
        return True

    def initialize(self):
        """Rebuild index columns (run automatically after structural changes)."""
        self._finalize()
        return self

    def to_jax(self) -> None:
        """Compile the module for simulation (cached until the module changes)."""
        self.compiled()

    def compiled(self):
        """The immutable, simulation-ready representation of the current module."""
        from sim.core.compiled import compile_module

        if self._compiled_cache is None or self._compiled_cache[0] != self._revision:
            self._compiled_cache = (self._revision, compile_module(self))
        return self._compiled_cache[1]

    # ------------------------------------------------------------------ shape & info
    @property
    def shape(self) -> tuple[int, ...]:
        nodes = self._view_nodes
        ncells = nodes["global_cell_index"].nunique()
        nbranches = nodes["global_branch_index"].nunique()
        ncomps = len(nodes)
        return {
            "Compartment": (),
            "Branch": (ncomps,),
            "Cell": (nbranches, ncomps),
        }.get(type(self.base).__name__, (ncells, nbranches, ncomps))

    @property
    def ncomp(self) -> int:
        """Number of compartments per branch (the largest one if they differ, as in Jaxley)."""
        return int(self._view_nodes.groupby("global_branch_index").size().max())

    @property
    def total_nbranches(self) -> int:
        return int(self._view_nodes["global_branch_index"].nunique())

    def show(
        self,
        param_names: str | list[str] | None = None,
        *,
        indices: bool = True,
        params: bool = True,
        states: bool = True,
        channel_names: list[str] | None = None,
    ) -> pd.DataFrame:
        """Table of indices, parameters and states of the viewed compartments."""
        nodes = self._view_nodes
        base = self.base
        cols: list[str] = []
        if indices:
            cols += [c for c in INDEX_COLUMNS if c in nodes]
        names = [param_names] if isinstance(param_names, str) else param_names
        chans = [c for c in base._channels if channel_names is None or c.name in channel_names]
        if params:
            keys = list(self.compartment_params)
            for ch in chans:
                keys += list(ch.channel_params)
            cols += [k for k in dict.fromkeys(keys) if names is None or k in names]
        if states:
            keys = list(self.compartment_states)
            for ch in chans:
                keys += list(ch.channel_states)
            cols += [k for k in dict.fromkeys(keys) if names is None or k in names]
        cols += [ch.name for ch in chans]
        return nodes[[c for c in dict.fromkeys(cols) if c in nodes]].copy()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(shape={self.shape}, channels={[c.name for c in self.channels]})"
        )

    def copy(self, reset_index: bool = False, as_module: bool = False):
        """A deep copy of the module (views: see ``View.copy``)."""
        new = _copy.deepcopy(self)
        new._compiled_cache = None
        return new

    # ------------------------------------------------------------------ geometry / plotting
    def compute_xyz(self) -> None:
        """Assign simple 2-D coordinates to branches built without a morphology."""
        from sim.modules.layout import compute_xyz

        compute_xyz(self)

    def compute_compartment_centers(self) -> None:
        """Write compartment centre coordinates (x, y, z) into ``nodes``."""
        from sim.modules.layout import compute_compartment_centers

        compute_compartment_centers(self)

    def vis(self, ax=None, color: str = "k", dims=(0, 1), type: str = "line", **kwargs):
        """Plot what is in view into a matplotlib Axes (a new figure if `ax` is None).

        ``type`` is one of ``"line"``, ``"scatter"``, ``"comp"``, ``"morph"`` or
        ``"volume"``; ``dims`` picks the two projected coordinates (0=x, 1=y, 2=z) or
        three for a 3-D plot. Branches without coordinates are laid out first
        (``compute_xyz``). Other keyword arguments go to matplotlib (``resolution``
        and ``true_comp_length`` are options of the shapes). Returns the Axes.
        """
        from sim.vis import draw_module

        return draw_module(self, ax=ax, color=color, dims=dims, type=type, **kwargs)
