"""Gradient-free posterior sampling: adaptively tempered sequential Monte Carlo.

For likelihoods that are piecewise constant in the parameters (e.g. spike counts, see
:mod:`inference.features`): ESS-based tempering from prior to posterior, systematic
resampling, random-walk Metropolis moves scaled by the population covariance, and
independent populations (reported as arviz "chains" for a between-run R-hat).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from inference.bridge import bijector_for_support


# ---------------------------------------------------------------- prior in unconstrained space
@dataclass(frozen=True)
class PriorSpace:
    """Priors of named scalar parameters, mapped to unconstrained ``z`` (shape (..., d))
    by the bijectors of :func:`inference.bridge.bijector_for_support` (the same as every
    other sampler's)."""

    names: tuple[str, ...]
    priors: tuple

    def _bijectors(self):
        return [bijector_for_support(p.support) for p in self.priors]

    def to_constrained(self, z) -> dict:
        return {
            n: b.forward(z[..., i]) for i, (n, b) in enumerate(zip(self.names, self._bijectors()))
        }

    def log_prior(self, z) -> jnp.ndarray:
        """Prior log density of ``z`` (Jacobian of the transform included)."""
        total = 0.0
        for i, (p, b) in enumerate(zip(self.priors, self._bijectors())):
            x = b.forward(z[..., i])
            total = total + p.log_prob(x) + b.log_det_jacobian(z[..., i])
        return total

    def sample(self, key, n: int) -> np.ndarray:
        keys = jax.random.split(key, len(self.names))
        cols = [
            b.inverse(p.sample(k, (n,))) for k, p, b in zip(keys, self.priors, self._bijectors())
        ]
        return np.asarray(jnp.stack(cols, axis=-1))

    def _items(self):
        return zip(self.names, self.priors)


# ---------------------------------------------------------------- tempered SMC
@dataclass(frozen=True)
class SmcResult:
    """Final particles ``z`` (populations, particles, d), their log-likelihoods and features."""

    z: np.ndarray
    log_lik: np.ndarray
    features: np.ndarray
    betas: list
    log_evidence: np.ndarray
    accept: list
    truncated: bool

    @property
    def unique_fraction(self) -> np.ndarray:
        return np.array([len(np.unique(zp, axis=0)) / zp.shape[0] for zp in self.z])


@dataclass
class _Run:
    """The sampler's whole state between two stages (what a checkpoint holds)."""

    z: np.ndarray  # (populations, particles, d)
    ll: np.ndarray  # (populations, particles)
    feats: np.ndarray  # (populations, particles, F)
    beta: np.ndarray  # (populations,)
    log_z: np.ndarray
    scale: np.ndarray
    betas: list
    accepts: list
    stage: int = 0
    final_done: int = 0
    truncated: bool = False

    def arrays(self) -> dict:
        return {
            "z": self.z,
            "ll": self.ll,
            "feats": self.feats,
            "beta": self.beta,
            "log_z": self.log_z,
            "scale": self.scale,
            "betas": np.stack(self.betas),
            "accepts": np.stack(self.accepts) if self.accepts else np.zeros((0, self.beta.size)),
        }

    @classmethod
    def from_arrays(cls, a: dict, extra: dict) -> _Run:
        return cls(
            a["z"],
            a["ll"],
            a["feats"],
            a["beta"],
            a["log_z"],
            a["scale"],
            list(a["betas"]),
            list(a["accepts"]),
            int(extra["stage"]),
            int(extra["final_done"]),
            bool(extra["truncated"]),
        )


class SmcCheckpoint:
    """Where and for which run :func:`tempered_smc` saves its state after every stage.

    Args:
        path: the ``.npz`` file (written atomically, no pickle).
        fingerprint: the run's fingerprint (:func:`inference.checkpoint.fingerprint`);
            resuming from a checkpoint of another run raises ``ResumeMismatchError``.
        resume: continue from `path` if it exists.
    """

    def __init__(self, path, fingerprint: dict, *, resume: bool = False):
        from pathlib import Path

        self.path, self.fingerprint, self.resume = Path(path), dict(fingerprint), resume

    def save(self, run: _Run, rng) -> None:
        from inference.checkpoint import save_arrays

        extra = {
            "stage": run.stage,
            "final_done": run.final_done,
            "truncated": run.truncated,
            "rng": json.dumps(rng.bit_generator.state),
        }
        save_arrays(self.path, run.arrays(), fingerprint=self.fingerprint, extra=extra)

    def load(self, rng) -> _Run | None:
        from inference.checkpoint import load_arrays

        if not (self.resume and self.path.exists()):
            return None
        arrays, extra = load_arrays(self.path, fingerprint=self.fingerprint)
        rng.bit_generator.state = json.loads(extra["rng"])
        return _Run.from_arrays(arrays, extra)


def _next_beta(ll: np.ndarray, beta: float, target: float) -> float:
    """Largest beta' <= 1 whose incremental weights keep ESS/N >= target (bisection)."""

    def ess(b):
        lw = np.where(np.isfinite(ll), (b - beta) * ll, -np.inf)
        w = np.exp(lw - np.max(lw))
        return np.sum(w) ** 2 / np.sum(w**2) / ll.size

    if ess(1.0) >= target:
        return 1.0
    lo, hi = beta, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ess(mid) >= target else (lo, mid)
    return max(lo, beta + 1e-12)


def _systematic(logw: np.ndarray, rng) -> np.ndarray:
    w = np.exp(logw - np.max(logw))
    cdf = np.cumsum(w / np.sum(w))
    u = (rng.random() + np.arange(logw.size)) / logw.size
    return np.minimum(np.searchsorted(cdf, u), logw.size - 1)


def _mh_move(run: _Run, evaluate, log_prior, rng) -> None:
    """One random-walk Metropolis step per particle, proposal ``scale * N(0, cov_pop)``;
    the proposal scale adapts towards an acceptance rate of 1/4."""
    z, ll, feats = run.z, run.ll, run.feats
    n_pop, n, d = z.shape
    chol = np.stack([np.linalg.cholesky(np.cov(zp.T) + 1e-8 * np.eye(d)) for zp in z])
    step = np.einsum("pij,pnj->pni", chol, rng.standard_normal(z.shape))
    prop = z + run.scale[:, None, None] * step
    ll_new, f_new = evaluate(prop.reshape(-1, d))
    ll_new, f_new = ll_new.reshape(n_pop, n), f_new.reshape(n_pop, n, -1)
    b = run.beta[:, None]
    cur = log_prior(z) + np.where(np.isfinite(ll), b * ll, -np.inf)
    new = log_prior(prop) + np.where(np.isfinite(ll_new), b * ll_new, -np.inf)
    acc = np.log(rng.random((n_pop, n))) < new - cur
    run.z = np.where(acc[..., None], prop, z)
    run.ll = np.where(acc, ll_new, ll)
    run.feats = np.where(acc[..., None], f_new, feats)
    rate = acc.mean(1)
    run.scale = np.clip(run.scale * np.exp(rate - 0.25), 0.02, 3.0)
    run.accepts.append(rate)


def _reweight_and_resample(run: _Run, new_beta: np.ndarray, rng) -> None:
    """Incremental weights from ``run.beta`` to `new_beta`, evidence update, resampling."""
    n_pop, n = run.ll.shape
    idx = []
    for p in range(n_pop):
        lw = np.where(np.isfinite(run.ll[p]), (new_beta[p] - run.beta[p]) * run.ll[p], -np.inf)
        run.log_z[p] += np.logaddexp.reduce(lw) - math.log(n)
        idx.append(_systematic(lw, rng))
    run.z, run.ll, run.feats = (
        np.stack([x[p][idx[p]] for p in range(n_pop)]) for x in (run.z, run.ll, run.feats)
    )
    run.beta = new_beta


def _start(evaluate, prior: PriorSpace, populations: int, particles: int, seed: int) -> _Run:
    d = len(prior.names)
    z = prior.sample(jax.random.PRNGKey(seed), populations * particles)
    ll, feats = evaluate(z)
    return _Run(
        z.reshape(populations, particles, d),
        np.asarray(ll).reshape(populations, particles),
        np.asarray(feats).reshape(populations, particles, -1),
        np.zeros(populations),
        np.zeros(populations),
        np.full(populations, 2.38 / math.sqrt(d)),
        [np.zeros(populations)],
        [],
    )


def tempered_smc(
    evaluate: Callable,
    prior: PriorSpace,
    *,
    populations: int = 4,
    particles: int = 128,
    moves: int = 4,
    final_moves: int = 8,
    target_ess: float = 0.5,
    max_stages: int = 40,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    checkpoint: SmcCheckpoint | None = None,
) -> SmcResult:
    """Adaptive tempered SMC from the prior to ``prior * exp(log_lik)``.

    ``evaluate(z)`` maps ``(M, d)`` unconstrained parameters to ``(log_lik (M,), features
    (M, F))`` numpy arrays. Each population moves from beta = 0 to 1 on its own schedule
    (next beta: conditional ESS of the incremental weights = `target_ess`), is resampled
    at every stage and moved `moves` times; `final_moves` more moves at beta = 1. If
    `max_stages` is reached the last stage jumps to beta = 1 (``truncated=True``: only a
    rough approximation, e.g. for smoke tests). With `checkpoint` the whole state
    (particles, schedule, proposal scales, random-number state) is saved after every
    stage and every final move; a resumed run continues exactly where it stopped.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    rng = np.random.default_rng(seed)
    lp_fn = jax.jit(prior.log_prior)
    log_prior = lambda z: np.asarray(lp_fn(jnp.asarray(z)))  # noqa: E731
    run = checkpoint.load(rng) if checkpoint is not None else None
    if run is None:
        run = _start(evaluate, prior, populations, particles, seed)
    else:
        log(f"[smc] resumed at stage {run.stage} (final moves done: {run.final_done})")
    save = (lambda: checkpoint.save(run, rng)) if checkpoint is not None else (lambda: None)
    while np.any(run.beta < 1.0):
        run.stage += 1
        new = np.array([_next_beta(lp, b, target_ess) for lp, b in zip(run.ll, run.beta)])
        if run.stage >= max_stages and np.any(new < 1.0):
            new, run.truncated = np.ones(populations), True
        _reweight_and_resample(run, new, rng)
        for _ in range(moves if np.any(run.beta < 1.0) else 0):
            _mh_move(run, evaluate, log_prior, rng)
        run.betas.append(run.beta.copy())
        save()
        log(
            f"[smc] stage {run.stage}: beta {np.round(run.beta, 4).tolist()}  median log-lik "
            f"{np.median(run.ll):.1f}  accept {np.round(acc_last(run.accepts), 2)}"
        )
    while run.final_done < final_moves:
        _mh_move(run, evaluate, log_prior, rng)
        run.final_done += 1
        save()
    log(f"[smc] done after {run.stage} stages; final accept {np.round(acc_last(run.accepts), 2)}")
    return SmcResult(run.z, run.ll, run.feats, run.betas, run.log_z, run.accepts, run.truncated)


def acc_last(accepts: list) -> list:
    return accepts[-1].tolist() if accepts else []
