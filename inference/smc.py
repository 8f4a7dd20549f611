"""Gradient-free posterior sampling: adaptively tempered sequential Monte Carlo.

For likelihoods that are piecewise constant in the parameters (e.g. spike counts, see
:mod:`inference.features`): ESS-based tempering from prior to posterior, systematic
resampling, random-walk Metropolis moves scaled by the population covariance, and
independent populations (reported as arviz "chains" for a between-run R-hat).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions import biject_to


# ---------------------------------------------------------------- prior in unconstrained space
@dataclass(frozen=True)
class PriorSpace:
    """Priors of named scalar parameters, mapped to unconstrained ``z`` (shape (..., d))."""

    names: tuple[str, ...]
    priors: tuple

    def to_constrained(self, z) -> dict:
        return {n: biject_to(p.support)(z[..., i]) for i, (n, p) in enumerate(self._items())}

    def log_prior(self, z) -> jnp.ndarray:
        """Prior log density of ``z`` (Jacobian of the transform included)."""
        total = 0.0
        for i, (_, p) in enumerate(self._items()):
            tr = biject_to(p.support)
            x = tr(z[..., i])
            total = total + p.log_prob(x) + tr.log_abs_det_jacobian(z[..., i], x)
        return total

    def sample(self, key, n: int) -> np.ndarray:
        keys = jax.random.split(key, len(self.names))
        cols = [biject_to(p.support).inv(p.sample(k, (n,))) for k, p in zip(keys, self.priors)]
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


def _mh_move(state, beta, scale, evaluate, log_prior, rng):
    """One random-walk Metropolis step per particle, proposal ``scale * N(0, cov_pop)``."""
    z, ll, feats = state
    n_pop, n, d = z.shape
    chol = np.stack([np.linalg.cholesky(np.cov(zp.T) + 1e-8 * np.eye(d)) for zp in z])
    prop = z + scale[:, None, None] * np.einsum("pij,pnj->pni", chol, rng.standard_normal(z.shape))
    ll_new, f_new = evaluate(prop.reshape(-1, d))
    ll_new, f_new = ll_new.reshape(n_pop, n), f_new.reshape(n_pop, n, -1)
    b = beta[:, None]
    cur = log_prior(z) + np.where(np.isfinite(ll), b * ll, -np.inf)
    new = log_prior(prop) + np.where(np.isfinite(ll_new), b * ll_new, -np.inf)
    acc = np.log(rng.random((n_pop, n))) < new - cur
    z = np.where(acc[..., None], prop, z)
    return (z, np.where(acc, ll_new, ll), np.where(acc[..., None], f_new, feats)), acc.mean(1)


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
) -> SmcResult:
    """Adaptive tempered SMC from the prior to ``prior * exp(log_lik)``.

    ``evaluate(z)`` maps ``(M, d)`` unconstrained parameters to ``(log_lik (M,), features
    (M, F))`` numpy arrays. Each population moves from beta = 0 to 1 on its own schedule
    (next beta: conditional ESS of the incremental weights = `target_ess`), is resampled
    at every stage and moved `moves` times; `final_moves` more moves at beta = 1. If
    `max_stages` is reached the last stage jumps to beta = 1 (``truncated=True``: only a
    rough approximation, e.g. for smoke tests).
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    rng = np.random.default_rng(seed)
    lp_fn = jax.jit(prior.log_prior)
    log_prior = lambda z: np.asarray(lp_fn(jnp.asarray(z)))  # noqa: E731
    d = len(prior.names)
    z = prior.sample(jax.random.PRNGKey(seed), populations * particles)
    ll, feats = evaluate(z)
    state = (
        z.reshape(populations, particles, d),
        ll.reshape(populations, particles),
        feats.reshape(populations, particles, -1),
    )
    beta, log_z = np.zeros(populations), np.zeros(populations)
    scale = np.full(populations, 2.38 / math.sqrt(d))
    betas, accepts, stage, truncated = [beta.copy()], [], 0, False
    while np.any(beta < 1.0):
        stage += 1
        new = np.array([_next_beta(lp, b, target_ess) for lp, b in zip(state[1], beta)])
        if stage >= max_stages and np.any(new < 1.0):
            new, truncated = np.ones(populations), True
        idx = []
        for p in range(populations):
            lw = np.where(np.isfinite(state[1][p]), (new[p] - beta[p]) * state[1][p], -np.inf)
            log_z[p] += np.logaddexp.reduce(lw) - math.log(particles)
            idx.append(_systematic(lw, rng))
        state = tuple(np.stack([x[p][idx[p]] for p in range(populations)]) for x in state)
        beta = new
        for _ in range(moves if np.any(beta < 1.0) else 0):
            state, acc = _mh_move(state, beta, scale, evaluate, log_prior, rng)
            scale = np.clip(scale * np.exp(acc - 0.25), 0.02, 3.0)
            accepts.append(acc)
        betas.append(beta.copy())
        log(
            f"[smc] stage {stage}: beta {np.round(beta, 4).tolist()}  "
            f"median log-lik {np.median(state[1]):.1f}  accept {np.round(acc_last(accepts), 2)}"
        )
    for _ in range(final_moves):
        state, acc = _mh_move(state, beta, scale, evaluate, log_prior, rng)
        scale = np.clip(scale * np.exp(acc - 0.25), 0.02, 3.0)
        accepts.append(acc)
    log(f"[smc] done after {stage} stages; final accept {np.round(acc_last(accepts), 2)}")
    return SmcResult(state[0], state[1], state[2], betas, log_z, accepts, truncated)


def acc_last(accepts: list) -> list:
    return accepts[-1].tolist() if accepts else []
