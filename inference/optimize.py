"""Gradient-based fitting of named parameters with optax, in unconstrained space.

:func:`fit` minimises ``loss_fn(params)`` over a dict of named parameters. It
optimises ``u = transform.to_unconstrained(params)``, so bounded parameters stay in
range without clipping. :func:`fit_multistart` runs many starts in parallel
(``jax.vmap`` of one jitted update step).

MAP versus MLE, and the Jacobian
--------------------------------
A log density over constrained ``x`` has its mode at a different point than the same
density expressed over ``u``: ``p_u(u) = p_x(x(u)) |dx/du|``. There are therefore two
"MAP" estimates:

* :func:`map_objective` (default ``jacobian=True``): minimises
  ``-(log_prior(x) + log_lik(x) + log|dx/du|)``, the mode of the posterior *in the
  unconstrained parametrisation*, i.e. of the density that HMC/NUTS sample. For a
  ``LogNormal(mu, s)`` prior alone with an :class:`~inference.transforms.Exp` bijector
  it lands at ``exp(mu)`` (the median), not at the constrained mode ``exp(mu - s**2)``.
  With ``jacobian=False`` it is the ordinary MAP of the constrained density: the
  optimum is then the same whichever bijector is used (only the optimiser path changes).
* :func:`mle_objective`: ``-log_lik(x)``; the maximum-likelihood estimate does not
  depend on the parametrisation, so no Jacobian enters.

A plain ``loss_fn(params)`` (e.g. from :mod:`inference.losses`) is evaluated at the
constrained parameters; an :class:`UnconstrainedObjective` (what :func:`map_objective`
returns) is evaluated directly at ``u`` and must be built with the same transform.

Checkpoints and resuming
------------------------
With ``checkpoint_path`` the full optimiser state (unconstrained params, optax state,
RNG key, best-so-far params and loss, step count, loss history) is written atomically
(temporary file, then ``os.replace``) every ``checkpoint_every`` steps and at the end.
``resume=True`` continues from it, and an interrupted-then-resumed run gives exactly
the result of an uninterrupted one (same loss, optimiser and seed assumed; a different
parameter set or optimiser-state layout raises ``ValueError``). A missing checkpoint
file with ``resume=True`` starts from ``init``; a checkpoint already at or past
``num_steps`` is returned without further steps.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

from inference.checkpoint import (
    CheckpointError,
    ResumeMismatchError,
    RunClock,
    load_arrays,
    load_tree,
    save_tree,
)
from inference.checkpoint import fingerprint as make_fingerprint
from inference.transforms import Identity, ListParamsTransform, ParamTransform

__all__ = [
    "FitResult",
    "MultiStartResult",
    "UnconstrainedObjective",
    "fit",
    "fit_multistart",
    "map_objective",
    "mle_objective",
]

Params = dict[str, Any]


@dataclass(frozen=True)
class UnconstrainedObjective:
    """A loss evaluated at the unconstrained parameters: ``fn(u)`` or ``fn(u, key)``."""

    fn: Callable[..., Array]

    def __call__(self, u: Params, *key: Array) -> Array:
        return self.fn(u, *key)


@dataclass(frozen=True)
class FitResult:
    """Outcome of one optimisation run.

    Attributes:
        params: constrained parameters with the lowest loss seen.
        unconstrained: the same, in unconstrained space.
        loss_history: loss at each step, evaluated before that step's update.
        best_loss: the lowest loss seen (``inf`` if every loss was NaN).
        steps_done: number of update steps taken in total (over resumes).
        final_unconstrained: unconstrained parameters after the last update.
    """

    params: Params
    unconstrained: Params
    loss_history: np.ndarray
    best_loss: float
    steps_done: int
    final_unconstrained: Params


@dataclass(frozen=True)
class MultiStartResult:
    """Per-start results of :func:`fit_multistart` and the best of them."""

    results: tuple[FitResult, ...]
    best: FitResult
    best_index: int

    @property
    def best_losses(self) -> np.ndarray:
        return np.array([r.best_loss for r in self.results])


def map_objective(
    log_prior_fn: Callable[..., Array],
    log_lik_fn: Callable[..., Array],
    transform: ParamTransform,
    *,
    jacobian: bool = True,
) -> UnconstrainedObjective:
    """Negative log posterior as a function of the unconstrained parameters.

    ``log_prior_fn(params)`` and ``log_lik_fn(params[, key])`` take constrained
    parameters. With ``jacobian=True`` the log-det-Jacobian of ``transform`` is added,
    making the optimum the posterior mode in unconstrained space (see module doc).
    Pass the same ``transform`` to :func:`fit`.
    """

    def objective(u: Params, *key: Array) -> Array:
        params = transform.from_unconstrained(u)
        log_post = log_prior_fn(params) + log_lik_fn(params, *key)
        if jacobian:
            log_post = log_post + transform.log_det_jac(u)
        return -log_post

    return UnconstrainedObjective(objective)


def mle_objective(log_lik_fn: Callable[..., Array]) -> Callable[..., Array]:
    """``-log_lik_fn(params[, key])`` over constrained parameters (no Jacobian needed)."""

    def loss(params: Params, *key: Array) -> Array:
        return -log_lik_fn(params, *key)

    return loss


class _State(NamedTuple):
    u: Params
    opt_state: Any
    key: Array  # raw uint32 key data, so that the state is a plain array pytree
    best_u: Params
    best_loss: Array


def _as_objective(loss_fn: Callable[..., Array], transform: ParamTransform) -> Callable:
    if isinstance(loss_fn, UnconstrainedObjective):
        return loss_fn.fn

    def objective(u: Params, *key: Array) -> Array:
        return loss_fn(transform.from_unconstrained(u), *key)

    return objective


def _make_step(objective: Callable, optimizer: optax.GradientTransformation, stochastic: bool):
    """One update: loss and gradient at ``state.u``, optax update, best-so-far tracking."""

    def step(state: _State) -> tuple[_State, Array]:
        key, subkey = jax.random.split(jax.random.wrap_key_data(state.key))
        extra = (subkey,) if stochastic else ()
        loss, grads = jax.value_and_grad(objective)(state.u, *extra)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.u)
        u = optax.apply_updates(state.u, updates)
        better = loss < state.best_loss
        best_u = jax.tree_util.tree_map(
            lambda old, cur: jnp.where(better, cur, old), state.best_u, state.u
        )
        best_loss = jnp.where(better, loss, state.best_loss)
        new = _State(u, opt_state, jax.random.key_data(key), best_u, best_loss)
        return new, loss

    return step


def _loss_dtype(objective: Callable, u: Params, stochastic: bool) -> Any:
    extra = (jax.random.key(0),) if stochastic else ()
    out = jax.eval_shape(objective, u, *extra)
    if out.shape != ():
        raise ValueError(f"the loss must be a scalar, got shape {out.shape}")
    return out.dtype


def _resolve(transform: ParamTransform | None, init: Mapping[str, Any]) -> ParamTransform:
    if transform is None:
        return ParamTransform({name: Identity() for name in init})
    return transform


def _check_options(num_steps: int, checkpoint_every: int, checkpoint_path, resume) -> None:
    if num_steps < 0:
        raise ValueError(f"num_steps must be >= 0, got {num_steps}")
    if checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
    if resume and checkpoint_path is None:
        raise ValueError("resume=True needs a checkpoint_path")


def fit(
    loss_fn: Callable[..., Array],
    init: Mapping[str, Any],
    transform: ParamTransform | None = None,
    *,
    optimizer: optax.GradientTransformation | None = None,
    learning_rate: float = 0.05,
    num_steps: int = 1000,
    checkpoint_path: str | os.PathLike | None = None,
    checkpoint_every: int = 100,
    resume: bool = False,
    progress: bool = True,
    seed: int = 0,
    stochastic: bool = False,
    fingerprint: Mapping[str, Any] | None = None,
    clock: RunClock | None = None,
) -> FitResult:
    """Minimise ``loss_fn(params)`` with optax in the unconstrained space of ``transform``.

    Args:
        loss_fn: scalar loss of the constrained parameter dict (or an
            :class:`UnconstrainedObjective`); with ``stochastic=True`` it is called as
            ``loss_fn(params, key)`` with a fresh PRNG key at every step.
        init: constrained starting values, one entry per name of ``transform``; or,
            Jaxley's pattern, the list of dicts ``module.get_parameters()`` returns
            (``loss_fn`` then receives such a list, ``transform`` may be a
            ``jx.ParamTransform``, and the result's parameters are lists again).
        transform: bijectors per name; ``None`` means unbounded (identity) for all.
        optimizer: an optax transformation; default ``optax.adam(learning_rate)``.
            Wrap it in ``optax.apply_if_finite`` to skip steps with NaN gradients.
        num_steps: total number of update steps (counting steps done before a resume).
        checkpoint_path, checkpoint_every, resume: see the module docstring.
        progress: print ``step, loss, best`` to stderr about every 10% of the steps.
        seed: seed of the PRNG key carried through the steps.
        fingerprint: what else determines the result (data, model, ...); stored in
            the checkpoint with the optimiser settings and the starting values, and
            compared on ``resume`` (a mismatch raises ``ResumeMismatchError``).
        clock: a :class:`~inference.checkpoint.RunClock` whose elapsed time is saved
            in (and restored from) the checkpoint.
    """
    _check_options(num_steps, checkpoint_every, checkpoint_path, resume)
    jaxley_style = isinstance(init, (list, tuple))
    if jaxley_style:  # get_parameters() list (+ jx.ParamTransform): Jaxley's pattern
        adapter = ListParamsTransform(init, transform)
        init, transform = adapter.flatten(init), adapter
        if not isinstance(loss_fn, UnconstrainedObjective):
            user_loss = loss_fn

            def loss_fn(params, *key):
                return user_loss(adapter.unflatten(params), *key)

    transform = _resolve(transform, init)
    opt_desc = "adam" if optimizer is None else "custom optax transformation"
    optimizer = optax.adam(learning_rate) if optimizer is None else optimizer
    objective = _as_objective(loss_fn, transform)
    u0 = transform.to_unconstrained(init)
    dtype = _loss_dtype(objective, u0, stochastic)
    state = _State(
        u=u0,
        opt_state=optimizer.init(u0),
        key=jax.random.key_data(jax.random.key(seed)),
        best_u=u0,
        best_loss=jnp.full((), jnp.inf, dtype),
    )
    step = jax.jit(_make_step(objective, optimizer, stochastic))
    fp = _fingerprint("fit", u0, opt_desc, learning_rate, seed, stochastic, fingerprint)
    state, history = _run(
        step,
        state,
        num_steps,
        checkpoint_path,
        checkpoint_every,
        resume,
        progress,
        "fit",
        fp,
        clock,
    )
    result = _result(state, history, transform, index=None)
    if not isinstance(transform, ListParamsTransform):
        return result
    return replace(  # back to Jaxley's list of dicts
        result,
        params=transform.unflatten(result.params),
        unconstrained=transform.unflatten(result.unconstrained),
        final_unconstrained=transform.unflatten(result.final_unconstrained),
    )


def _num_starts(inits: Mapping[str, Any]) -> int:
    leaves = jax.tree_util.tree_leaves(dict(inits))
    sizes = {jnp.shape(leaf)[0] if jnp.ndim(leaf) else None for leaf in leaves}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(f"every init needs the same leading start axis, got sizes {sizes}")
    return sizes.pop()


def fit_multistart(
    loss_fn: Callable[..., Array],
    inits: Mapping[str, Any],
    transform: ParamTransform | None = None,
    *,
    optimizer: optax.GradientTransformation | None = None,
    learning_rate: float = 0.05,
    num_steps: int = 1000,
    checkpoint_path: str | os.PathLike | None = None,
    checkpoint_every: int = 100,
    resume: bool = False,
    progress: bool = True,
    seed: int = 0,
    stochastic: bool = False,
    fingerprint: Mapping[str, Any] | None = None,
    clock: RunClock | None = None,
) -> MultiStartResult:
    """:func:`fit` from every start of ``inits`` at once (leading axis = start).

    The update step of :func:`fit` is vmapped over starts and jitted once; each start
    has its own optimiser state, PRNG key and best-so-far tracking. Options as in
    :func:`fit`; the checkpoint holds all starts.
    """
    _check_options(num_steps, checkpoint_every, checkpoint_path, resume)
    transform = _resolve(transform, inits)
    opt_desc = "adam" if optimizer is None else "custom optax transformation"
    optimizer = optax.adam(learning_rate) if optimizer is None else optimizer
    objective = _as_objective(loss_fn, transform)
    n = _num_starts(inits)
    u0 = jax.vmap(transform.to_unconstrained)(dict(inits))
    first = jax.tree_util.tree_map(lambda x: x[0], u0)
    dtype = _loss_dtype(objective, first, stochastic)
    state = _State(
        u=u0,
        opt_state=jax.vmap(optimizer.init)(u0),
        key=jax.random.key_data(jax.random.split(jax.random.key(seed), n)),
        best_u=u0,
        best_loss=jnp.full((n,), jnp.inf, dtype),
    )
    step = jax.jit(jax.vmap(_make_step(objective, optimizer, stochastic)))
    fp = _fingerprint("fit_multistart", u0, opt_desc, learning_rate, seed, stochastic, fingerprint)
    state, history = _run(
        step,
        state,
        num_steps,
        checkpoint_path,
        checkpoint_every,
        resume,
        progress,
        "fit_multistart",
        fp,
        clock,
    )
    results = tuple(_result(state, history, transform, index=i) for i in range(n))
    best_losses = np.array([r.best_loss for r in results])
    best_index = int(np.argmin(best_losses))  # never NaN: starts at inf, NaN never "better"
    return MultiStartResult(results=results, best=results[best_index], best_index=best_index)


def _fingerprint(kind, u0, optimizer, learning_rate, seed, stochastic, extra) -> dict:
    """What determines an optimisation: starts, optimiser, seed, and the caller's fields."""
    return make_fingerprint(
        kind=kind,
        parameters=sorted(u0),
        starts=dict(u0),
        optimizer=optimizer,
        learning_rate=learning_rate,
        seed=seed,
        stochastic=stochastic,
        caller=dict(extra or {}),
    )


def _result(state: _State, history: np.ndarray, transform: ParamTransform, index) -> FitResult:
    def pick(tree):
        if index is None:
            return tree
        return jax.tree_util.tree_map(lambda x: x[index], tree)

    best_u = pick(state.best_u)
    return FitResult(
        params=transform.from_unconstrained(best_u),
        unconstrained=best_u,
        loss_history=history if index is None else history[:, index],
        best_loss=float(pick(state.best_loss)),
        steps_done=int(history.shape[0]),
        final_unconstrained=pick(state.u),
    )


def _run(step, state, num_steps, path, every, resume, progress, label, fingerprint, clock):
    """Apply ``step`` until ``num_steps``, checkpointing and reporting on the way."""
    history = np.zeros((0, *np.shape(state.best_loss)), dtype=state.best_loss.dtype)
    if resume and os.path.exists(path):
        state, history = _load_checkpoint(path, state, fingerprint, clock)
        if history.shape[0] > num_steps:
            raise ResumeMismatchError(
                f"{path} already holds {history.shape[0]} steps, more than num_steps="
                f"{num_steps}; use a new checkpoint or num_steps >= {history.shape[0]}."
            )
    pending = []
    report_every = max(1, num_steps // 10)
    for done in range(history.shape[0] + 1, num_steps + 1):
        state, loss = step(state)
        pending.append(loss)
        if path is not None and (done % every == 0 or done == num_steps):
            history = _extend(history, pending)
            pending = []
            _save_checkpoint(path, state, history, fingerprint, clock)
        if progress and (done % report_every == 0 or done == num_steps):
            print(
                f"{label}: step {done}/{num_steps}  loss {_lowest(loss):.6g}"
                f"  best {_lowest(state.best_loss):.6g}",
                file=sys.stderr,
                flush=True,
            )
    return state, _extend(history, pending)


def _lowest(x: Array) -> float:
    x = np.asarray(x)
    return float(np.min(x[~np.isnan(x)])) if np.any(~np.isnan(x)) else float("nan")


def _extend(history: np.ndarray, pending: list) -> np.ndarray:
    if not pending:
        return history
    return np.concatenate([history, np.asarray(jnp.stack(pending))], axis=0)


def _save_checkpoint(path, state: _State, history: np.ndarray, fingerprint, clock) -> None:
    """Write the state's leaves and the loss history to ``path`` atomically."""
    extra = {"elapsed_s": clock.elapsed()} if clock is not None else {}
    save_tree(path, (state, history), fingerprint=fingerprint, extra=extra)


def _load_checkpoint(path, template: _State, fingerprint, clock) -> tuple[_State, np.ndarray]:
    """Restore a state saved by :func:`_save_checkpoint` into ``template``'s structure.

    The loss history grows with the steps, so its template is read from the file.
    """
    arrays, extra = load_arrays(path, fingerprint=fingerprint)
    n = int(extra.get("num_leaves", 0))
    history = arrays.get(f"leaf_{n - 1:05d}")
    if history is None:
        raise CheckpointError(f"{path} is not an optimiser checkpoint.")
    (state, history), extra = load_tree(path, (template, history), fingerprint=fingerprint)
    if clock is not None and "elapsed_s" in extra:
        clock.restore(extra["elapsed_s"])
    restored = jax.tree_util.tree_map(
        lambda saved, leaf: jnp.asarray(saved, dtype=jnp.result_type(leaf)), state, template
    )
    return restored, np.asarray(history)
