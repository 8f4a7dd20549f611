"""Losses between simulated and observed voltage traces, and exact spike features.

Traces are arrays whose **last axis is time**, sampled every ``dt`` ms with sample
``i`` at ``t0 + i * dt`` (``t0 = 0`` unless given). The differentiable losses (jax)
accept any leading batch shape and reduce over everything; the exact feature
extractors (numpy, for reporting) take 1-D traces.

Differentiable surrogates
-------------------------
* **Soft spike train.** ``s_i = sigmoid((v_i - threshold) / width)`` is a soft
  "above threshold" indicator; its positive increments ``c_i = relu(s_{i+1} - s_i)``
  form a soft spike train. Each spike whose peak is well above and whose trough is
  well below the threshold (compared with ``width``) contributes a mass of ~1 spread
  over the samples of its upstroke, so the **soft spike count** ``sum_i c_i`` tends
  to the number of upward threshold crossings as ``width -> 0``. Its gradient
  reaches the voltage at every sample of the upstroke.
* **Spike timing.** The soft spike trains of the two traces are filtered with a
  causal exponential kernel ``exp(-t / tau)`` and compared in L2 (van Rossum's
  distance): ``D^2 = (dt / tau) * sum_i (F_i - G_i)^2``. For sharp spikes this
  approximates the exact distance :func:`van_rossum_distance` of the spike times
  (up to a discretisation error of order ``dt / tau``). It is smooth in the spike
  times, unlike a count-matching time comparison.
* **Resting potential.** The mean voltage over a time window (e.g. before stimulus
  onset), exactly as :func:`resting_potential`.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

__all__ = [
    "gaussian_nll",
    "resting_potential",
    "resting_potential_loss",
    "soft_spike_count",
    "soft_spike_train",
    "spike_count",
    "spike_count_loss",
    "spike_time_loss",
    "spike_times",
    "trace_mse",
    "van_rossum_distance",
    "window_mean",
]


def _check_same_shape(sim_v: Array, obs_v: Array) -> None:
    if jnp.shape(sim_v) != jnp.shape(obs_v):
        raise ValueError(f"trace shapes differ: {jnp.shape(sim_v)} vs {jnp.shape(obs_v)}")


def trace_mse(sim_v: Any, obs_v: Any) -> Array:
    """Mean squared difference between two traces (mV²)."""
    _check_same_shape(sim_v, obs_v)
    return jnp.mean((jnp.asarray(sim_v) - jnp.asarray(obs_v)) ** 2)


def gaussian_nll(sim_v: Any, obs_v: Any, sigma: Any) -> Array:
    """Negative log likelihood of ``obs_v ~ Normal(sim_v, sigma)``, summed over samples.

    Includes the ``log(sigma) + log(2 pi) / 2`` terms, so ``sigma`` (scalar or
    broadcastable array, mV) may itself be fitted.
    """
    _check_same_shape(sim_v, obs_v)
    sim_v, obs_v = jnp.asarray(sim_v), jnp.asarray(obs_v)
    sigma = jnp.broadcast_to(jnp.asarray(sigma, dtype=sim_v.dtype), sim_v.shape)
    z = (obs_v - sim_v) / sigma
    return jnp.sum(0.5 * z**2 + jnp.log(sigma) + 0.5 * math.log(2.0 * math.pi))


def soft_spike_train(v: Any, *, threshold: float = 0.0, width: float = 1.0) -> Array:
    """Soft upward-crossing masses ``relu(diff(sigmoid((v - threshold) / width)))``.

    Shape ``v.shape[:-1] + (n_time - 1,)``; entry ``i`` belongs to the interval
    between samples ``i`` and ``i + 1``.
    """
    if width <= 0:
        raise ValueError(f"width must be > 0, got {width}")
    above = jax.nn.sigmoid((jnp.asarray(v) - threshold) / width)
    return jax.nn.relu(jnp.diff(above, axis=-1))


def soft_spike_count(v: Any, *, threshold: float = 0.0, width: float = 1.0) -> Array:
    """Differentiable spike count: total mass of :func:`soft_spike_train` (per trace)."""
    return jnp.sum(soft_spike_train(v, threshold=threshold, width=width), axis=-1)


def spike_count_loss(
    sim_v: Any, obs_v: Any, *, threshold: float = 0.0, width: float = 1.0
) -> Array:
    """Squared difference of soft spike counts, summed over traces."""
    _check_same_shape(sim_v, obs_v)
    n_sim = soft_spike_count(sim_v, threshold=threshold, width=width)
    n_obs = soft_spike_count(obs_v, threshold=threshold, width=width)
    return jnp.sum((n_sim - n_obs) ** 2)


def _exp_filter(x: Array, decay: float) -> Array:
    """``y_i = sum_{j <= i} decay^(i - j) x_j`` along the last axis.

    A causal convolution with the full kernel ``decay^k``, done by FFT: O(n log n),
    parallel, and quick to compile (a sequential scan is slow on accelerators and an
    associative scan is slow to compile for long traces).
    """
    n = x.shape[-1]
    n_fft = 1 << (2 * n - 1).bit_length()
    kernel = decay ** jnp.arange(n, dtype=x.dtype)
    spectrum = jnp.fft.rfft(x, n_fft, axis=-1) * jnp.fft.rfft(kernel, n_fft)
    return jnp.fft.irfft(spectrum, n_fft, axis=-1)[..., :n]


def spike_time_loss(
    sim_v: Any,
    obs_v: Any,
    dt: float,
    *,
    tau: float = 5.0,
    threshold: float = 0.0,
    width: float = 1.0,
) -> Array:
    """Squared van Rossum distance between the soft spike trains, summed over traces.

    ``tau`` (ms) sets the timing resolution: a lone spike shifted by ``delta``
    costs ``1 - exp(-|delta| / tau)``; an extra or missing spike costs ``1/2``.
    Squared (not the distance itself) so the gradient stays finite at zero.
    """
    _check_same_shape(sim_v, obs_v)
    if tau <= 0 or dt <= 0:
        raise ValueError(f"tau and dt must be > 0, got tau={tau}, dt={dt}")
    diff = soft_spike_train(sim_v, threshold=threshold, width=width) - soft_spike_train(
        obs_v, threshold=threshold, width=width
    )
    filtered = _exp_filter(diff, math.exp(-dt / tau))
    return jnp.sum(filtered**2) * (dt / tau)


def _window_indices(n_time: int, dt: float, t_window: tuple[float, float], t0: float):
    """Samples ``[start, stop)`` with ``t_start <= t0 + i dt < t_end`` (to 1e-9 samples)."""
    t_start, t_end = t_window
    if dt <= 0 or not t_start < t_end:
        raise ValueError(f"need dt > 0 and t_start < t_end, got dt={dt}, window={t_window}")
    start = max(0, math.ceil((t_start - t0) / dt - 1e-9))
    stop = min(n_time, math.ceil((t_end - t0) / dt - 1e-9))
    if stop <= start:
        raise ValueError(f"window {t_window} holds no samples of a {n_time}-sample trace")
    return start, stop


def window_mean(v: Any, dt: float, t_window: tuple[float, float], *, t0: float = 0.0) -> Array:
    """Mean voltage over ``t_window = (t_start, t_end)`` ms, per trace (differentiable)."""
    v = jnp.asarray(v)
    start, stop = _window_indices(v.shape[-1], dt, t_window, t0)
    return jnp.mean(v[..., start:stop], axis=-1)


def resting_potential_loss(
    sim_v: Any, obs_v: Any, dt: float, t_window: tuple[float, float], *, t0: float = 0.0
) -> Array:
    """Squared difference of the mean voltages in ``t_window``, summed over traces."""
    _check_same_shape(sim_v, obs_v)
    rest_sim = window_mean(sim_v, dt, t_window, t0=t0)
    rest_obs = window_mean(obs_v, dt, t_window, t0=t0)
    return jnp.sum((rest_sim - rest_obs) ** 2)


# ---------------------------------------------------------------------------
# Exact (non-differentiable) features, for reporting.
# ---------------------------------------------------------------------------


def _trace_1d(v: Any) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"expected a 1-D trace, got shape {v.shape}")
    return v


def spike_times(v: Any, dt: float, threshold: float = 0.0, *, t0: float = 0.0) -> np.ndarray:
    """Times (ms) of upward threshold crossings, linearly interpolated.

    A crossing lies between samples ``i`` and ``i + 1`` when ``v[i] < threshold <=
    v[i + 1]``; its time is where the straight line between them meets the threshold.
    """
    v = _trace_1d(v)
    idx = np.nonzero((v[:-1] < threshold) & (v[1:] >= threshold))[0]
    frac = (threshold - v[idx]) / (v[idx + 1] - v[idx])
    return t0 + (idx + frac) * dt


def spike_count(v: Any, threshold: float = 0.0) -> int:
    """Number of upward threshold crossings."""
    v = _trace_1d(v)
    return int(np.count_nonzero((v[:-1] < threshold) & (v[1:] >= threshold)))


def resting_potential(
    v: Any, dt: float, t_window: tuple[float, float], *, t0: float = 0.0
) -> float:
    """Mean voltage over ``t_window = (t_start, t_end)`` ms (samples with
    ``t_start <= t < t_end``), e.g. the interval before stimulus onset."""
    v = _trace_1d(v)
    start, stop = _window_indices(v.shape[0], dt, t_window, t0)
    return float(np.mean(v[start:stop]))


def van_rossum_distance(times_a: Any, times_b: Any, tau: float) -> float:
    """Exact van Rossum distance between two spike-time lists (ms).

    ``D^2 = (1 / tau) * integral (f - g)^2 dt`` with ``f, g`` the spike trains
    convolved with ``exp(-t / tau)``; equals
    ``(sum_aa + sum_bb - 2 sum_ab) / 2`` with ``sum_xy = sum_ij exp(-|x_i - y_j| / tau)``.
    """
    a, b = np.asarray(times_a, dtype=np.float64), np.asarray(times_b, dtype=np.float64)

    def kernel_sum(x: np.ndarray, y: np.ndarray) -> float:
        return float(np.sum(np.exp(-np.abs(x[:, None] - y[None, :]) / tau)))

    d2 = 0.5 * (kernel_sum(a, a) + kernel_sum(b, b) - 2.0 * kernel_sum(a, b))
    return math.sqrt(max(d2, 0.0))
