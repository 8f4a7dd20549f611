"""Posterior computation for a :class:`~inference.model.BayesianModel`.

* :func:`find_map` — multi-start optax optimisation of the log joint in numpyro's
  unconstrained space (the Jacobian of the transform is included: it is numpyro's
  ``potential_fn``); starts are a vmapped batch.
* :func:`run_nuts` — NUTS with chains initialised at MAP estimates (not at random
  prior draws), dense mass matrix, forward-mode gradients (cheap for few
  parameters), chains as a batch axis (``"parallel"`` over devices when there are
  enough), and checkpointing of the sampler state after warm-up and after every
  block of draws so that ``resume=True`` continues where a killed run stopped.
* :func:`run_svi` — SVI with ``AutoNormal`` / ``AutoMultivariateNormal`` guides.
"""

from __future__ import annotations

import os
import pickle
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from numpyro.handlers import seed as seed_handler
from numpyro.handlers import trace
from numpyro.infer import MCMC, NUTS, SVI, Predictive, Trace_ELBO, init_to_value
from numpyro.infer.autoguide import AutoMultivariateNormal, AutoNormal
from numpyro.infer.util import initialize_model, unconstrain_fn

from inference.optimize import fit_multistart

EXTRA_FIELDS = ("diverging", "num_steps", "energy", "accept_prob", "potential_energy")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _to_numpy(tree):
    return jax.tree_util.tree_map(np.asarray, tree)


def _save_atomic(path: Path, obj) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(obj, fh)
    os.replace(tmp, path)


@dataclass(frozen=True)
class MapResult:
    """MAP estimates of every start (constrained), their losses, and the best one."""

    starts: dict
    unconstrained: dict
    losses: np.ndarray
    best: dict
    best_index: int

    @property
    def samples(self) -> dict:
        """The best estimate as a single draw of a single chain, ``(1, 1, ...)``."""
        return {k: np.asarray(v)[None, None] for k, v in self.best.items()}

    @property
    def map_result(self) -> MapResult:
        return self


def _rows(x, lo: int, n: int):
    return x[lo : lo + n]


def _prior_candidates(model, y, num: int, seed: int, potential_fn, chunk: int = 256):
    """`num` prior draws in unconstrained space and their potential energies."""
    sites = [
        name
        for name, site in trace(seed_handler(model, seed)).get_trace(y).items()
        if site["type"] == "sample" and not site["is_observed"]
    ]
    draws = Predictive(model, num_samples=num, return_sites=sites)(jax.random.PRNGKey(seed), None)
    to_u = jax.vmap(lambda d: unconstrain_fn(model, (y,), {}, d))
    energy = jax.jit(jax.vmap(potential_fn))
    us, es = [], []
    for lo in range(0, num, chunk):
        part = jax.tree_util.tree_map(partial(_rows, lo=lo, n=chunk), draws)
        u = to_u(part)
        us.append(u)
        es.append(energy(u))
    u_all = jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs), *us)
    return u_all, jnp.concatenate(es)


def find_map(
    model,
    y,
    *,
    num_candidates: int = 512,
    num_starts: int = 8,
    num_steps: int = 400,
    learning_rate: float = 0.05,
    seed: int = 0,
    progress: bool = True,
    checkpoint_path: str | Path | None = None,
    checkpoint_every: int = 50,
    resume: bool = False,
) -> MapResult:
    """Maximise the log joint (numpyro's potential, Jacobian included) in unconstrained space.

    A global screen first evaluates `num_candidates` prior draws (cheap, vectorised);
    the `num_starts` best are then refined in parallel with Adam
    (:func:`inference.optimize.fit_multistart`: checkpointed, resumable).
    """
    _, potential_fn, postprocess_fn, _ = initialize_model(
        jax.random.PRNGKey(seed), model, model_args=(y,)
    )
    num = max(num_candidates, num_starts)
    cand_u, cand_e = _prior_candidates(model, y, num, seed, potential_fn)
    cand_e = jnp.where(jnp.isfinite(cand_e), cand_e, jnp.inf)
    top = jnp.argsort(cand_e)[:num_starts]
    starts = jax.tree_util.tree_map(lambda x: x[top], cand_u)
    if progress:
        best0 = float(cand_e[top[0]])
        _log(f"[map] screened {cand_e.shape[0]} prior draws; best -log p = {best0:.3f}")
    fitted = fit_multistart(
        potential_fn,
        starts,
        None,
        learning_rate=learning_rate,
        num_steps=num_steps,
        checkpoint_path=checkpoint_path,
        checkpoint_every=checkpoint_every,
        resume=resume,
        progress=progress,
        seed=seed,
    )
    best_u = jax.tree_util.tree_map(
        lambda *xs: jnp.stack(xs), *[r.unconstrained for r in fitted.results]
    )
    losses = np.asarray(fitted.best_losses, dtype=float)
    constrained = jax.vmap(postprocess_fn)(best_u)
    best = int(np.nanargmin(np.where(np.isfinite(losses), losses, np.nan)))
    pick = jax.tree_util.tree_map(lambda x: np.asarray(x[best]), constrained)
    return MapResult(_to_numpy(constrained), _to_numpy(best_u), losses, pick, best)


@dataclass(frozen=True)
class NutsResult:
    """Draws grouped by chain ``(chains, draws, ...)`` and per-draw sampler statistics."""

    samples: dict
    stats: dict
    map_result: MapResult | None
    num_warmup: int


def _chain_inits(map_result: MapResult, num_chains: int, tolerance: float = 5.0) -> dict:
    """Chain starts: the optima within `tolerance` nats of the best (the best if fewer).

    Starts in inferior local optima (common for spiking models, whose likelihood is
    rugged in spike timing) would strand chains there; equivalent optima keep the
    starts dispersed without that risk.
    """
    losses = np.where(np.isfinite(map_result.losses), map_result.losses, np.inf)
    order = np.argsort(losses)
    good = order[losses[order] <= losses[order[0]] + tolerance]
    pick = np.resize(good, num_chains)
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x[pick]), map_result.unconstrained)


def run_nuts(
    model,
    y,
    *,
    num_chains: int = 4,
    num_warmup: int = 500,
    num_samples: int = 500,
    init: str = "map",
    map_kwargs: dict | None = None,
    seed: int = 0,
    target_accept_prob: float = 0.9,
    dense_mass: bool = True,
    forward_mode: bool = True,
    max_tree_depth: int = 10,
    block_size: int = 100,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> NutsResult:
    """NUTS posterior samples; see the module docstring for the design choices."""
    if init not in ("map", "prior"):
        raise ValueError(f"init must be 'map' or 'prior', got {init!r}.")
    ckpt = None if checkpoint_dir is None else Path(checkpoint_dir) / "nuts_state.pkl"
    if ckpt is not None:
        ckpt.parent.mkdir(parents=True, exist_ok=True)
    saved = None
    if resume and ckpt is not None and ckpt.exists():
        with open(ckpt, "rb") as fh:
            saved = pickle.load(fh)
        _log(f"[nuts] resuming: {saved['done']}/{num_samples} draws already saved")
    kernel = NUTS(
        model,
        target_accept_prob=target_accept_prob,
        dense_mass=dense_mass,
        forward_mode_differentiation=forward_mode,
        max_tree_depth=max_tree_depth,
    )
    method = "parallel" if jax.local_device_count() >= num_chains > 1 else "vectorized"
    block = max(1, min(block_size, num_samples))
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=block,
        num_chains=num_chains,
        chain_method=method,
        progress_bar=progress,
    )
    if saved is None:
        saved = _warm_up(
            mcmc,
            model,
            y,
            init=init,
            map_kwargs=map_kwargs,
            seed=seed,
            ckpt=ckpt,
            resume=resume,
            progress=progress,
        )
    while saved["done"] < num_samples:
        n = min(block, num_samples - saved["done"])
        mcmc.num_samples = n
        mcmc.post_warmup_state = jax.tree_util.tree_map(jnp.asarray, saved["state"])
        mcmc.run(mcmc.post_warmup_state.rng_key, y, extra_fields=EXTRA_FIELDS)
        saved["samples"].append(_to_numpy(mcmc.get_samples(group_by_chain=True)))
        saved["stats"].append(_to_numpy(mcmc.get_extra_fields(group_by_chain=True)))
        saved["state"] = _to_numpy(mcmc.last_state)
        saved["done"] += n
        if ckpt is not None:
            _save_atomic(ckpt, saved)
        _log(f"[nuts] {saved['done']}/{num_samples} draws per chain")
    samples, stats = _concat_blocks(saved["samples"]), _concat_blocks(saved["stats"])
    return NutsResult(samples, stats, saved["map_result"], num_warmup)


def _concat_blocks(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts], axis=1) for k in parts[0]}


def _warm_up(mcmc, model, y, *, init, map_kwargs, seed, ckpt, resume, progress) -> dict:
    """Chain starts (MAP or prior) and NUTS warm-up; returns the first checkpoint."""
    init_params, map_result = None, None
    if init == "map":
        map_ckpt = None if ckpt is None else ckpt.parent / "map_checkpoint.pkl"
        map_result = find_map(
            model,
            y,
            seed=seed,
            progress=progress,
            checkpoint_path=map_ckpt,
            resume=resume,
            **(map_kwargs or {}),
        )
        init_params = _chain_inits(map_result, mcmc.num_chains)
    _log(
        f"[nuts] warm-up: {mcmc.num_warmup} steps x {mcmc.num_chains} chains ({mcmc.chain_method})"
    )
    mcmc.warmup(
        jax.random.PRNGKey(seed + 1),
        y,
        init_params=init_params,
        extra_fields=EXTRA_FIELDS,
        collect_warmup=False,
    )
    saved = {
        "state": _to_numpy(mcmc.post_warmup_state),
        "done": 0,
        "samples": [],
        "stats": [],
        "map_result": map_result,
    }
    if ckpt is not None:
        _save_atomic(ckpt, saved)
    return saved


@dataclass(frozen=True)
class SviResult:
    """Fitted guide parameters, ELBO loss history and posterior draws ``(1, draws, ...)``."""

    params: dict
    losses: np.ndarray
    samples: dict
    guide: object


def run_svi(
    model,
    y,
    *,
    guide: str = "normal",
    num_steps: int = 3000,
    learning_rate: float = 0.01,
    num_draws: int = 1000,
    seed: int = 0,
    init_values: dict | None = None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 500,
    resume: bool = False,
    progress: bool = True,
) -> SviResult:
    """SVI with an ``AutoNormal`` ("normal") or ``AutoMultivariateNormal`` ("mvn") guide."""
    guides = {"normal": AutoNormal, "mvn": AutoMultivariateNormal}
    if guide not in guides:
        raise ValueError(f"guide must be one of {sorted(guides)}, got {guide!r}.")
    init_loc = init_to_value(values=init_values) if init_values else None
    kwargs = {"init_loc_fn": init_loc} if init_loc else {}
    auto = guides[guide](model, **kwargs)
    svi = SVI(model, auto, optax.adam(learning_rate), Trace_ELBO())
    ckpt = None if checkpoint_dir is None else Path(checkpoint_dir) / "svi_state.pkl"
    losses: list[float] = []
    state = svi.init(jax.random.PRNGKey(seed), y)
    done = 0
    if resume and ckpt is not None and ckpt.exists():
        with open(ckpt, "rb") as fh:
            saved = pickle.load(fh)
        state = jax.tree_util.tree_map(jnp.asarray, saved["state"])
        losses, done = list(saved["losses"]), saved["done"]
        _log(f"[svi] resuming at step {done}/{num_steps}")
    step = jax.jit(svi.update)
    while done < num_steps:
        state, loss = step(state, y)
        losses.append(float(loss))
        done += 1
        if progress and done % max(1, num_steps // 10) == 0:
            _log(f"[svi] step {done}/{num_steps}  loss {loss:.3f}")
        if ckpt is not None and (done % checkpoint_every == 0 or done == num_steps):
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            _save_atomic(ckpt, {"state": _to_numpy(state), "losses": losses, "done": done})
    params = svi.get_params(state)
    draws = auto.sample_posterior(jax.random.PRNGKey(seed + 1), params, sample_shape=(num_draws,))
    draws = {k: np.asarray(v)[None] for k, v in draws.items()}
    return SviResult(_to_numpy(params), np.asarray(losses), draws, auto)
