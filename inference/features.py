"""Summary features of current-clamp sweeps, a Gaussian feature likelihood and tempered SMC.

Posterior inference from summary statistics (as in Gonçalves et al. 2020, eLife 9:e56261,
for the same Allen sweeps): the data enter only through features of the voltage trace, and

    log p(s_obs | theta) = sum_k log Normal(s_obs[k] | s_k(theta), scale[k]),

where ``s(theta)`` are the features of the deterministic simulation and ``scale`` the
tolerated discrepancy per feature (model error and trial-to-trial variability; fixed a
priori, see :func:`feature_scales`).

Features (:data:`FEATURE_NAMES`), from a trace sampled every ``dt`` ms from ``t0``:

* ``rest``: mean voltage before stimulus onset (mV);
* ``n_spikes``: upward 0 mV crossings during the step (as :func:`inference.losses.spike_times`);
* ``n_early``: crossings in the first ``early_ms`` of the step (adaptation);
* ``log_latency``: log of the first-spike latency (ms; the step length if no spike);
* ``v_sub``: mean voltage over the first ``sub_ms`` of the step (subthreshold response);
* ``v_mean``: mean voltage during the step;
* ``ap_peak``: maximum voltage during the step;
* ``ahp``: minimum voltage during the step after the first spike (after-hyperpolarisation).

Spike counts make the likelihood piecewise constant in the parameters, so gradients are
useless; :func:`tempered_smc` samples it without gradients: adaptively tempered sequential
Monte Carlo (ESS-based tempering, systematic resampling, random-walk Metropolis moves with
the population covariance), with independent populations for a between-run R-hat.
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

FEATURE_NAMES = (
    "rest",
    "n_spikes",
    "n_early",
    "log_latency",
    "v_sub",
    "v_mean",
    "ap_peak",
    "ahp",
)


@dataclass(frozen=True)
class FeatureWindows:
    """Time grid and windows (ms) of the features; ``t0`` is the time of sample 0."""

    dt: float
    stim_on: float
    stim_off: float
    t0: float = 0.0
    early_ms: float = 250.0
    sub_ms: float = 10.0

    def shifted(self, dt: float, t0: float) -> FeatureWindows:
        """The same windows for another sampling grid."""
        return FeatureWindows(dt, self.stim_on, self.stim_off, t0, self.early_ms, self.sub_ms)


def _masked_mean(v, mask):
    return jnp.sum(jnp.where(mask, v, 0.0), axis=-1) / jnp.maximum(jnp.sum(mask), 1)


def trace_features(v, w: FeatureWindows) -> jnp.ndarray:
    """Features ``(..., len(FEATURE_NAMES))`` of traces ``v`` (last axis time; jittable)."""
    v = jnp.asarray(v)
    t = w.t0 + w.dt * jnp.arange(v.shape[-1])
    on, off = w.stim_on, w.stim_off
    v0, v1 = v[..., :-1], v[..., 1:]
    cross = (v0 < 0.0) & (v1 >= 0.0)
    frac = jnp.where(cross, -v0 / jnp.where(cross, v1 - v0, 1.0), 0.0)
    tc = t[:-1] + frac * w.dt
    spike = cross & (tc >= on) & (tc < off)
    n_spikes = jnp.sum(spike, axis=-1)
    n_early = jnp.sum(spike & (tc < on + w.early_ms), axis=-1)
    first = jnp.min(jnp.where(spike, tc, jnp.inf), axis=-1)
    latency = jnp.where(n_spikes > 0, first - on, off - on)
    in_step = (t >= on) & (t < off)
    after = in_step & (t >= first[..., None])
    ahp = jnp.min(jnp.where(jnp.where(n_spikes[..., None] > 0, after, in_step), v, jnp.inf), -1)
    feats = [
        _masked_mean(v, t < on),
        n_spikes.astype(v.dtype),
        n_early.astype(v.dtype),
        jnp.log(jnp.maximum(latency, w.dt)),
        _masked_mean(v, (t >= on) & (t < on + w.sub_ms)),
        _masked_mean(v, in_step),
        jnp.max(jnp.where(in_step, v, -jnp.inf), axis=-1),
        ahp,
    ]
    return jnp.stack(feats, axis=-1)


def recording_windows(rec, early_ms: float = 250.0, max_sub_ms: float = 20.0) -> FeatureWindows:
    """Windows for a :class:`~datasets.Recording` with a step stimulus.

    The subthreshold window ``sub_ms`` is 3/4 of the recorded first-spike latency (at most
    `max_sub_ms`, at least 2 ms), so that it holds no recorded spike.
    """
    if rec.stim_on_ms is None or rec.stim_off_ms is None:
        raise ValueError("The recording needs stim_on_ms and stim_off_ms for the features.")
    w = FeatureWindows(rec.dt_ms, rec.stim_on_ms, rec.stim_off_ms, 0.0, early_ms, max_sub_ms)
    latency = math.exp(float(trace_features(np.asarray(rec.v_mV, np.float64), w)[3]))
    sub = float(np.clip(0.75 * latency, 2.0, max_sub_ms))
    return FeatureWindows(rec.dt_ms, rec.stim_on_ms, rec.stim_off_ms, 0.0, early_ms, sub)


def feature_scales(obs) -> np.ndarray:
    """Tolerated discrepancy (likelihood std) per feature, given the observed features.

    rest 1 mV; spike count 1 + 5% of the recorded count (trial-to-trial variability of
    cortical neurons is about one to two spikes per second); early count 1; log latency
    0.15 (15%); subthreshold mean 1.5 mV; step mean 2 mV; AP peak 5 mV; AHP 3 mV.
    """
    obs = np.asarray(obs, dtype=np.float64)
    return np.array([1.0, 1.0 + 0.05 * obs[1], 1.0, 0.15, 1.5, 2.0, 5.0, 3.0])


def feature_log_lik(sim_feats, obs, scales) -> jnp.ndarray:
    """Gaussian log-likelihood of `obs` given simulated features (``-inf`` if not finite)."""
    z = (obs - sim_feats) / scales
    ll = -0.5 * jnp.sum(z**2, axis=-1) - jnp.sum(jnp.log(scales * math.sqrt(2 * math.pi)))
    return jnp.where(jnp.isfinite(ll), ll, -jnp.inf)


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
