"""A view: a subset of the compartments of a module, with the module's methods."""

from __future__ import annotations

import numpy as np

from sim.modules.module import Module


class View(Module):
    """A selection of compartments of a base module.

    Views are returned by ``.cell()``, ``.branch()``, ``.comp()``, ``.loc()``,
    ``.select()`` and group attributes. Every method acts on the selected
    compartments and writes through to the base module.
    """

    def __init__(
        self,
        base: Module,
        sel: np.ndarray,
        *,
        ctrl: str,
        scope: str,
        edges: np.ndarray | None = None,
    ) -> None:
        # Deliberately not calling Module.__init__: a view owns no data.
        self.base = base
        self._sel = np.asarray(sel, dtype=int)
        self._ctrl = ctrl
        self._scope = scope
        self._edge_sel = None if edges is None else np.asarray(edges, dtype=np.int64)
        if len(self._sel) == 0:
            raise IndexError("This selection contains no compartments.")

    def __enter__(self) -> View:
        """``with cell.branch(0) as b: ...`` (as in Jaxley; nothing to clean up)."""
        return self

    def __exit__(self, *exc) -> None:
        return None

    @property
    def nodes(self):
        """The rows of the base module's ``nodes`` table in this view (a copy).

        ``controlled_by_param`` is, as in Jaxley, the global index of the element of
        the view's level (cell, branch or compartment) each row belongs to: the rows
        that share one parameter in ``make_trainable``.
        """
        nodes = self._view_nodes.copy()
        if self._ctrl in ("cell", "branch", "comp"):
            nodes["controlled_by_param"] = nodes[f"global_{self._ctrl}_index"].to_numpy()
        return nodes

    @property
    def edges(self):
        """The rows of the base module's ``edges`` table in this view (a copy)."""
        return self.base.edges.loc[self._edges_in_view]

    @property  # delegates to the base's attribute of that name
    def externals(self):  # pyright: ignore[reportIncompatibleVariableOverride]
        return self.base.externals

    @property  # delegates to the base's attribute of that name
    def external_inds(self):  # pyright: ignore[reportIncompatibleVariableOverride]
        return self.base.external_inds

    @property
    def recordings(self):
        return self.base.recordings

    @property  # delegates to the base's attribute of that name
    def group_names(self):  # pyright: ignore[reportIncompatibleVariableOverride]
        return self.base.group_names

    @property  # delegates to the base's attribute of that name
    def trainables(self):  # pyright: ignore[reportIncompatibleVariableOverride]
        return self.base.trainables

    def _touch(self) -> None:
        self.base._touch()

    def to_jax(self) -> None:
        self.base.to_jax()

    def compiled(self):
        raise TypeError(
            "A view cannot be simulated on its own; simulate the base module or "
            "make a module from the view with view.copy(as_module=True)."
        )

    def copy(self, reset_index: bool = False, as_module: bool = False):
        """An independent copy: ``as_module=True`` a new module made of the viewed
        compartments; otherwise (as in Jaxley) the same view on a deep copy of the
        base module, so changes through it leave the original untouched."""
        import copy as _copy

        from sim.modules.extract import module_from_view

        if as_module:
            return module_from_view(self)
        edges = None if self._edge_sel is None else self._edge_sel.copy()
        return View(
            _copy.deepcopy(self.base),
            self._sel.copy(),
            ctrl=self._ctrl,
            scope=self._scope,
            edges=edges,
        )

    def __repr__(self) -> str:
        return f"View({type(self.base).__name__}, {len(self._sel)} compartments)"
