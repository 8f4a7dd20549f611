"""Consistency of a Kalman filter with its data: the normalised innovation squared.

``NIS_t = nu_t^T S_t^-1 nu_t`` with the innovation ``nu_t = y_t - E[y_t | y_{0:t-1}]``
and its predicted covariance ``S_t``. If the data come from the filter's model, the
``NIS_t`` are independent chi-square variables with ``n_obs`` degrees of freedom, so
``T * mean(NIS)`` is chi-square with ``T * n_obs`` degrees of freedom. A mean NIS
far above ``n_obs`` means the filter is over-confident (innovations larger than it
predicts: too little process or observation noise, or a model that cannot fit the
data); far below, under-confident (too much noise).
"""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
from scipy import stats


def nis_of(ssm, emissions, noise, posterior) -> jnp.ndarray:
    """``(T,)`` NIS of a filter run of `ssm` on `emissions` ``(T, n_obs)``.

    `posterior` is a :class:`inference.block_ekf.KalmanResult` (its ``nis``) or a
    dynamax filtered posterior with ``predicted_means``/``predicted_covariances``
    (the prior ``N(m0, P0)`` is the prediction for ``t = 0``).
    """
    if getattr(posterior, "nis", None) is not None:
        return jnp.asarray(posterior.nis)
    if getattr(posterior, "predicted_means", None) is None:
        raise ValueError("the posterior has no predicted means: filter with the default fields.")
    y = ssm._check_emissions(emissions)
    prm = ssm.params(noise)
    pm = jnp.concatenate([prm.initial_mean[None], posterior.predicted_means])[: len(y)]
    pc = jnp.concatenate([prm.initial_covariance[None], posterior.predicted_covariances])
    idx = jnp.asarray(ssm.emission_index)
    nu = y - pm[:, idx]
    s = pc[: len(y)][:, idx][:, :, idx] + prm.emission_covariance
    return jnp.einsum("ti,ti->t", nu, jnp.linalg.solve(s, nu[..., None])[..., 0])


def nis_range(num_steps: int, num_obs: int, level: float = 0.99) -> tuple[float, float]:
    """Central `level` interval of the mean NIS over `num_steps` under the model."""
    dof = num_steps * num_obs
    lo, hi = stats.chi2.ppf([(1 - level) / 2, (1 + level) / 2], dof)
    return float(lo / num_steps), float(hi / num_steps)


def check_nis(nis, num_obs: int, *, level: float = 0.99, warn: bool = True) -> dict:
    """Mean NIS against its chi-square range; a UserWarning when outside.

    Returns ``{"mean", "low", "high", "num_steps", "num_obs", "consistent"}``. The
    warning states the figures and what to change.
    """
    nis = np.asarray(nis, dtype=float)
    if nis.ndim != 1 or nis.size == 0 or not np.isfinite(nis).all():
        raise ValueError(f"nis must be a finite 1-D array, got shape {nis.shape}.")
    lo, hi = nis_range(nis.size, num_obs, level)
    mean = float(nis.mean())
    report = {"mean": mean, "low": lo, "high": hi, "num_steps": int(nis.size),
              "num_obs": int(num_obs), "consistent": lo <= mean <= hi}  # fmt: skip
    if warn and not report["consistent"]:
        if mean > hi:
            advice = (
                "the innovations are larger than the filter predicts: increase the "
                "process noise (NoiseModel.process_std) or the observation noise "
                "(obs_std), or the model cannot describe these data"
            )
        else:
            advice = (
                "the innovations are smaller than the filter predicts: decrease the "
                "process or observation noise"
            )
        warnings.warn(
            f"Kalman filter inconsistent with the data: mean NIS {mean:.3g} over "
            f"{nis.size} steps, expected in [{lo:.3g}, {hi:.3g}] ({level:.0%} chi-square "
            f"range, {num_obs} observation(s) per step); {advice}.",
            UserWarning,
            stacklevel=2,
        )
    return report
