"""Summary features of current-clamp sweeps and a Gaussian feature likelihood.

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
useless; :func:`inference.smc.tempered_smc` samples it without gradients.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

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
