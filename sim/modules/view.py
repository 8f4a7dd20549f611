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

    @property
    def externals(self):
        return self.base.externals

    @property
    def external_inds(self):
        return self.base.external_inds

    @property
    def recordings(self):
        return self.base.recordings

    @property
    def group_names(self):
        return self.base.group_names

    @property
    def trainables(self):
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
        """A new, independent module made of the viewed compartments (``as_module=True``)."""
        from sim.modules.extract import module_from_view

        if not as_module:
            raise NotImplementedError(
                "Copying a view as a view is not supported; use copy(as_module=True)."
            )
        return module_from_view(self)

    def __repr__(self) -> str:
        return f"View({type(self.base).__name__}, {len(self._sel)} compartments)"
