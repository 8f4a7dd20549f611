"""``read_swc``: build a `Cell` from an SWC file, compartmentalised the way NEURON does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sim.morphology.geometry import compartment_geometry
from sim.morphology.swc import build_sections, keep_types, parse_swc

SWC_GROUPS = {1: "soma", 2: "axon", 3: "basal", 4: "apical"}


def geometry_factors(geom: dict) -> dict:
    """Per-compartment factors that turn cylinder formulas into NEURON's 3-D geometry.

    The simulator computes area = 2πrL·area_factor and half-resistances
    Ra·(L/2)/(πr²)·ri_*_factor, so radius/length stay differentiable parameters
    while an unmodified SWC cell reproduces NEURON's ``seg.area()``/``seg.ri()``.
    """
    length = np.maximum(geom["length"], 1e-12)
    radius = geom["radius"]
    cyl_area = 2.0 * np.pi * radius * length
    cyl_half = (length / 2.0) / (np.pi * radius**2)
    return {
        "area_factor": geom["area"] / cyl_area,
        "ri_lower_factor": geom["res_lower"] / cyl_half,
        "ri_upper_factor": geom["res_upper"] / cyl_half,
    }


def branch_rows(xyz: np.ndarray, radius: np.ndarray, ncomp: int) -> dict:
    """Columns (length, radius, geometry factors, x/y/z) of one branch's compartments."""
    geom = compartment_geometry(xyz, radius, ncomp)
    cols = {"length": np.maximum(geom["length"], 1e-12), "radius": geom["radius"]}
    cols.update(geometry_factors(geom))
    centres = np.asarray(geom["xyz"], dtype=float).reshape(ncomp, 3)
    cols.update({"x": centres[:, 0], "y": centres[:, 1], "z": centres[:, 2]})
    return cols


def read_swc(
    fname: str | Path,
    ncomp: int,
    max_branch_len: float | None = None,
    min_radius: float | None = None,
    assign_groups: bool = True,
    backend: str = "custom",
    ignore_swc_tracing_interruptions: bool = False,
    relevant_type_ids: list[int] | None = None,
):
    """Read an SWC morphology into a `Cell` with `ncomp` compartments per branch.

    Branches are exactly the sections NEURON's Import3d makes (same points, same
    parents, same attachment points); compartment areas and axial resistances
    equal NEURON's for radii varying along a branch. ``assign_groups`` adds the
    groups ``soma``, ``axon``, ``basal``, ``apical`` (``custom<type>`` otherwise).
    ``min_radius`` clips smaller (or zero) radii; without it a zero radius is an error.

    ``relevant_type_ids``: keep only these SWC types (e.g. ``[1, 3, 4]`` drops the
    axon); children of dropped points hang from their nearest kept ancestor.
    ``ignore_swc_tracing_interruptions``: NEURON (and so the default here) ends a
    section where the tracing is interrupted (a point whose parent is not the
    previous line); True continues the parent's section instead, as Jaxley's
    default does, so branch counts can differ from NEURON's. ``backend``:
    ``"custom"`` or ``"graph"`` (Jaxley's two readers) both give this reader's
    NEURON-exact sections.
    """
    if backend not in ("custom", "graph"):
        raise ValueError(f"backend must be 'custom' or 'graph', got {backend!r}.")
    from sim.modules.cell import Cell
    from sim.modules.module import Module

    if isinstance(ncomp, bool) or not isinstance(ncomp, (int, np.integer)) or ncomp < 1:
        raise ValueError(f"ncomp must be a positive integer, got {ncomp!r}.")
    if max_branch_len is not None and not (np.isfinite(max_branch_len) and max_branch_len > 0):
        raise ValueError(f"max_branch_len must be a positive length (µm), got {max_branch_len!r}.")
    points = parse_swc(fname, min_radius=min_radius)
    if relevant_type_ids is not None:
        points = keep_types(points, relevant_type_ids)
    sections = build_sections(
        points, max_branch_len, merge_interruptions=bool(ignore_swc_tracing_interruptions)
    )
    frames = []
    for b, sec in enumerate(sections):
        cols = branch_rows(np.asarray(sec.xyz), np.asarray(sec.radius), int(ncomp))
        frame = pd.DataFrame(cols)
        frame["global_branch_index"] = b
        frame["swc_type"] = int(sec.swc_type)
        frames.append(frame)
    nodes = pd.concat(frames, ignore_index=True)
    nodes["global_cell_index"] = 0
    for key, val in {**Module.compartment_params, **Module.compartment_states}.items():
        if key not in nodes:
            nodes[key] = val
    cell = Cell.__new__(Cell)
    Module.__init__(cell)
    types = nodes.pop("swc_type").to_numpy()
    if assign_groups:
        for t in np.unique(types):
            name = SWC_GROUPS.get(int(t), f"custom{int(t)}")
            nodes[name] = types == t
            cell.group_names.append(name)
    cell.nodes = nodes
    cell.branch_parents = np.asarray([s.parent for s in sections], dtype=int)
    cell.branch_parent_x = np.asarray([s.parent_x for s in sections], dtype=float)
    cell.xyzr = [np.column_stack([np.asarray(s.xyz), np.asarray(s.radius)]) for s in sections]
    cell._from_swc = True
    cell._finalize()
    return cell
