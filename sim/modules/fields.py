"""The attributes the builder's mixins share, declared once for type checkers.

``Module`` is assembled from mixins (selection, parameters, inputs/outputs,
mechanism and edge tables, ...) that read attributes set by ``Module.__init__``
or ``View.__init__`` and call each other's helpers. This base class declares
them, so each mixin type-checks on its own; it adds nothing at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


class ModuleFields:
    """Attributes shared by ``Module`` and ``View`` (see the module docstring)."""

    if TYPE_CHECKING:
        base: Any  # the module that owns the tables (``self`` for a module)
        _sel: np.ndarray  # selected compartments (global indices)
        _ctrl: str  # level whose elements get one parameter each in make_trainable
        _scope: str  # "local" or "global" indexing
        _channels: list
        _synapses: list
        _diffusion_states: list[str]
        _edge_sel: np.ndarray | None
        nodes: pd.DataFrame

        def _touch(self) -> None: ...

        def _engine(self, solver: str = "bwd_euler", voltage_solver: str = "jaxley.dhs") -> Any: ...

        def _comps_with_key(self, key: str) -> np.ndarray: ...

        def _edges_with_key(self, key: str) -> np.ndarray: ...

        @property
        def _edges_in_view(self) -> np.ndarray: ...

        @property
        def synapse_state_names(self) -> list[str]: ...

        @property
        def synapse_current_names(self) -> list[str]: ...
