"""Simulation entry points: :func:`integrate` and :func:`build_init_and_step_fn`."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.core import Tracer

from sim.config import config
from sim.core.checks import report
from sim.core.compiled import CompiledModule
from sim.core.engine import Engine, Override, engine_for
from sim.core.params import split_overrides

__all__ = ["integrate", "build_init_and_step_fn", "add_stimuli", "add_clamps"]

_MAX_STEPS = 2**31 - 1  # more steps cannot be indexed (and would not fit in memory anyway)


def _check_module(module) -> None:
    from sim.modules.module import Module
    from sim.modules.view import View

    if isinstance(module, View):
        raise TypeError(
            "integrate() needs a module, not a view; simulate the whole module or use "
            "view.copy(as_module=True)."
        )
    if not isinstance(module, Module):
        raise TypeError(f"integrate() needs a sim module (e.g. jx.Cell), got {type(module)}.")


def _as_time(name: str, value) -> float:
    """``float(value)`` for a concrete time in ms; TypeError naming `name` otherwise."""
    if isinstance(value, (str, bytes, bool, np.bool_)) or value is None:
        raise TypeError(f"{name} must be a number of milliseconds, got {value!r}.")
    try:
        return float(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a number of milliseconds, got {value!r}.") from err


def _check_delta_t(delta_t) -> None:
    if isinstance(delta_t, Tracer):
        return
    dt = _as_time("delta_t", delta_t)
    if not math.isfinite(dt) or dt <= 0:
        raise ValueError(
            f"delta_t must be a positive, finite number of milliseconds, got {delta_t!r}; "
            "e.g. delta_t=0.025."
        )


def _check_params(params, compiled: CompiledModule) -> None:
    """``params`` must have the structure of ``module.get_parameters()``."""
    if params is None:
        return
    trainables = compiled.trainables
    if isinstance(params, (list, tuple)) and len(params) == 0:
        return  # as in Jaxley: without params the values stored in .nodes are used
    if not isinstance(params, (list, tuple)) or len(params) != len(trainables):
        n = len(params) if isinstance(params, (list, tuple)) else "?"
        raise ValueError(
            f"params must be the list of {len(trainables)} dicts returned by "
            f"get_parameters(); got {type(params).__name__} with {n} entries."
        )
    for pos, (t, p) in enumerate(zip(trainables, params)):
        key, group_idx = t.key, t.groups
        if not isinstance(p, dict) or key not in p:
            raise ValueError(
                f"params[{pos}] = {p!r} does not contain the trainable {key!r}; pass the "
                "list returned by get_parameters() in the same order."
            )
        value = p[key]
        if not isinstance(value, Tracer):
            try:
                value = np.asarray(value, dtype=float)
            except (TypeError, ValueError) as err:
                raise TypeError(f"params[{pos}][{key!r}] must be numeric, got {p[key]!r}.") from err
        ngroups = int(np.max(group_idx)) + 1 if np.size(group_idx) else 0
        if int(np.size(value)) != ngroups:
            raise ValueError(
                f"params[{pos}][{key!r}] has shape {tuple(np.shape(value))} but the trainable "
                f"has {ngroups} value(s); keep the shapes of get_parameters()."
            )


def add_stimuli(externals: dict, external_inds: dict, data_stimuli) -> tuple[dict, dict]:
    """Merge the output of ``data_stimulate()`` into ``externals``/``external_inds``."""
    externals, external_inds = dict(externals), dict(external_inds)
    if data_stimuli is None:
        return externals, external_inds
    if not (
        isinstance(data_stimuli, tuple)
        and len(data_stimuli) == 2
        and isinstance(data_stimuli[1], pd.DataFrame)
        and "comp_index" in data_stimuli[1]
        and jnp.ndim(data_stimuli[0]) == 2
        and jnp.shape(data_stimuli[0])[0] == len(data_stimuli[1])
    ):
        raise TypeError(
            "data_stimuli must be the (currents, DataFrame) tuple returned by "
            f"data_stimulate(), got {type(data_stimuli).__name__}."
        )
    currents, frame = data_stimuli
    inds = np.asarray(frame["comp_index"].to_numpy(), dtype=np.int64)
    if "i" in externals:
        if jnp.shape(externals["i"])[1] != jnp.shape(currents)[1]:
            raise ValueError(
                f"data_stimuli have {jnp.shape(currents)[1]} time steps but stimuli set with "
                f"stimulate() have {jnp.shape(externals['i'])[1]}; make them equally long."
            )
        externals["i"] = jnp.concatenate([jnp.asarray(externals["i"]), currents])
        external_inds["i"] = np.concatenate([external_inds["i"], inds])
    else:
        externals["i"], external_inds["i"] = currents, inds
    return externals, external_inds


_CLAMPS_FORM = (
    "data_clamps must be the output of data_clamp(): a tuple (state_names, values, "
    "indices) of three equally long lists"
)


def clamp_entries(data_clamps) -> tuple[list[str], list, list[np.ndarray]]:
    """``data_clamps`` as three lists (state names, (n, T) values, compartment indices).

    Accepts Jaxley 0.14's list form and the seed's single-state
    ``(state_name, values, DataFrame)`` form; anything else is a TypeError.
    """
    if data_clamps is None:
        return [], [], []
    if not (isinstance(data_clamps, tuple) and len(data_clamps) == 3):
        raise TypeError(f"{_CLAMPS_FORM}, got {type(data_clamps).__name__}.")
    names, values, inds = data_clamps
    if isinstance(names, str) and isinstance(inds, pd.DataFrame) and "comp_index" in inds:
        names, values, inds = [names], [values], [inds["comp_index"].to_numpy()]
    if not (
        isinstance(names, list)
        and isinstance(values, list)
        and isinstance(inds, list)
        and len(names) == len(values) == len(inds)
        and all(isinstance(n, str) for n in names)
    ):
        raise TypeError(f"{_CLAMPS_FORM}, got {type(data_clamps).__name__} of {names!r}.")
    out_values, out_inds = [], []
    for name, val, ind in zip(names, values, inds, strict=True):
        ind = np.asarray(ind, dtype=np.int64).reshape(-1)
        val = jnp.asarray(val)
        val = val[None, :] if val.ndim == 1 else val
        if val.ndim != 2 or val.shape[0] not in (1, len(ind)):
            raise TypeError(
                f"{_CLAMPS_FORM}; the {name!r} entry has values of shape {val.shape} for "
                f"{len(ind)} compartments (expected ({len(ind)}, time steps))."
            )
        out_values.append(jnp.broadcast_to(val, (len(ind), val.shape[1])))
        out_inds.append(ind)
    return list(names), out_values, out_inds


def add_clamps(externals: dict, external_inds: dict, data_clamps) -> tuple[dict, dict]:
    """Merge the output of ``data_clamp()`` into ``externals``/``external_inds``."""
    externals, external_inds = dict(externals), dict(external_inds)
    for name, values, inds in zip(*clamp_entries(data_clamps), strict=True):
        if name in externals:
            externals[name] = jnp.concatenate([jnp.asarray(externals[name]), values])
            external_inds[name] = np.concatenate([external_inds[name], inds])
        else:
            externals[name], external_inds[name] = values, inds
    return externals, external_inds


def _time_major_inputs(externals: dict, t_max, delta_t) -> dict:
    """Transpose inputs to (time, n) and pad/truncate them to the requested duration."""
    out = {k: jnp.asarray(v).T for k, v in externals.items()}
    if t_max is None:
        if not out:
            raise ValueError(
                "Nothing sets the simulation length: pass t_max=... (ms) or add a stimulus/clamp."
            )
        return out
    if isinstance(t_max, Tracer):
        raise TypeError("t_max must be a Python number (it sets array shapes), not traced.")
    t_max_f = _as_time("t_max", t_max)
    if not math.isfinite(t_max_f) or t_max_f < 0:
        raise ValueError(
            f"t_max must be a finite, non-negative duration in ms, got {t_max!r}; e.g. t_max=100.0."
        )
    if isinstance(delta_t, Tracer):
        raise TypeError(
            "delta_t cannot be traced when t_max is given (together they set the number of "
            "steps); pass it as a Python float."
        )
    steps = t_max_f // float(delta_t) + 1
    if not steps <= _MAX_STEPS:
        raise ValueError(
            f"t_max={t_max!r} with delta_t={delta_t!r} needs {steps:.3g} time steps (more "
            f"than {_MAX_STEPS:.0e}); use a larger delta_t or a shorter t_max."
        )
    nsteps = int(steps)
    for key, arr in out.items():
        if arr.shape[0] < nsteps:
            if key != "i":
                raise ValueError(
                    f"The {key!r} clamp has {arr.shape[0]} time steps but t_max={t_max} ms "
                    f"needs {nsteps}; a clamp must be at least as long as the simulation."
                )
            pad = jnp.zeros((nsteps - arr.shape[0], arr.shape[1]), arr.dtype)
            out[key] = jnp.concatenate([arr, pad])
        else:
            out[key] = arr[:nsteps]
    if not out:
        out["i"] = jnp.zeros((nsteps, 0))
    return out


def _check_lengths(inputs: dict) -> int:
    lengths = {k: int(v.shape[0]) for k, v in inputs.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(
            f"Inputs have different numbers of time steps {lengths}; pass t_max to pad "
            "or truncate them to one length."
        )
    return next(iter(lengths.values()))


_WARNED_FLOAT32 = []


def _warn_if_float32() -> None:
    """Say once per process that float64 is off (JAX's default) and what it costs."""
    if jax.config.read("jax_enable_x64") or _WARNED_FLOAT32:
        return
    _WARNED_FLOAT32.append(True)
    warnings.warn(
        "sim is running in float32 (jax_enable_x64 is off). Voltages then differ from "
        "float64 by up to ~0.05 mV on a spiking cell (spike times unchanged at dt 0.025 "
        "ms), and Kalman filtering and gradients of long simulations lose accuracy. For "
        "validation-grade results call jax.config.update('jax_enable_x64', True) first.",
        UserWarning,
        stacklevel=3,
    )


def _train_values(params, compiled: CompiledModule) -> list:
    """The trainable values in ``get_parameters()`` order (``.nodes`` values if none given)."""
    if not params:
        return []  # as in Jaxley: trainables are not applied, the .nodes values are used
    return [p[t.key] for t, p in zip(compiled.trainables, params)]


def _entries(param_state, compiled: CompiledModule) -> list[Override]:
    """``data_set`` entries as (key, indices, values), validated."""
    params, states = split_overrides(list(param_state or []), compiled)
    return [(e["key"], e["indices"], e["val"]) for e in params + states]


def _checkpoint_lengths(checkpoint_lengths, nsteps: int) -> tuple[int, ...] | None:
    if checkpoint_lengths is None:
        return None
    try:
        lengths = tuple(int(x) for x in checkpoint_lengths)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"checkpoint_lengths must be a list of positive ints, got {checkpoint_lengths!r}."
        ) from err
    if not lengths or any(n < 1 for n in lengths):
        raise ValueError(
            f"checkpoint_lengths must be positive integers, got {list(checkpoint_lengths)}."
        )
    total = int(np.prod(lengths))
    if total < nsteps:
        raise ValueError(
            f"prod(checkpoint_lengths) = {total} is smaller than the {nsteps} time steps; "
            "choose lengths whose product covers the simulation."
        )
    return lengths


def integrate(
    module,
    params: list[dict[str, Any]] | None = None,
    *,
    param_state: list[dict] | None = None,
    data_stimuli: tuple | None = None,
    data_clamps: tuple | None = None,
    t_max: float | None = None,
    delta_t: float = 0.025,
    solver: str = "bwd_euler",
    voltage_solver: str = "jaxley.dhs",
    checkpoint_lengths: list[int] | None = None,
    all_states: dict | None = None,
    return_states: bool = False,
    check: bool | None = None,
):
    """Simulate `module` and return its recordings, shape ``(n_recordings, n_steps + 1)``.

    Args:
        module: A ``Compartment``, ``Branch``, ``Cell`` or ``Network`` with recordings.
        params: Trainable parameters as returned by ``module.get_parameters()``;
            without them the values stored in ``.nodes`` are used.
        param_state: Entries returned by ``data_set()`` (applied after ``params``).
        data_stimuli: Output of ``data_stimulate()`` (stimuli that change across calls).
        data_clamps: Output of ``data_clamp()`` (clamps that change across calls).
        t_max: Duration (ms). Stimuli are zero-padded or truncated to
            ``int(t_max // delta_t + 1)`` steps; clamps must be at least that long.
            Without t_max the length of the inputs sets the duration.
        delta_t: Time step (ms).
        solver: ``"bwd_euler"`` (NEURON's default), ``"crank_nicolson"``,
            ``"fwd_euler"`` or ``"exp_euler"``.
        voltage_solver: Linear solver for the implicit schemes. ``"jaxley.dhs"``
            (default) and ``"jaxley.stone"`` pick the fastest for the backend:
            parallel elimination of unbranched segments, then the junctions
            sequentially on CPU or level by level on GPU (``"jaxley.dhs.cpu"`` /
            ``"jaxley.dhs.gpu"`` force one); ``"jaxley.thomas"`` is node-by-node
            Hines elimination as in NEURON; also ``"jax.sparse"``/``"dense"``,
            ``"levels"``, ``"segments"``, ``"hines"``. All give the same result
            to round-off.
        checkpoint_lengths: Nested gradient-checkpointing lengths, e.g. ``[80, 100]``
            for 8000 steps: under ``jax.grad`` only the states at chunk boundaries
            are stored and each chunk is recomputed. Their product must be >= the
            number of steps; no extra steps are simulated.
        all_states: Initial states returned by an earlier ``return_states=True`` run;
            they override (trainable) initial states.
        return_states: Also return the final states.
        check: Check the simulation for blow-ups (NaN/inf, voltages beyond
            ``sim.config.max_voltage_mV``) and traced parameters outside their
            declared ranges, and warn naming recording and step (see
            :mod:`sim.config`). ``None``: ``sim.config.check_simulations``.
            Works under ``jit``/``vmap``/``grad``; inference code that explores
            extreme parameters on purpose passes ``check=False``.
    """
    _check_module(module)
    _check_delta_t(delta_t)
    _warn_if_float32()
    compiled = module.compiled()
    if len(compiled.rec_states) == 0:
        raise ValueError("Nothing is recorded; call e.g. cell.branch(0).comp(0).record('v').")
    _check_params(params, compiled)
    inputs, inds, current_clamps, external_inds, nsteps = _step_inputs(
        compiled, data_stimuli, data_clamps, t_max, delta_t
    )
    lengths = _checkpoint_lengths(checkpoint_lengths, nsteps)
    engine = engine_for(compiled, solver, voltage_solver)
    checks = config.key()
    enabled = config.check_simulations if check is None else bool(check)
    recs, final, problems = engine.run(
        _train_values(params, compiled),
        _entries(param_state, compiled),
        all_states,
        inputs,
        inds,
        delta_t,
        checkpoint_lengths=lengths,
        return_states=return_states,
        checks=(checks[0], enabled, checks[2]) if enabled else None,
    )
    if problems is not None and checks[2] == "raise" and not isinstance(recs, Tracer):
        report(compiled, problems, checks[0], "raise")
    for key, values in current_clamps.items():
        key_inds = np.asarray(external_inds[key], dtype=np.int64)
        recs = clamp_recorded_current(compiled, recs, key, values, key_inds)
        if return_states:
            final = dict(final)
            final[key] = jnp.asarray(final[key]).at[key_inds].set(values[-1])
    return (recs, final) if return_states else recs


def _step_inputs(compiled, data_stimuli, data_clamps, t_max, delta_t):
    """Time-major inputs of the step, their indices, the clamped currents and the length.

    Clamped membrane currents (``clamp("i_HH", ...)``) are not step inputs: they
    replace the recorded currents afterwards (:func:`clamp_recorded_current`).
    """
    externals, external_inds = add_stimuli(compiled.externals, compiled.external_inds, data_stimuli)
    externals, external_inds = add_clamps(externals, external_inds, data_clamps)
    inputs = _time_major_inputs(externals, t_max, delta_t)
    nsteps = _check_lengths(inputs)
    current_clamps = {k: inputs.pop(k) for k in list(inputs) if k in compiled.current_names}
    if current_clamps and not inputs:  # the clamped currents were all that set the length
        inputs["i"] = jnp.zeros((nsteps, 0))
    inds = {k: jnp.asarray(external_inds.get(k, np.zeros(0, np.int64))) for k in inputs}
    return inputs, inds, current_clamps, external_inds, nsteps


def clamp_recorded_current(
    compiled: CompiledModule, recs: jax.Array, key: str, values: jax.Array, inds: np.ndarray
) -> jax.Array:
    """Recordings with the clamped membrane current ``key`` in place of the computed one.

    ``values`` is time-major ``(T, len(inds))``; the clamp of step ``k`` is what the
    state after step ``k`` (recording row ``k + 1``) reports, as in Jaxley.
    """
    rec_states = np.asarray(compiled.rec_states, dtype=object)
    rec_comps = np.asarray(compiled.recordings.comps)
    column = {int(c): j for j, c in enumerate(inds)}  # the last clamp of a compartment wins
    rows = [r for r in np.flatnonzero(rec_states == key) if int(rec_comps[r]) in column]
    if not rows:
        return recs
    cols = np.asarray([column[int(rec_comps[r])] for r in rows])
    nsteps = recs.shape[1] - 1
    return recs.at[np.asarray(rows), 1:].set(jnp.asarray(values)[:nsteps, cols].T)


def _order_inputs(externals: dict | None, external_inds: dict | None) -> tuple[dict, dict]:
    """Accept (externals, external_inds) in either order: the seed docs disagree.

    ``build_init_and_step_fn``'s signature lists ``external_inds`` first, its
    example passes ``externals`` first; index arrays are integers, values floats.
    """
    externals = dict(externals or {})
    external_inds = dict(external_inds or {})
    values = [v for v in externals.values() if jnp.size(v)]
    inds = [v for v in external_inds.values() if jnp.size(v)]
    if values and inds:
        v_int = all(jnp.issubdtype(jnp.asarray(x).dtype, jnp.integer) for x in values)
        i_float = all(jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating) for x in inds)
        if v_int and i_float:
            externals, external_inds = external_inds, externals
    for key in externals:
        if key not in external_inds:
            raise ValueError(f"External input {key!r} has no entry in external_inds.")
    return externals, external_inds


def make_init_fn(compiled: CompiledModule, engine: Engine):
    """The seed API's ``init_fn`` for one engine (also used by module helpers)."""

    def init_fn(params, all_states=None, param_state=None, delta_t=0.025):
        _check_delta_t(delta_t)
        _check_params(params, compiled)
        overrides = engine.overrides(
            _train_values(params, compiled), _entries(param_state, compiled)
        )
        state, step_params, all_params = engine.initial(overrides, all_states, delta_t)
        if engine.scheme.needs_transition:
            all_params["exp_euler_transition"] = engine.transition(all_params, delta_t)
        if all_states is None:
            all_states = engine.user_states(state, step_params)
        return all_states, all_params

    return init_fn


def make_step_fn(engine: Engine):
    """The seed API's ``step_fn`` for one engine."""
    current_names = set(engine.model.current_names)

    def step_fn(all_states, all_params, externals, external_inds=None, delta_t=0.025):
        _check_delta_t(delta_t)
        externals, external_inds = _order_inputs(externals, external_inds)
        for key, val in externals.items():
            if jnp.ndim(val) > 1:
                raise ValueError(
                    f"externals[{key!r}] has shape {jnp.shape(val)}; step_fn needs the "
                    f"inputs of one time step, e.g. externals[{key!r}][:, step]."
                )
        externals = {k: jnp.asarray(v) for k, v in externals.items()}
        currents = {k: externals.pop(k) for k in list(externals) if k in current_names}
        inds = {k: jnp.asarray(external_inds[k]) for k in externals}
        states = engine.user_step(all_states, all_params, externals, inds, delta_t)
        for key, val in currents.items():  # clamped currents: reported value only
            states = {**states, key: states[key].at[jnp.asarray(external_inds[key])].set(val)}
        return states

    return step_fn


def build_init_and_step_fn(
    module, voltage_solver: str = "jaxley.dhs", solver: str = "bwd_euler"
) -> tuple[Callable, Callable]:
    """Return ``init_fn(params, all_states=None, param_state=None, delta_t=0.025)`` and
    ``step_fn(all_states, all_params, externals, external_inds, delta_t=0.025)``.

    ``init_fn`` returns ``(all_states, all_params)``. ``step_fn`` advances all
    states by one step; ``externals`` holds the inputs *at this step* (shape
    ``(n_inputs,)`` per key, e.g. ``module.externals["i"][:, step]``). It is jitted.
    """
    _check_module(module)
    compiled = module.compiled()
    engine = engine_for(compiled, solver, voltage_solver)
    return make_init_fn(compiled, engine), make_step_fn(engine)
