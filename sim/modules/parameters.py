"""Parameters and states of a module: ``set``, ``data_set``, ``make_trainable`` & co.

All values live in the base module's ``nodes`` table (one row per compartment,
NaN where a mechanism is not inserted). ``data_set`` and ``make_trainable`` never
touch the table inside traced code: they only record *which* compartments a value
applies to; the values are combined in :mod:`sim.core.params` at simulation time.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from jax.core import Tracer

from sim.modules.fields import ModuleFields

MORPHOLOGY_PARAMS = ("length", "radius", "axial_resistivity", "capacitance")
POSITIVE_PARAMS = MORPHOLOGY_PARAMS  # all morphology parameters must be > 0


class ParameterMixin(ModuleFields):
    """Methods that read and write parameters and states of the viewed compartments."""

    # ----------------------------------------------------------------- lookup
    def _comps_with_key(self, key: str) -> np.ndarray:
        """Selected compartments in which `key` (param or state) exists; errors if none."""
        base = self.base
        if not isinstance(key, str):
            raise TypeError(f"Parameter names are strings, got {key!r}.")
        if key in base.edge_keys() and key not in base.synapse_current_names:
            return self._edges_with_key(key)
        if key not in base.settable_keys():
            edge_keys = sorted(k for k in base.edge_keys() if k not in base.synapse_current_names)
            syn = f"; on synapses: {edge_keys}" if edge_keys else ""
            raise ValueError(
                f"Unknown parameter or state {key!r}. Available here: "
                f"{sorted(base.settable_keys())}{syn}. Insert the channel (or connect "
                "the synapse) that defines it first."
            )
        present = base.key_present(key, self._sel)
        if not present.any():
            owners = base.key_owners(key)
            raise ValueError(
                f"{key!r} belongs to {owners}, which is not inserted in any of the "
                f"{len(self._sel)} selected compartments; insert it there first."
            )
        return self._sel[present]

    def _edges_with_key(self, key: str) -> np.ndarray:
        """Edges (global indices) in this view that carry the synapse key ``key``."""
        base = self.base
        edges = self._edges_in_view
        types = base.edges["type"].to_numpy()[edges]
        mine = edges[types == base.edge_key_type(key)]
        if mine.size == 0:
            raise ValueError(
                f"{key!r} belongs to synapse {base.edge_key_type(key)!r}, but none of its "
                "edges is in this view (an edge is in a compartment view when both its pre- "
                "and postsynaptic compartments are)."
            )
        return mine

    def _check_range(self, key: str, arr: np.ndarray, shown: Any) -> None:
        """ValueError for non-physical values: geometry <= 0, outside declared bounds."""
        if key in POSITIVE_PARAMS and np.any(arr <= 0):
            raise ValueError(f"{key!r} must be > 0, got {shown!r}.")
        bounds = self.base.key_bounds(key)
        if bounds is not None and np.any((arr < bounds[0]) | (arr > bounds[1])):
            raise ValueError(
                f"{key!r} must lie in [{bounds[0]:g}, {bounds[1]:g}] (the range its mechanism "
                f"declares), got {shown!r}."
            )

    def _table_of(self, key: str):
        """The base table (``nodes`` or ``edges``) holding ``key``."""
        base = self.base
        return base.edges if key in base.edge_keys() else base.nodes

    # ----------------------------------------------------------------- set
    def set(self, key: str, val: Any) -> None:
        """Set a parameter or initial state of the viewed compartments (outside of jit).

        ``val`` is a number, or an array with one entry per compartment where `key`
        exists in this view.
        """
        comps = self._comps_with_key(key)
        if _is_tracer(val):
            raise TypeError("set() cannot be used inside jax.jit/jax.grad; use data_set() instead.")
        arr = _as_float_array(val, f"Value for {key!r}")
        if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] not in (1, len(comps))):
            raise ValueError(
                f"Value for {key!r} has shape {arr.shape}; expected a scalar or "
                f"{len(comps)} values (one per compartment in the view)."
            )
        if np.any(~np.isfinite(arr)):
            raise ValueError(f"Value for {key!r} must be finite, got {val!r}.")
        self._check_range(key, arr, val)
        self._table_of(key).loc[comps, key] = arr
        self.base._touch()

    def data_set(self, key: str, val: Any, param_state: list[dict] | None) -> list[dict]:
        """Set a parameter within `jax.jit` / `jax.grad` without mutating the module.

        Returns ``param_state`` extended by this setting; pass it to
        ``integrate(..., param_state=...)``.
        """
        comps = self._comps_with_key(key)
        if not _is_tracer(val):
            concrete = _as_float_array(val, f"data_set value for {key!r}")
            if np.any(~np.isfinite(concrete)):
                raise ValueError(f"data_set value for {key!r} must be finite, got {val!r}.")
            self._check_range(key, concrete, val)
        value = jnp.asarray(val)
        if value.ndim > 1 or (value.ndim == 1 and value.shape[0] not in (1, len(comps))):
            raise ValueError(
                f"data_set value for {key!r} has shape {value.shape}; expected a scalar "
                f"or shape ({len(comps)},)."
            )
        entry = {"key": key, "indices": comps, "val": value}
        return [*(param_state or []), entry]

    # ----------------------------------------------------------------- trainables
    def _sharing_groups(self, comps: np.ndarray) -> np.ndarray:
        """Group id (0..G-1) of every compartment; each group gets one parameter."""
        if self._ctrl == "module":
            return np.zeros(len(comps), dtype=int)
        if self._ctrl == "edge":
            return np.arange(len(comps))
        ids = self.base.nodes.loc[comps, f"global_{self._ctrl}_index"].to_numpy()
        _, group = np.unique(ids, return_inverse=True)
        return group.reshape(-1)

    def make_trainable(self, key: str, init_val: Any = None, verbose: bool = True) -> None:
        """Make a parameter (or initial state) trainable.

        One parameter is created per element of the level this view was made at
        (e.g. one per branch for ``cell.branch("all")``, one in total for ``cell``).
        """
        base = self.base
        comps = self._comps_with_key(key)
        on_edges = key in base.edge_keys()
        group = np.zeros(len(comps), dtype=int) if on_edges and self._ctrl != "edge" else None
        group = self._sharing_groups(comps) if group is None else group
        ngroups = int(group.max()) + 1
        current = self._table_of(key).loc[comps, key].to_numpy(dtype=float)
        if init_val is None:
            init = np.bincount(group, weights=current) / np.bincount(group)
        else:
            if _is_tracer(init_val):
                raise TypeError(
                    f"init_val for {key!r} must be concrete (make_trainable() cannot be used "
                    "inside jax.jit/jax.grad)."
                )
            init = _as_float_array(init_val, f"init_val for {key!r}").reshape(-1)
            if init.size == 1:
                init = np.full(ngroups, init[0])
            if init.size != ngroups:
                raise ValueError(
                    f"init_val for {key!r} has {init.size} values but this view creates "
                    f"{ngroups} parameters; pass a float or {ngroups} values."
                )
            if np.any(~np.isfinite(init)):
                raise ValueError(f"init_val for {key!r} must be finite, got {init_val!r}.")
        self._check_range(key, init, init_val)
        base.trainables.append({"key": key, "comp_idx": comps, "group_idx": group, "init": init})
        base._touch()
        if verbose:
            total = sum(len(t["init"]) for t in base.trainables)
            print(
                f"Number of newly added trainable parameters: {ngroups}. "
                f"Total number of trainable parameters: {total}"
            )

    def get_parameters(self) -> list[dict[str, jnp.ndarray]]:
        """Initial values of all trainable parameters, as ``[{name: array}, ...]``."""
        return [{t["key"]: jnp.asarray(t["init"])} for t in self.base.trainables]

    @property
    def indices_set_by_trainables(self) -> list[np.ndarray]:
        """Compartment indices each trainable parameter acts on (Jaxley compatibility)."""
        return [t["comp_idx"] for t in self.base.trainables]

    def write_trainables(self, trainable_params: list[dict[str, Any]]) -> None:
        """Write trained values back into ``.nodes`` (e.g. for inspection or plotting)."""
        base = self.base
        _check_params_list(trainable_params, base.trainables)
        for spec, p in zip(base.trainables, trainable_params):
            values = np.asarray(p[spec["key"]], dtype=float).reshape(-1)
            table = self._table_of(spec["key"])
            table.loc[spec["comp_idx"], spec["key"]] = values[spec["group_idx"]]
        base._touch()

    def delete_trainables(self) -> None:
        """Remove all trainable parameters."""
        self.base.trainables.clear()
        self.base._touch()

    # ----------------------------------------------------------------- mechanisms
    def insert(self, channel) -> None:
        """Insert a channel (or pump) into the viewed compartments."""
        self.base.insert_mechanism(channel, self._sel)

    def delete(self, channel) -> None:
        """Remove a channel (or pump) from the viewed compartments."""
        self.base.delete_mechanism(channel, self._sel)

    @property
    def channels(self) -> list:
        """Channels inserted in at least one of the viewed compartments."""
        base = self.base
        out = []
        for ch in base._channels:
            if base.nodes.loc[self._sel, ch.name].to_numpy(dtype=bool).any():
                out.append(ch)
        return out

    def init_states(self, delta_t: float = 0.025) -> None:
        """Set every channel state of the viewed compartments to its steady state."""
        self.base.init_mechanism_states(self._sel, delta_t)

    def init_params(self) -> None:
        """Run ``init_params`` of every mechanism that defines one."""
        self.base.init_mechanism_params(self._sel)


def _is_tracer(val: Any) -> bool:

    return isinstance(val, Tracer)


def _as_float_array(val: Any, what: str) -> np.ndarray:
    """``np.asarray(val, float)``, with a TypeError naming `what` for non-numeric input."""
    if val is None or isinstance(val, (str, bytes, dict, bool, np.bool_)):
        raise TypeError(f"{what} must be a number or an array of numbers, got {val!r}.")
    try:
        if np.asarray(val).dtype == bool:
            raise TypeError(f"{what} must be numbers, not booleans: {val!r}.")
        return np.asarray(val, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{what} must be a number or an array of numbers, got {val!r}.") from err


def _check_params_list(params: Any, trainables: list[dict]) -> None:
    if not isinstance(params, (list, tuple)) or len(params) != len(trainables):
        raise ValueError(
            f"Expected a list of {len(trainables)} dicts as returned by get_parameters(), "
            f"got {type(params).__name__} of length "
            f"{len(params) if hasattr(params, '__len__') else '?'}."
        )
    for spec, p in zip(trainables, params):
        if not isinstance(p, dict) or spec["key"] not in p:
            raise ValueError(
                f"Parameter entry {p!r} does not match trainable {spec['key']!r}; "
                "pass the list returned by get_parameters() in the same order."
            )
