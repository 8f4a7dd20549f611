"""Stimuli, clamps and recordings of a module.

External inputs are stored in two dicts on the base module, as in Jaxley:
``externals[key]`` of shape ``(n_inputs, n_timesteps)`` and ``external_inds[key]``
with the global compartment index of each input. ``key`` is ``"i"`` for injected
current (nA) and a state name (e.g. ``"v"``) for clamps.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.core import Tracer

from sim.modules.fields import ModuleFields


class InputOutputMixin(ModuleFields):
    """Methods that attach stimuli, clamps and recordings to the viewed compartments."""

    # ----------------------------------------------------------------- helpers
    def _input_matrix(self, values: Any, what: str, n: int):
        """Broadcast a 1-D time series or an (n or 1, T) array to shape (n, T).

        Concrete values must be finite numbers; traced ones (``data_stimulate`` and
        ``data_clamp`` inside jit) are only checked for their shape.
        """
        if not isinstance(values, Tracer):
            _check_finite_numbers(values, what)
        arr = jnp.asarray(values)
        shape = tuple(arr.shape)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[0] not in (1, n) or arr.shape[1] == 0:
            raise ValueError(
                f"{what} has shape {shape}; expected (T,), (1, T) or "
                f"({n}, T) for the {n} selected compartment(s)."
            )
        return jnp.broadcast_to(arr, (n, arr.shape[1]))

    def _add_external(self, key: str, matrix, comps: np.ndarray, verbose: bool) -> None:
        base = self.base
        matrix = np.asarray(matrix, dtype=float)
        _check_finite_numbers(matrix, f"The {key!r} input")
        if key in base.externals:
            old = base.externals[key]
            if old.shape[1] != matrix.shape[1]:
                raise ValueError(
                    f"New {key!r} input has {matrix.shape[1]} time steps but existing ones "
                    f"have {old.shape[1]}; all inputs of one kind must have equal length."
                )
            base.externals[key] = np.concatenate([old, matrix])
            base.external_inds[key] = np.concatenate([base.external_inds[key], comps])
        else:
            base.externals[key] = matrix
            base.external_inds[key] = comps.astype(np.int64)
        base._touch()
        if verbose:
            print(f"Added {len(comps)} external_states. See `.externals` for details.")

    def _delete_external(self, key: str) -> None:
        base = self.base
        if key not in base.externals:
            return
        keep = ~np.isin(base.external_inds[key], self._sel)
        if keep.any():
            base.externals[key] = base.externals[key][keep]
            base.external_inds[key] = base.external_inds[key][keep]
        else:
            del base.externals[key]
            del base.external_inds[key]
        base._touch()

    # ----------------------------------------------------------------- stimuli
    def stimulate(self, current: Any = None, verbose: bool = True) -> None:
        """Inject a current (nA) into every viewed compartment (outside of jit)."""
        if current is None:
            raise ValueError("stimulate() needs a current, e.g. jx.step_current(...).")
        matrix = self._input_matrix(current, "The stimulus", len(self._sel))
        self._add_external("i", matrix, self._sel, verbose)

    def data_stimulate(
        self, current: Any, data_stimuli: tuple | None = None, verbose: bool = False
    ) -> tuple:
        """Stimulus that can change across calls (jit/grad-safe); pass to ``integrate``."""
        matrix = self._input_matrix(current, "The stimulus", len(self._sel))
        frame = pd.DataFrame({"comp_index": self._sel.astype(np.int64)})
        if data_stimuli is not None:
            old, old_frame = _unpack_stimuli(data_stimuli)
            if old.shape[1] != matrix.shape[1]:
                raise ValueError(
                    f"Stimulus has {matrix.shape[1]} time steps but earlier data_stimuli "
                    f"have {old.shape[1]}."
                )
            matrix = jnp.concatenate([old, matrix])
            frame = pd.concat([old_frame, frame], ignore_index=True)
        if verbose:
            print(f"Added {len(self._sel)} stimuli.")
        return matrix, frame

    def delete_stimuli(self) -> None:
        """Remove all stimuli from the viewed compartments."""
        self._delete_external("i")

    # ----------------------------------------------------------------- clamps
    def clamp(self, state_name: str, state_array: Any, verbose: bool = True) -> None:
        """Clamp a state (e.g. ``"v"``) of the viewed compartments to a time series."""
        comps = self._clamp_comps(state_name)
        matrix = self._input_matrix(state_array, f"The {state_name!r} clamp", len(comps))
        self._add_external(state_name, matrix, comps, verbose)

    def _clamp_comps(self, state_name: str) -> np.ndarray:
        """Compartments in view where ``state_name`` (a state or a membrane current) exists.

        A clamped membrane current (e.g. ``"i_HH"``) replaces the *reported* current
        (recordings and returned states) from the first step on; the current that
        drives the voltage is still computed from the channel's gates, exactly as in
        Jaxley 0.14, where the clamp overwrites the stored current after each step.
        """
        base = self.base
        if isinstance(state_name, str) and state_name in base.current_names():
            return base.recordable_comps(state_name, self._sel)
        if isinstance(state_name, str) and state_name in base.synapse_current_names:
            raise ValueError(
                f"{state_name!r} is a synaptic current; synaptic currents cannot be "
                "clamped (clamp a synapse state or the voltage instead)."
            )
        comps = self._comps_with_key(state_name)
        base.check_is_state(state_name)
        return comps

    def data_clamp(
        self,
        state_name: str,
        state_array: Any,
        data_clamps: tuple | None = None,
        verbose: bool = False,
    ) -> tuple:
        """Clamp that can change across calls (jit/grad-safe); pass to ``integrate``.

        Returns Jaxley 0.14's ``(state_names, values, indices)``: three lists with one
        entry per call, so one ``data_clamps`` can hold several states. The lists of
        ``data_clamps`` are copied, never modified. The older single-state form
        ``(state_name, values, DataFrame)`` is accepted as ``data_clamps`` too.
        """
        from sim.integrate import clamp_entries

        comps = self._clamp_comps(state_name)
        matrix = self._input_matrix(state_array, f"The {state_name!r} clamp", len(comps))
        names, values, inds = clamp_entries(data_clamps)
        for old_name, old in zip(names, values, strict=True):
            if jnp.shape(old)[-1] != matrix.shape[1]:
                raise ValueError(
                    f"Clamp has {matrix.shape[1]} time steps but the {old_name!r} clamp "
                    f"already in data_clamps has {jnp.shape(old)[-1]}."
                )
        if verbose:
            print(f"Added {len(comps)} clamps.")
        return (
            [*names, state_name],
            [*values, matrix],
            [*inds, comps.astype(np.int64)],
        )

    def delete_clamps(self, state_name: str | None = None) -> None:
        """Remove clamps of `state_name` (all clamps if None) from the viewed compartments."""
        keys = [k for k in list(self.base.externals) if k != "i"]
        for key in keys if state_name is None else [state_name]:
            self._delete_external(key)

    # ----------------------------------------------------------------- recordings
    def record(self, state: str = "v", verbose: bool = True) -> None:
        """Record a state (or a membrane current such as ``"i_HH"``) in every viewed compartment.

        Synapse states and currents (e.g. ``"IonotropicSynapse_s"``,
        ``"i_IonotropicSynapse"``) are recorded on every edge of the view; their
        ``rec_index`` is the global edge index.
        """
        base = self.base
        if isinstance(state, str) and state in base.edge_keys():
            if state in base.synapse_param_names:
                raise ValueError(f"{state!r} is a synapse parameter; record states or currents.")
            comps = self._edges_with_key(state)
        else:
            comps = base.recordable_comps(state, self._sel)
        new = pd.DataFrame({"rec_index": comps.astype(np.int64), "state": state})
        base.recordings = pd.concat([base.recordings, new], ignore_index=True)
        base._touch()
        if verbose:
            print(f"Added {len(comps)} recordings. See `.recordings` for details.")

    def delete_recordings(self) -> None:
        """Remove all recordings from the module."""
        base = self.base
        base.recordings = base.recordings.iloc[0:0].reset_index(drop=True)
        base._recorded = None
        base._touch()

    def write_recordings(self, recordings: Any) -> None:
        """Store the output of ``integrate`` so that ``recording()`` can return parts of it."""
        base = self.base
        arr = np.asarray(recordings)
        if arr.ndim != 2 or arr.shape[0] != len(base.recordings):
            raise ValueError(
                f"recordings must have shape ({len(base.recordings)}, T) (one row per "
                f"recording), got {arr.shape}."
            )
        base._recorded = arr

    def recording(self, state: str = "v") -> np.ndarray:
        """The written recordings of `state` in the viewed compartments, shape (n, T)."""
        base = self.base
        if base._recorded is None:
            raise ValueError("No recordings written yet; call write_recordings(v) first.")
        recs = base.recordings
        mask = (recs["state"] == state).to_numpy() & np.isin(recs["rec_index"], self._sel)
        if not mask.any():
            raise ValueError(f"No recording of {state!r} in this view.")
        return base._recorded[mask]


def _unpack_stimuli(data_stimuli: tuple):
    if not (
        isinstance(data_stimuli, tuple)
        and len(data_stimuli) == 2
        and isinstance(data_stimuli[1], pd.DataFrame)
        and jnp.ndim(data_stimuli[0]) == 2
    ):
        raise TypeError(
            "data_stimuli must be the (currents, DataFrame) tuple returned by "
            f"data_stimulate(), got {type(data_stimuli).__name__}."
        )
    return data_stimuli


def _check_finite_numbers(values: Any, what: str) -> None:
    """Raise TypeError for non-numeric and ValueError (with the position) for NaN/inf input."""
    if values is None or isinstance(values, (str, bytes, dict)):
        raise TypeError(f"{what} must be an array of numbers, got {values!r}.")
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{what} must be an array of numbers, got {values!r}.") from err
    bad = ~np.isfinite(arr)
    if bad.any():
        pos = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f"index {pos[0]}" if len(pos) == 1 else f"index {pos}"
        raise ValueError(
            f"{what} contains {bad.sum()} NaN/inf value(s), first {arr[pos]} at {where}; "
            "inputs must be finite."
        )
