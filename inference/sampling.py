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

:func:`~inference.laplace.laplace` and :func:`~inference.laplace.laplace_draws`
(the Gaussian approximation at the MAP) live in :mod:`inference.laplace` and are
re-exported here.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from numpyro.infer import MCMC, NUTS, SVI, Predictive, Trace_ELBO, init_to_value
from numpyro.infer.autoguide import AutoMultivariateNormal, AutoNormal

from inference.bridge import Bridge, bridge_for
from inference.checkpoint import (
    CheckpointError,
    ResumeMismatchError,
    RunClock,
    load_arrays,
    save_arrays,
)
from inference.checkpoint import fingerprint as make_fingerprint
from inference.laplace import LaplaceDraws, LaplaceResult, laplace, laplace_draws  # noqa: F401
from inference.optimize import fit_multistart
from inference.warmup import adaptive_warmup

EXTRA_FIELDS = ("diverging", "num_steps", "energy", "accept_prob", "potential_energy")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _to_numpy(tree):
    return jax.tree_util.tree_map(np.asarray, tree)


def _flat(prefix: str, tree: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {f"{prefix}/{k}": np.asarray(v) for k, v in tree.items()}


def _unflat(prefix: str, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    start = f"{prefix}/"
    return {k[len(start) :]: v for k, v in arrays.items() if k.startswith(start)}


def _map_arrays(result: MapResult | None) -> dict[str, np.ndarray]:
    if result is None:
        return {}
    return {
        **_flat("map/starts", result.starts),
        **_flat("map/unconstrained", result.unconstrained),
        **_flat("map/best", result.best),
        "map/losses": np.asarray(result.losses),
        "map/best_index": np.asarray(result.best_index),
    }


def _map_from_arrays(arrays: Mapping[str, np.ndarray]) -> MapResult | None:
    if "map/losses" not in arrays:
        return None
    return MapResult(
        starts=_unflat("map/starts", arrays),
        unconstrained=_unflat("map/unconstrained", arrays),
        losses=np.asarray(arrays["map/losses"]),
        best=_unflat("map/best", arrays),
        best_index=int(arrays["map/best_index"]),
    )


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


def _prior_candidates(model, bridge: Bridge, num: int, seed: int, chunk: int = 256):
    """`num` prior draws in unconstrained space and their potential energies."""
    sites = list(bridge.names)
    draws = Predictive(model, num_samples=num, return_sites=sites)(jax.random.PRNGKey(seed), None)
    to_u = jax.vmap(bridge.to_unconstrained)
    energy = jax.jit(jax.vmap(bridge.potential))
    us, es = [], []
    for lo in range(0, num, chunk):
        part = jax.tree_util.tree_map(partial(_rows, lo=lo, n=chunk), draws)
        u = to_u(part)
        us.append(u)
        es.append(energy(u))
    u_all = jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs), *us)
    return u_all, jnp.concatenate(es)


def _add_warm_starts(bridge: Bridge, init_values, cand_u, cand_e):
    """Prepend the unconstrained `init_values` and their potentials to the candidates."""
    starts = []
    for k, values in enumerate(init_values):
        missing = sorted(set(cand_u) - set(values))
        if missing:
            raise ValueError(f"init_values[{k}] has no value for the latent sites {missing}.")
        constrained = {name: jnp.asarray(values[name]) for name in cand_u}
        starts.append(bridge.to_unconstrained(constrained))
    u = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *starts)
    e = jax.vmap(bridge.potential)(u)
    u_all = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), u, cand_u)
    return u_all, jnp.concatenate([e, cand_e])


def _screen_starts(model, bridge, num_candidates, num_starts, seed, init_values, progress):
    """The `num_starts` best of the prior draws (and warm starts) by potential energy.

    Returns the starts (unconstrained), their energies and the screen's fingerprint.
    """
    num = max(num_candidates, num_starts)
    cand_u, cand_e = _prior_candidates(model, bridge, num, seed)
    screen: dict = {"screen": num_candidates}
    if init_values:
        cand_u, cand_e = _add_warm_starts(bridge, init_values, cand_u, cand_e)
        screen["init_values"] = [dict(v) for v in init_values]
    if not np.isfinite(np.asarray(cand_e)).any():
        raise ValueError(
            f"The log density is not finite at any of the {num} prior draws screened for the "
            "MAP search (every simulation blew up or the data are impossible under the model); "
            "check the priors, the recording and the time step."
        )
    cand_e = jnp.where(jnp.isfinite(cand_e), cand_e, jnp.inf)
    top = jnp.argsort(cand_e)[:num_starts]
    if progress:
        best0 = float(cand_e[top[0]])
        _log(f"[map] screened {cand_e.shape[0]} prior draws; best -log p = {best0:.3f}")
    return jax.tree_util.tree_map(lambda x: x[top], cand_u), cand_e[top], screen


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
    fingerprint: Mapping | None = None,
    clock: RunClock | None = None,
    init_values: Sequence[Mapping] | None = None,
    bridge: Bridge | None = None,
) -> MapResult:
    """Maximise the log joint (numpyro's potential, Jacobian included) in unconstrained space.

    A global screen first evaluates `num_candidates` prior draws (cheap, vectorised);
    the `num_starts` best are then refined in parallel with Adam
    (:func:`inference.optimize.fit_multistart`: checkpointed, resumable). With
    ``num_steps=0`` the best screened draws are the result. ``fingerprint`` (what
    else determines the result: data, model, ...) is checked on ``resume``.
    ``init_values``: warm starts screened along with the prior draws, each a dict of
    constrained values of every latent site (e.g. the optimum of an easier, related
    fit: spiking likelihoods have local optima the prior screen can miss).
    ``bridge``: the :class:`~inference.bridge.Bridge` of `model` and `y` if the
    caller has one (else one is built).

    Raises:
        ValueError: if the log density is not finite at any screened draw, or if
            `bridge` belongs to another model or other observations.
    """
    for name, value, low in (
        ("num_candidates", num_candidates, 1),
        ("num_starts", num_starts, 1),
        ("num_steps", num_steps, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    bridge = bridge_for(model, y, seed, bridge)
    starts, start_e, screen = _screen_starts(
        model, bridge, num_candidates, num_starts, seed, init_values, progress
    )
    if num_steps == 0:
        best_u, losses = starts, np.asarray(start_e, dtype=float)
    else:
        fitted = fit_multistart(
            bridge.potential,
            starts,
            None,
            learning_rate=learning_rate,
            num_steps=num_steps,
            checkpoint_path=checkpoint_path,
            checkpoint_every=checkpoint_every,
            resume=resume,
            progress=progress,
            seed=seed,
            fingerprint={**screen, **dict(fingerprint or {})},
            clock=clock,
        )
        best_u = jax.tree_util.tree_map(
            lambda *xs: jnp.stack(xs), *[r.unconstrained for r in fitted.results]
        )
        losses = np.asarray(fitted.best_losses, dtype=float)
    if not np.isfinite(losses).any():
        raise ValueError(
            f"The MAP search ended with a non-finite log density at all {num_starts} starts; "
            "lower the learning rate or check the model."
        )
    constrained = jax.vmap(bridge.from_unconstrained)(best_u)
    best = int(np.argmin(np.where(np.isfinite(losses), losses, np.inf)))
    pick = jax.tree_util.tree_map(lambda x: np.asarray(x[best]), constrained)
    return MapResult(_to_numpy(constrained), _to_numpy(best_u), losses, pick, best)


@dataclass(frozen=True)
class NutsResult:
    """Draws grouped by chain ``(chains, draws, ...)`` and per-draw sampler statistics."""

    samples: dict
    stats: dict
    map_result: MapResult | None
    num_warmup: int  # warm-up steps run (all rounds)
    warmup: dict | None = None  # the adaptive warm-up's WarmupReport.to_dict()


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


def _laplace_inits(bridge: Bridge, lap: LaplaceResult, num_chains: int, seed: int) -> dict:
    """Chain starts drawn from the Laplace approximation (finite potential), MAP if not."""
    draws = lap.draws(num_chains, seed + 7)
    energy = np.asarray(jax.vmap(lambda x: bridge.potential(lap.unravel(x)))(jnp.asarray(draws)))
    draws[~np.isfinite(energy)] = lap.mean
    return jax.vmap(lap.unravel)(jnp.asarray(draws))


def run_nuts(
    model,
    y,
    *,
    num_chains: int = 4,
    num_warmup: int = 200,
    num_samples: int = 500,
    max_warmup: int | None = None,
    init: str = "map",
    mass_matrix: str = "laplace",
    map_result: MapResult | None = None,
    map_kwargs: dict | None = None,
    seed: int = 0,
    target_accept_prob: float = 0.9,
    dense_mass: bool = True,
    forward_mode: bool | None = None,
    max_tree_depth: int = 10,
    block_size: int = 100,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    fingerprint: Mapping | None = None,
    clock: RunClock | None = None,
    bridge: Bridge | None = None,
) -> NutsResult:
    """NUTS posterior samples started and preconditioned at the MAP.

    * ``init="map"``: the MAP (``map_result`` if given, else :func:`find_map` with
      ``map_kwargs``); ``"prior"``: numpyro's default initialisation.
    * ``mass_matrix="laplace"`` (with ``init="map"``): the dense inverse mass matrix
      is the Laplace covariance ``H^-1`` at the MAP and stays fixed; warm-up only
      tunes the step size, so a few hundred steps suffice, and the chains start at
      independent draws from the Laplace approximation (dispersed, for R-hat). If
      the Hessian at the MAP is not positive definite (an unconverged MAP), a
      ``RuntimeWarning`` says so and the mass matrix is adapted as for ``"adapt"``.
      ``"adapt"``: numpyro's windowed mass-matrix adaptation.
    * warm-up length: rounds of ``num_warmup`` steps until the adaptation diagnostics
      of :mod:`inference.warmup` hold (acceptance on target, chains mixed, step size
      settled), at most ``max_warmup`` steps (default ``4 * num_warmup``;
      ``max_warmup=num_warmup`` is one fixed round). ``NutsResult.warmup`` says
      what each round found.
    * ``forward_mode``: gradients by forward mode (cheap for few parameters);
      ``None`` chooses forward mode up to 8 parameters, reverse mode above.

    With ``checkpoint_dir`` the sampler state, the draws so far, the MAP result
    and the mass matrix are saved (``nuts_state.npz``: arrays and JSON, no pickle)
    after warm-up and after every block of ``block_size`` draws. ``resume=True``
    continues from it if it was made for the same run: same ``fingerprint``
    (data, model, ...) and sampler settings; it may extend a run to more draws,
    never mix two runs (:class:`~inference.checkpoint.ResumeMismatchError` names
    the differences). ``bridge``: the :class:`~inference.bridge.Bridge` of `model`
    and `y` if the caller has one (else one is built, once, for the MAP search, the
    Laplace approximation and the sampler).
    """
    max_warmup = _checked_max_warmup(
        init, mass_matrix, num_chains, num_samples, num_warmup, max_warmup
    )
    use_laplace = mass_matrix == "laplace" and init == "map" and dense_mass
    fp = make_fingerprint(
        sampler="nuts",
        num_chains=num_chains,
        num_warmup=num_warmup,
        max_warmup=max_warmup,
        init=init,
        mass_matrix=mass_matrix if use_laplace else "adapt",
        map_kwargs=dict(map_kwargs or {}),
        map_result=None if map_result is None else _map_arrays(map_result),
        seed=seed,
        target_accept_prob=target_accept_prob,
        dense_mass=dense_mass,
        max_tree_depth=max_tree_depth,
        caller=dict(fingerprint or {}),
    )
    bridge = bridge_for(model, y, seed, bridge)
    ckpt = None if checkpoint_dir is None else Path(checkpoint_dir) / "nuts_state.npz"
    arrays, extra = None, {}
    if resume and ckpt is not None and ckpt.exists():
        arrays, extra = load_arrays(ckpt, fingerprint=fp)
        map_result = _map_from_arrays(arrays)
    elif init == "map" and map_result is None:
        settings = {**dict(map_kwargs or {}), "fingerprint": fingerprint, "clock": clock}
        map_result = _map_for_nuts(model, y, bridge, ckpt, seed, resume, progress, settings)
    lap, inv_mass = None, None
    if use_laplace:
        lap, inv_mass = _laplace_mass(model, y, bridge, map_result, arrays, seed, progress)
    if forward_mode is None:
        num_params = len(map_result.best) if map_result is not None else 8
        forward_mode = num_params <= 8
    run = _NutsRun(
        y=y,
        bridge=bridge,
        num_chains=num_chains,
        num_samples=num_samples,
        block=max(1, min(block_size, num_samples)),
        method="parallel" if jax.local_device_count() >= num_chains > 1 else "vectorized",
        seed=seed,
        progress=progress,
        ckpt=ckpt,
        fp=fp,
        clock=clock,
    )
    make_mcmc = _mcmc_factory(
        run,
        inv_mass,
        target_accept_prob=target_accept_prob,
        dense_mass=dense_mass,
        forward_mode=forward_mode,
        max_tree_depth=max_tree_depth,
    )
    mcmc = make_mcmc(num_warmup)
    if arrays is not None:
        saved = _resume_nuts(run, mcmc, arrays, extra)
    else:
        inits = _initial_params(bridge, lap, map_result, num_chains, seed)
        mcmc, warmup_info = _warm_up(
            run, make_mcmc, mcmc, inits, num_warmup, max_warmup, target_accept_prob
        )
        saved = _warmed_up(run, mcmc, map_result, inv_mass, warmup_info)
    _sample_blocks(run, mcmc, saved)
    samples, stats = _concat_blocks(saved["samples"]), _concat_blocks(saved["stats"])
    info = saved.get("warmup") or {"num_warmup": num_warmup}
    return NutsResult(samples, stats, saved["map_result"], int(info["num_warmup"]), info)


def _map_for_nuts(model, y, bridge: Bridge, ckpt, seed, resume, progress, map_kwargs):
    """:func:`find_map` for :func:`run_nuts` (checkpointed next to the sampler's state)."""
    return find_map(
        model,
        y,
        seed=seed,
        progress=progress,
        checkpoint_path=None if ckpt is None else ckpt.parent / "map_checkpoint.npz",
        resume=resume,
        **map_kwargs,
        bridge=bridge,
    )


def _checked_max_warmup(
    init: str, mass_matrix: str, num_chains, num_samples, num_warmup, max_warmup
) -> int:
    """Check :func:`run_nuts`'s settings; the most warm-up steps (``4 * num_warmup``
    unless given)."""
    if init not in ("map", "prior"):
        raise ValueError(f"init must be 'map' or 'prior', got {init!r}.")
    if mass_matrix not in ("laplace", "adapt"):
        raise ValueError(f"mass_matrix must be 'laplace' or 'adapt', got {mass_matrix!r}.")
    for name, value in (("num_chains", num_chains), ("num_samples", num_samples)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
    if (
        isinstance(num_warmup, bool)
        or not isinstance(num_warmup, (int, np.integer))
        or (num_warmup < 0)
    ):
        raise ValueError(f"num_warmup must be an integer >= 0, got {num_warmup!r}.")
    max_warmup = 4 * num_warmup if max_warmup is None else max_warmup
    if isinstance(max_warmup, bool) or not isinstance(max_warmup, (int, np.integer)):
        raise ValueError(f"max_warmup must be an integer, got {max_warmup!r}.")
    if max_warmup < num_warmup:
        raise ValueError(f"max_warmup ({max_warmup}) must be >= num_warmup ({num_warmup}).")
    return max_warmup


@dataclass(frozen=True)
class _NutsRun:
    """What the stages of one :func:`run_nuts` call share."""

    y: object
    bridge: Bridge
    num_chains: int
    num_samples: int
    block: int  # draws per block (and per checkpoint)
    method: str  # numpyro's chain_method
    seed: int
    progress: bool
    ckpt: Path | None
    fp: dict
    clock: RunClock | None


def _laplace_mass(model, y, bridge: Bridge, map_result, arrays, seed: int, progress: bool):
    """The Laplace approximation (None when resumed) and its covariance as the fixed
    inverse mass matrix (None: none saved and no MAP, so the mass matrix is adapted)."""
    if arrays is not None and "laplace/inverse_mass" in arrays:
        return None, jnp.asarray(arrays["laplace/inverse_mass"])
    if map_result is None:
        return None, None
    try:
        lap = laplace(model, y, map_result, seed=seed, bridge=bridge)
    except ValueError as err:  # an unconverged MAP: the preconditioner is adapted instead
        warnings.warn(
            f"{err} NUTS adapts a dense mass matrix during warm-up instead (chains start "
            "at the MAP optima).",
            RuntimeWarning,
            stacklevel=3,
        )
        return None, None
    if progress:
        sd = np.sqrt(np.diag(lap.cov))
        _log(f"[nuts] Laplace mass matrix at the MAP; unconstrained sd {np.round(sd, 4)}")
    return lap, jnp.asarray(lap.cov)


def _mcmc_factory(
    run: _NutsRun,
    inv_mass,
    *,
    target_accept_prob: float,
    dense_mass: bool,
    forward_mode: bool,
    max_tree_depth: int,
):
    """``make_mcmc(warmup_steps, step_size=None)``: a numpyro MCMC of NUTS over the
    bridge's potential (what :func:`~inference.warmup.adaptive_warmup` rebuilds)."""

    def make_mcmc(warmup_steps: int, step_size: float | None = None) -> MCMC:
        kernel = NUTS(
            potential_fn=run.bridge.potential,
            step_size=1.0 if step_size is None else step_size,
            target_accept_prob=target_accept_prob,
            dense_mass=dense_mass,
            inverse_mass_matrix=inv_mass,
            adapt_mass_matrix=inv_mass is None,
            forward_mode_differentiation=forward_mode,
            max_tree_depth=max_tree_depth,
        )
        return MCMC(
            kernel,
            num_warmup=warmup_steps,
            num_samples=run.block,
            num_chains=run.num_chains,
            chain_method=run.method,
            progress_bar=run.progress,
        )

    return make_mcmc


def _resume_nuts(run: _NutsRun, mcmc: MCMC, arrays, extra) -> dict:
    """The saved sampler state and draws of a checkpoint of this run (see :func:`_save_nuts`).

    Raises:
        ResumeMismatchError: if the checkpoint holds more draws than ``num_samples``.
    """
    template = run.bridge.zeros((run.num_chains,) if run.num_chains > 1 else ())
    saved = _restore_nuts(run.ckpt, arrays, extra, mcmc, template, run.seed, run.clock)
    if saved["done"] > run.num_samples:
        raise ResumeMismatchError(
            f"{run.ckpt} holds {saved['done']} draws per chain, more than num_samples="
            f"{run.num_samples}: it belongs to a longer run. Use a new output folder."
        )
    _log(f"[nuts] resuming: {saved['done']}/{run.num_samples} draws already saved")
    return saved


def _initial_params(bridge: Bridge, lap, map_result, num_chains: int, seed: int) -> dict:
    """Chain starts: Laplace draws, else MAP optima, else numpyro's ``u ~ U(-2, 2)``."""
    if lap is not None:
        return _laplace_inits(bridge, lap, num_chains, seed)
    if map_result is not None:
        return _chain_inits(map_result, num_chains)
    inits = bridge.uniform_init(jax.random.PRNGKey(seed), num_chains)
    if num_chains == 1:
        inits = {k: v[0] for k, v in inits.items()}
    return inits


def _warm_up(
    run: _NutsRun,
    make_mcmc,
    mcmc: MCMC,
    inits: dict,
    num_warmup: int,
    max_warmup: int,
    target_accept_prob: float,
) -> tuple[MCMC, dict]:
    """Warm `mcmc` up from `inits`: adaptively (rounds until the diagnostics hold, see
    :func:`~inference.warmup.adaptive_warmup`) when ``max_warmup > num_warmup``, else
    one fixed round. Returns the warmed-up sampler and what the warm-up did."""
    _log(f"[nuts] warm-up: {num_warmup} steps x {run.num_chains} chains ({run.method})")
    if num_warmup > 0 and max_warmup > num_warmup:
        mcmc, report = adaptive_warmup(
            make_mcmc,
            run.y,
            init_params=inits,
            seed=run.seed,
            num_chains=run.num_chains,
            num_warmup=num_warmup,
            max_warmup=max_warmup,
            target_accept_prob=target_accept_prob,
            progress=run.progress,
        )
        return mcmc, report.to_dict()
    mcmc.warmup(
        jax.random.PRNGKey(run.seed + 1),
        run.y,
        init_params=inits,
        extra_fields=EXTRA_FIELDS,
        collect_warmup=False,
    )
    return mcmc, {"num_warmup": num_warmup, "rounds": [num_warmup]}


def _warmed_up(run: _NutsRun, mcmc: MCMC, map_result, inv_mass, warmup_info: dict) -> dict:
    """The state of a freshly warmed-up run, no draws yet (checkpointed)."""
    saved = {
        "state": mcmc.post_warmup_state,
        "done": 0,
        "samples": [],
        "stats": [],
        "map_result": map_result,
        "inverse_mass": None if inv_mass is None else np.asarray(inv_mass),
        "warmup": warmup_info,
    }
    if run.ckpt is not None:
        _save_nuts(run.ckpt, saved, run.fp, run.clock)
    return saved


def _sample_blocks(run: _NutsRun, mcmc: MCMC, saved: dict) -> None:
    """Draw blocks of ``run.block`` draws into `saved` until it holds ``num_samples``,
    checkpointing after each block."""
    while saved["done"] < run.num_samples:
        n = min(run.block, run.num_samples - saved["done"])
        mcmc.num_samples = n
        mcmc.post_warmup_state = saved["state"]
        mcmc.run(mcmc.post_warmup_state.rng_key, run.y, extra_fields=EXTRA_FIELDS)
        u = mcmc.get_samples(group_by_chain=True)
        to_x = jax.vmap(jax.vmap(run.bridge.from_unconstrained))
        saved["samples"].append(_to_numpy(to_x(u)))
        saved["stats"].append(_to_numpy(mcmc.get_extra_fields(group_by_chain=True)))
        saved["state"] = mcmc.last_state
        saved["done"] += n
        if run.ckpt is not None:
            _save_nuts(run.ckpt, saved, run.fp, run.clock)
        _log(f"[nuts] {saved['done']}/{run.num_samples} draws per chain")


def _save_nuts(path: Path, saved: dict, fp: dict, clock: RunClock | None) -> None:
    """One atomic npz: sampler state leaves, draws and stats so far, the MAP result."""
    leaves, treedef = jax.tree_util.tree_flatten(saved["state"])
    arrays = {f"state/{k:05d}": np.asarray(leaf) for k, leaf in enumerate(leaves)}
    if saved["samples"]:
        arrays.update(_flat("samples", _concat_blocks(saved["samples"])))
        arrays.update(_flat("stats", _concat_blocks(saved["stats"])))
    arrays.update(_map_arrays(saved["map_result"]))
    if saved.get("inverse_mass") is not None:
        arrays["laplace/inverse_mass"] = np.asarray(saved["inverse_mass"])
    extra = {"done": saved["done"], "treedef": str(treedef), "num_leaves": len(leaves)}
    if saved.get("warmup") is not None:
        extra["warmup"] = saved["warmup"]
    if clock is not None:
        extra["elapsed_s"] = clock.elapsed()
    save_arrays(path, arrays, fingerprint=fp, extra=extra)


def _restore_nuts(
    path: Path, arrays, extra, mcmc, template: dict, seed: int, clock: RunClock | None
) -> dict:
    """Rebuild a :func:`_save_nuts` checkpoint in the structure of this sampler's state
    (`template`: unconstrained parameters of the right shapes, to initialise it)."""
    # A template of the sampler state: initialise the kernel without warm-up steps.
    num_warmup, mcmc.num_warmup = mcmc.num_warmup, 0
    try:
        mcmc.warmup(jax.random.PRNGKey(seed + 1), init_params=template, collect_warmup=False)
    finally:
        mcmc.num_warmup = num_warmup
    state = _restore_tree(path, mcmc.post_warmup_state, arrays, extra, what="sampler state")
    if clock is not None and "elapsed_s" in extra:
        clock.restore(extra["elapsed_s"])
    done = int(extra["done"])
    return {
        "state": state,
        "done": done,
        "samples": [_unflat("samples", arrays)] if done else [],
        "stats": [_unflat("stats", arrays)] if done else [],
        "map_result": _map_from_arrays(arrays),
        "inverse_mass": arrays.get("laplace/inverse_mass"),
        "warmup": extra.get("warmup"),
    }


def _concat_blocks(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts], axis=1) for k in parts[0]}


def _restore_tree(
    path: Path, template, arrays: Mapping[str, np.ndarray], extra: Mapping, what: str = "state"
):
    """The pytree saved as ``state/NNNNN`` leaves, checked against ``template``'s structure."""
    leaves, treedef = jax.tree_util.tree_flatten(template)
    if extra.get("treedef") != str(treedef) or extra.get("num_leaves") != len(leaves):
        raise CheckpointError(f"{path} holds a {what} of another structure.")
    out = []
    for k, leaf in enumerate(leaves):
        value = arrays[f"state/{k:05d}"]
        if value.shape != np.shape(leaf):
            raise CheckpointError(f"{path}: state leaf {k} has shape {value.shape}.")
        out.append(jnp.asarray(value, dtype=jnp.result_type(leaf)))
    return jax.tree_util.tree_unflatten(treedef, out)


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
    fingerprint: Mapping | None = None,
    clock: RunClock | None = None,
    bridge: Bridge | None = None,
) -> SviResult:
    """SVI with an ``AutoNormal`` ("normal") or ``AutoMultivariateNormal`` ("mvn") guide
    over the unconstrained parameters of :class:`~inference.bridge.Bridge`.

    Checkpoints (``svi_state.npz``, no pickle) carry a fingerprint of the run; see
    :func:`run_nuts` for what ``resume`` accepts. ``bridge``: the
    :class:`~inference.bridge.Bridge` of `model` and `y` if the caller has one.
    """
    if (
        isinstance(num_steps, bool)
        or not isinstance(num_steps, (int, np.integer))
        or (num_steps < 1)
    ):
        raise ValueError(f"num_steps must be an integer >= 1, got {num_steps!r}.")
    guides = {"normal": AutoNormal, "mvn": AutoMultivariateNormal}
    if guide not in guides:
        raise ValueError(f"guide must be one of {sorted(guides)}, got {guide!r}.")
    bridge = bridge_for(model, y, seed, bridge)
    u_model = bridge.unconstrained_model()  # the guide is a Gaussian over the bridge's u
    known = {n: v for n, v in (init_values or {}).items() if n in bridge.names}
    u_init = bridge.to_unconstrained_sites(known)  # values of other sites are ignored
    kwargs = {"init_loc_fn": init_to_value(values=u_init)} if u_init else {}
    auto = guides[guide](u_model, **kwargs)
    svi = SVI(u_model, auto, optax.adam(learning_rate), Trace_ELBO())
    fp = make_fingerprint(
        sampler="svi",
        guide=guide,
        learning_rate=learning_rate,
        seed=seed,
        init_values=dict(init_values or {}),
        caller=dict(fingerprint or {}),
    )
    ckpt = None if checkpoint_dir is None else Path(checkpoint_dir) / "svi_state.npz"
    state = svi.init(jax.random.PRNGKey(seed), y)
    losses: list[float] = []
    done = 0
    if resume and ckpt is not None and ckpt.exists():
        state, losses, done = _resume_svi(ckpt, state, fp, num_steps, clock)
    step = jax.jit(svi.update)
    while done < num_steps:
        state, loss = step(state, y)
        losses.append(float(loss))
        done += 1
        if progress and done % max(1, num_steps // 10) == 0:
            _log(f"[svi] step {done}/{num_steps}  loss {loss:.3f}")
        if ckpt is not None and (done % checkpoint_every == 0 or done == num_steps):
            _save_svi(ckpt, state, losses, done, fp, clock)
    params = svi.get_params(state)
    u = auto.sample_posterior(jax.random.PRNGKey(seed + 1), params, sample_shape=(num_draws,))
    draws = jax.vmap(bridge.from_unconstrained)({n: u[n] for n in bridge.names})
    draws = {k: np.asarray(v)[None] for k, v in draws.items()}
    return SviResult(_to_numpy(params), np.asarray(losses), draws, auto)


def _resume_svi(ckpt: Path, state, fp, num_steps: int, clock: RunClock | None):
    """The SVI state, losses and step count saved in ``ckpt`` (fingerprint checked)."""
    arrays, extra = load_arrays(ckpt, fingerprint=fp)
    state = _restore_tree(ckpt, state, arrays, extra)
    losses, done = list(np.asarray(arrays["losses"], dtype=float)), int(extra["done"])
    if done > num_steps:
        raise ResumeMismatchError(
            f"{ckpt} holds {done} SVI steps, more than num_steps={num_steps}."
        )
    if clock is not None and "elapsed_s" in extra:
        clock.restore(extra["elapsed_s"])
    _log(f"[svi] resuming at step {done}/{num_steps}")
    return state, losses, done


def _save_svi(ckpt: Path, state, losses: list[float], done: int, fp, clock: RunClock | None):
    """Write the SVI state (flattened leaves, no pickle) and the losses so far."""
    leaves, treedef = jax.tree_util.tree_flatten(state)
    arrays = {f"state/{k:05d}": np.asarray(leaf) for k, leaf in enumerate(leaves)}
    arrays["losses"] = np.asarray(losses)
    extra = {"done": done, "treedef": str(treedef), "num_leaves": len(leaves)}
    if clock is not None:
        extra["elapsed_s"] = clock.elapsed()
    save_arrays(ckpt, arrays, fingerprint=fp, extra=extra)
