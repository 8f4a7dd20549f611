"""Changing the number of compartments of branches: ``set_ncomp`` and the d_lambda rule.

A branch is re-discretised by replacing its rows in the base module's ``nodes``
table by ``ncomp`` new rows. Everything that is uniform along the branch (channel
flags, channel parameters and states, group flags, capacitance, axial
resistivity) is copied; the branch's total length is kept and split equally.

Geometry:

* Branches built from cylinders must have one radius along the branch; the new
  compartments are cylinders (all geometry factors 1).
* Branches of a morphology read from an SWC file (the base module has
  ``_from_swc = True`` and 3-D points in ``xyzr[branch]``, shape ``(n, 4)``) get
  NEURON's per-compartment geometry of the traced points
  (:func:`sim.morphology.geometry.compartment_geometry`), stored as mean radius
  plus the factors ``area_factor``, ``ri_lower_factor``, ``ri_upper_factor`` that
  scale the cylinder formulas (see :mod:`sim.core.params`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sim.modules.fields import ModuleFields

UNIFORM_MORPHOLOGY = ("length", "capacitance", "axial_resistivity")


class DiscretizationMixin(ModuleFields):
    """``set_ncomp`` for modules and views (branches of a cell or a branch)."""

    def set_ncomp(self, ncomp: int, min_radius: float | None = None, initialize: bool = True):
        """Set the number of compartments of every branch in this module or view.

        Args:
            ncomp: New number of compartments per branch (a positive int).
            min_radius: SWC morphologies only: radii of the traced points are
                raised to at least this value (µm) before computing the geometry.
            initialize: If False, skip the final re-indexing of the whole module;
                run ``module.initialize()`` once after a loop of ``set_ncomp``.
                The module stays simulatable either way.

        Raises ValueError if the module has stimuli, clamps, recordings or
        trainable parameters, or if a modified branch is not uniform (channels,
        channel values, groups, length, capacitance, axial resistivity, and
        radius unless it comes from an SWC file); NotImplementedError for
        networks and single compartments.
        """
        ncomp = _check_ncomp(ncomp)
        base = self.base
        branches = _branches_in_view(self)
        rebuild_branches(base, {b: ncomp for b in branches}, min_radius)
        if initialize:
            base.initialize()
        return None

    def apply_d_lambda(
        self,
        frequency: float = 100.0,
        d_lambda: float = 0.1,
        min_radius: float | None = None,
    ) -> np.ndarray:
        """Discretise every branch in view with NEURON's d_lambda rule; see
        :func:`apply_d_lambda`. Returns the number of compartments per branch."""
        return apply_d_lambda(self, frequency=frequency, d_lambda=d_lambda, min_radius=min_radius)


def apply_d_lambda(
    module,
    frequency: float = 100.0,
    d_lambda: float = 0.1,
    min_radius: float | None = None,
) -> np.ndarray:
    """Set every branch of `module` (module or view) to NEURON's d_lambda ncomp.

    ``ncomp = int((L / (d_lambda * lambda_f(frequency)) + 0.9) / 2) * 2 + 1`` per
    branch, with ``lambda_f`` from the branch's radius (its traced 3-D points for
    SWC morphologies), axial resistivity and capacitance. All branches are
    re-discretised first and the module is initialised once at the end.

    Returns the chosen number of compartments of each branch (ascending global
    branch index).
    """
    from sim.morphology.dlambda import d_lambda_ncomp

    base = module.base
    branches = _branches_in_view(module)
    plan = {}
    for b in branches:
        rows = base.nodes[base.nodes["global_branch_index"] == b]
        length = float(rows["length"].sum())
        ra = float(rows["axial_resistivity"].iloc[0])
        cm = float(rows["capacitance"].iloc[0])
        pts = _swc_points(base, b, min_radius)
        if pts is None:
            plan[b] = d_lambda_ncomp(
                length, float(rows["radius"].iloc[0]), ra, cm, frequency, d_lambda
            )
        else:
            from sim.morphology.geometry import arc_lengths

            arc = arc_lengths(pts[:, :3])
            plan[b] = d_lambda_ncomp(arc[-1], pts[:, 3], ra, cm, frequency, d_lambda, arc=arc)
    rebuild_branches(base, plan, min_radius)
    base.initialize()
    return np.asarray([plan[b] for b in branches], dtype=int)


# ---------------------------------------------------------------------- helpers
def _check_ncomp(ncomp) -> int:
    if isinstance(ncomp, (bool, np.bool_)) or not isinstance(ncomp, (int, np.integer)):
        raise TypeError(f"ncomp must be a positive integer, got {ncomp!r}.")
    if ncomp < 1:
        raise ValueError(f"ncomp must be a positive integer, got {ncomp!r}.")
    return int(ncomp)


def _branches_in_view(view) -> list[int]:
    """Global indices of the branches in `view`; every one must be fully in view."""
    base = view.base
    kind = type(base).__name__
    if kind == "Network":
        raise NotImplementedError(
            "set_ncomp is not supported on networks; set the number of compartments of "
            "the cells (cell.branch(i).set_ncomp(...)) before building the Network."
        )
    if kind == "Compartment":
        raise NotImplementedError(
            "set_ncomp needs a Branch or a Cell; build jx.Branch(comp, ncomp=...) instead."
        )
    sel_branch = base.nodes.loc[view._sel, "global_branch_index"].to_numpy()
    branches = np.unique(sel_branch)
    all_branch = base.nodes["global_branch_index"].to_numpy()
    for b in branches:
        if np.sum(sel_branch == b) != np.sum(all_branch == b):
            raise ValueError(
                f"set_ncomp changes whole branches, but this view holds only part of branch "
                f"{int(b)}; call it on cell.branch({int(b)}) instead of single compartments."
            )
    return [int(b) for b in branches]


def _check_module_free(base) -> None:
    if any(np.size(inds) for inds in base.external_inds.values()):
        raise ValueError(
            "set_ncomp is not allowed while the module has stimuli or clamps: call "
            "set_ncomp first and stimulate()/clamp() afterwards (or run delete_stimuli() / "
            "delete_clamps())."
        )
    if len(base.recordings) > 0:
        raise ValueError(
            "set_ncomp is not allowed while the module has recordings: call set_ncomp "
            "first and record() afterwards (or run delete_recordings())."
        )
    if len(base.trainables) > 0:
        raise ValueError(
            "set_ncomp is not allowed while the module has trainable parameters: call "
            "set_ncomp first and make_trainable() afterwards (or run delete_trainables())."
        )


def _swc_points(base, branch: int, min_radius: float | None) -> np.ndarray | None:
    """The branch's traced (x, y, z, r) points if the module came from an SWC file."""
    if not getattr(base, "_from_swc", False) or branch >= len(base.xyzr):
        return None
    pts = np.asarray(base.xyzr[branch], dtype=float).reshape(-1, 4)
    if len(pts) < 2 or not np.all(np.isfinite(pts)):
        return None
    if min_radius is not None:
        pts = pts.copy()
        pts[:, 3] = np.maximum(pts[:, 3], float(min_radius))
    return pts


def _same(values: np.ndarray) -> bool:
    """All entries equal (NaN counts as equal to NaN)."""
    if len(values) <= 1:
        return True
    first = values[0]
    if isinstance(first, float) and math.isnan(first):
        return bool(pd.isna(values).all())
    return bool(np.all(values == first))


def _check_uniform(base, rows: pd.DataFrame, branch: int, from_swc: bool) -> None:
    fix = (
        "Call set_ncomp() first and set per-compartment values (or insert channels "
        "into single compartments) afterwards."
    )
    names = list(UNIFORM_MORPHOLOGY) + ([] if from_swc else ["radius"])
    for key in names:
        if not _same(rows[key].to_numpy()):
            raise ValueError(
                f"The compartments of branch {branch} have different {key!r} values "
                f"({np.unique(rows[key].to_numpy()).tolist()}); set_ncomp needs one {key} "
                f"per branch. {fix}"
            )
    for ch in base._channels:
        if not _same(rows[ch.name].to_numpy(dtype=bool)):
            raise ValueError(
                f"Channel {ch.name!r} is inserted in only some compartments of branch "
                f"{branch}; set_ncomp needs the same channels in the whole branch. {fix}"
            )
    for key in base.settable_keys() - set(names) - {"radius", "v"}:
        if key in rows and not _same(rows[key].to_numpy(dtype=float)):
            raise ValueError(
                f"{key!r} differs between the compartments of branch {branch}; set_ncomp "
                f"needs uniform channel parameters and states within a branch. {fix}"
            )
    for group in base.group_names:
        flags = rows[group].to_numpy(dtype=bool)
        if not _same(flags):
            raise ValueError(
                f"{int(flags.sum())} of the {len(flags)} compartments of branch {branch} "
                f"are in group {group!r} and the others are not; set_ncomp needs whole "
                "branches in a group. Call set_ncomp() first and add_to_group() afterwards."
            )


def _new_rows(base, rows: pd.DataFrame, ncomp: int, pts: np.ndarray | None) -> pd.DataFrame:
    """``ncomp`` rows replacing the (uniform) rows of one branch."""
    new = pd.DataFrame([rows.iloc[0]] * ncomp).reset_index(drop=True)
    new = new.astype(rows.dtypes.to_dict())
    new["local_comp_index"] = np.arange(ncomp)
    new["v"] = float(rows["v"].mean())
    for factor in ("area_factor", "ri_lower_factor", "ri_upper_factor"):
        new[factor] = 1.0
    if pts is None:
        new["length"] = float(rows["length"].sum()) / ncomp
        new["radius"] = float(rows["radius"].iloc[0])
        return new
    from sim.morphology.geometry import compartment_geometry

    geom = compartment_geometry(pts[:, :3], pts[:, 3], ncomp)
    length, radius = geom["length"], geom["radius"]
    half = (length / 2.0) / (np.pi * radius**2)
    new["length"] = length
    new["radius"] = radius
    new["area_factor"] = geom["area"] / (2.0 * np.pi * radius * length)
    new["ri_lower_factor"] = geom["res_lower"] / half
    new["ri_upper_factor"] = geom["res_upper"] / half
    return new


def _centres(pts: np.ndarray, ncomp: int) -> np.ndarray:
    """Compartment centres along a polyline of 3-D points (NaN if unknown)."""
    if len(pts) < 2 or not np.all(np.isfinite(pts[:, :3])):
        return np.full((ncomp, 3), np.nan)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts[:, :3], axis=0), axis=1))])
    target = (np.arange(ncomp) + 0.5) / ncomp * arc[-1]
    return np.stack([np.interp(target, arc, pts[:, d]) for d in range(3)], axis=1)


def rebuild_branches(base, plan: dict[int, int], min_radius: float | None = None) -> None:
    """Re-discretise branches of `base`: ``plan[branch] = new ncomp``.

    Validates everything before changing anything. Leaves a consistent table
    (contiguous index, global/local comp indices) without a full re-initialisation.
    """
    _check_module_free(base)
    nodes = base.nodes
    branch_of = nodes["global_branch_index"].to_numpy()
    replacements = {}
    for b, ncomp in plan.items():
        ncomp = _check_ncomp(ncomp)
        rows = nodes[branch_of == b]
        pts = _swc_points(base, b, min_radius)
        _check_uniform(base, rows, b, from_swc=pts is not None)
        new = _new_rows(base, rows, ncomp, pts)
        if {"x", "y", "z"} <= set(new.columns):
            xyzr = base.xyzr[b] if b < len(base.xyzr) else np.full((1, 4), np.nan)
            new[["x", "y", "z"]] = _centres(np.asarray(xyzr, dtype=float).reshape(-1, 4), ncomp)
        replacements[b] = new
    nodes = _splice(nodes, replacements)
    nodes["global_comp_index"] = np.arange(len(nodes))
    base.nodes = nodes
    base._sel = np.arange(len(nodes))
    base._touch()


def _splice(nodes: pd.DataFrame, replacements: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """`nodes` with the rows of each replaced branch swapped for its new rows."""
    if len(replacements) > 2:  # one pass over all branches
        pieces = [
            replacements.get(int(b), rows)
            for b, rows in nodes.groupby("global_branch_index", sort=False)
        ]
        return pd.concat(pieces, ignore_index=True)
    for b, new in replacements.items():
        mask = nodes["global_branch_index"].to_numpy() == b
        first = int(np.flatnonzero(mask)[0])
        keep = nodes[~mask]
        nodes = pd.concat([keep.iloc[:first], new, keep.iloc[first:]], ignore_index=True)
    return nodes
