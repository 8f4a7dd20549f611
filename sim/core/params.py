"""From trainable parameters and ``data_set`` entries to the ``all_params`` pytree.

``all_params`` is a flat dict of arrays: every per-compartment parameter (shape
``(ncomp,)``, NaN where the owning mechanism is absent) plus derived quantities
used by the step: ``area`` (µm²), ``cap`` (membrane capacitance of each
compartment, nA·ms/mV) and ``axial_conductances`` (shape ``(1, nnodes)``: µS
between every graph node and its parent, 0 for roots).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from sim.core.compiled import CompiledModule
from sim.core.graph import Graph

UM2_MA_PER_CM2_TO_NA = 1e-2  # (mA/cm²) * µm² -> nA
UF_PER_CM2_UM2_TO_NA_MS_PER_MV = 1e-5  # (µF/cm²) * µm² -> nA·ms/mV
OHM_CM_UM_PER_UM2_TO_MOHM = 1e-2  # Ω·cm * µm / µm² -> MΩ


def params_to_pstate(params: list[dict[str, Any]], compiled: CompiledModule) -> list[dict]:
    """Expand ``get_parameters()``-style values into per-compartment ``param_state`` entries."""
    if params is None or (isinstance(params, (list, tuple)) and len(params) == 0):
        return []  # as in Jaxley: without params the values stored in .nodes are used
    if not isinstance(params, (list, tuple)) or len(params) != len(compiled.trainables):
        raise ValueError(
            f"params must be the list of {len(compiled.trainables)} dicts returned by "
            f"get_parameters(); got {type(params).__name__} with "
            f"{len(params) if hasattr(params, '__len__') else '?'} entries."
        )
    pstate = []
    for t, p in zip(compiled.trainables, params):
        if not isinstance(p, dict) or t.key not in p:
            raise ValueError(
                f"Trainable entry {p!r} does not contain {t.key!r}; keep the order of "
                "get_parameters()."
            )
        value = jnp.asarray(p[t.key]).reshape(-1)
        pstate.append({"key": t.key, "indices": t.comps, "val": value[t.groups]})
    return pstate


def apply_entry(table: dict, key: str, indices, val) -> None:
    """Set ``table[key][indices] = val`` (broadcast; out of place)."""
    if key not in table:
        raise ValueError(f"param_state sets unknown key {key!r}.")
    idx = indices if isinstance(indices, jax.Array) else np.asarray(indices).reshape(-1)
    idx = idx.reshape(-1)
    val = jnp.asarray(val)
    if val.ndim > 1:
        val = val.reshape(-1)
    table[key] = table[key].at[idx].set(jnp.broadcast_to(val, idx.shape).astype(table[key].dtype))


def _apply(table: dict, entry: dict) -> None:
    apply_entry(table, entry["key"], entry["indices"], entry["val"])


def split_overrides(pstate: list[dict], compiled: CompiledModule) -> tuple[list, list]:
    """Separate entries acting on parameters from those acting on initial states."""
    params, states = [], []
    for entry in pstate:
        if not isinstance(entry, dict) or not {"key", "indices", "val"} <= set(entry):
            raise ValueError(
                "param_state entries must be dicts with 'key', 'indices', 'val' as "
                f"returned by data_set(); got {entry!r}."
            )
        if entry["key"] in compiled.param_keys or entry["key"] in compiled.base_edge_params:
            params.append(entry)
        elif entry["key"] in compiled.state_keys or entry["key"] in compiled.base_edge_states:
            states.append(entry)
        else:
            raise ValueError(f"param_state sets unknown key {entry['key']!r}.")
    return params, states


def axial_conductances(graph: Graph, p: dict) -> jnp.ndarray:
    """Conductance (µS) between every node and its parent; 0 for roots."""
    return edge_conductances(graph, p, p["axial_resistivity"] * OHM_CM_UM_PER_UM2_TO_MOHM)


def diffusive_conductances(graph: Graph, p: dict, key: str) -> jnp.ndarray:
    """Diffusive conductance (µm³/ms) of ``key`` between every node and its parent.

    The "resistivity" is ``1 / D`` with ``D = axial_diffusion_<key>`` (µm²/ms), on the
    same half-compartment geometry (including 3-D factors) as the axial resistance.
    """
    d = p[f"axial_diffusion_{key}"]
    return edge_conductances(graph, p, 1.0 / d)


def edge_conductances(graph: Graph, p: dict, specific: jnp.ndarray) -> jnp.ndarray:
    """``1 / (sum of half-compartment resistances)`` for every node-parent edge.

    A half compartment has resistance ``specific * (length / 2) / (pi r^2)`` times its
    geometry factor (``ri_lower_factor`` / ``ri_upper_factor``); roots get 0.
    """
    radius, length = p["radius"], p["length"]
    base = specific * (length / 2.0) / (jnp.pi * radius**2)
    halves = jnp.stack([base * p["ri_lower_factor"], base * p["ri_upper_factor"]])
    has_parent = graph.parent >= 0
    a = np.where(has_parent, graph.comp_a, 0)
    b_valid = has_parent & (graph.comp_b >= 0)
    b = np.where(b_valid, graph.comp_b, 0)
    resistance = halves[graph.half_a, a] + jnp.where(b_valid, halves[graph.half_b, b], 0.0)
    resistance = jnp.where(has_parent, resistance, 1.0)
    return jnp.where(has_parent, 1.0 / resistance, 0.0)


def derive(graph: Graph, p: dict) -> dict:
    """Add ``area``, ``cap`` and ``axial_conductances`` to a parameter table."""
    out = dict(p)
    area = 2.0 * jnp.pi * p["radius"] * p["length"] * p["area_factor"]
    out["area"] = area
    out["cap"] = p["capacitance"] * area * UF_PER_CM2_UM2_TO_NA_MS_PER_MV
    out["axial_conductances"] = axial_conductances(graph, p)[None, :]
    return out


def build_all_params(compiled: CompiledModule, param_entries: list[dict]) -> dict:
    """Base values, overridden in order by trainables and ``data_set`` entries, plus derived."""
    table = {k: jnp.asarray(v) for k, v in compiled.base_params.items()}
    for entry in param_entries:
        _apply(table, entry)
    return derive(compiled.graph, table)


def build_initial_states(compiled: CompiledModule, state_entries: list[dict]) -> dict:
    """Initial compartment states (``v`` without branch points) with overrides applied."""
    table = {k: jnp.asarray(v) for k, v in compiled.base_states.items()}
    for entry in state_entries:
        _apply(table, entry)
    return table
