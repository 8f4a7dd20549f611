"""Moving and rotating morphologies (visualisation only; never affects simulation).

Coordinates live in the base module's ``xyzr`` (one ``(n, 4)`` array of traced
points per branch). Modules built without a morphology get simple coordinates
(``compute_xyz``) before the first move, as Jaxley computes them at construction.
"""

from __future__ import annotations

import numpy as np

from sim.modules.fields import ModuleFields

_AXES = {"xy": (0, 1), "xz": (0, 2), "yz": (1, 2)}


class PlacementMixin(ModuleFields):
    """``move``, ``move_to`` and ``rotate`` for modules and views."""

    def _placed_branches(self) -> np.ndarray:
        base = self.base
        if any(np.isnan(np.asarray(p, dtype=float)[:, :3]).any() for p in base.xyzr):
            base.compute_xyz()
        return np.unique(base.nodes.loc[self._sel, "global_branch_index"].to_numpy())

    def _after_move(self, update_nodes: bool) -> None:
        if update_nodes:
            self.base.compute_compartment_centers()

    def move(self, x: float = 0.0, y: float = 0.0, z: float = 0.0, update_nodes: bool = False):
        """Shift the viewed branches by (x, y, z) µm."""
        base = self.base
        shift = np.asarray([x, y, z], dtype=float)
        for b in self._placed_branches():
            pts = np.array(base.xyzr[b], dtype=float)
            pts[:, :3] += shift
            base.xyzr[b] = pts
        self._after_move(update_nodes)

    def move_to(
        self,
        x: float | np.ndarray = 0.0,
        y: float | np.ndarray = 0.0,
        z: float | np.ndarray = 0.0,
        update_nodes: bool = False,
    ):
        """Move so that the first point of the first branch (of each cell) lands at (x, y, z).

        Scalars move everything in view rigidly; arrays give one target per viewed cell.
        """
        base = self.base
        branches = self._placed_branches()
        cell_of = base.nodes.groupby("global_branch_index")["global_cell_index"].first()
        cells = np.unique(cell_of.loc[branches].to_numpy())
        target = np.stack(np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, y, z))))
        per_cell = target.ndim == 2
        if per_cell and target.shape[1] != len(cells):
            raise ValueError(
                f"move_to got {target.shape[1]} target coordinates but {len(cells)} cells "
                "are in view; pass one (x, y, z) per cell or scalars."
            )
        first = {}
        for b in branches:
            first.setdefault(int(cell_of.loc[b]), int(b))
        roots = np.asarray([np.asarray(base.xyzr[first[int(c)]])[0, :3] for c in cells])
        offsets = target.T - roots if per_cell else np.tile(target - roots[0], (len(cells), 1))
        offset_of = {int(c): offsets[k] for k, c in enumerate(cells)}
        for b in branches:
            pts = np.array(base.xyzr[b], dtype=float)
            pts[:, :3] += offset_of[int(cell_of.loc[b])]
            base.xyzr[b] = pts
        self._after_move(update_nodes)

    def rotate(self, degrees: float, rotation_axis: str = "xy", update_nodes: bool = False):
        """Rotate the viewed branches clockwise by `degrees` in the plane `rotation_axis`."""
        if rotation_axis not in _AXES:
            raise ValueError(f"rotation_axis must be one of {list(_AXES)}, got {rotation_axis!r}.")
        dims = list(_AXES[rotation_axis])
        rad = float(degrees) / 180.0 * np.pi
        rot = np.asarray([[np.cos(rad), np.sin(rad)], [-np.sin(rad), np.cos(rad)]])
        base = self.base
        for b in self._placed_branches():
            pts = np.array(base.xyzr[b], dtype=float)
            pts[:, dims] = pts[:, dims] @ rot.T
            base.xyzr[b] = pts
        self._after_move(update_nodes)
