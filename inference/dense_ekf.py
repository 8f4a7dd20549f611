"""Dense extended Kalman filter with iterated (Gauss-Newton) updates.

Conventions are dynamax's (:func:`dynamax.nonlinear_gaussian_ssm.extended_kalman_filter`):
the prior ``N(m0, P0)`` is for ``z_0``, each step first conditions on ``y_t`` and then
predicts ``z_{t+1}`` with ``inputs[t + 1]``.

``num_iter > 1`` makes this an iterated EKF. Each update is a Gauss-Newton
minimisation of the negative log posterior of ``(z_{t-1}, z_t)`` given ``y_t``: the
emission ``h`` is relinearised at the current estimate of ``z_t`` and the dynamics
``f`` at the current one-step-smoothed estimate of ``z_{t-1}``; the mean and
covariance of ``z_t`` come from the last linearisation. Iteration 1 is the plain
EKF. For NeuronSSM the emission (recorded ``v``) is linear, so relinearising ``h``
alone (the textbook IEKF measurement update) would change nothing; the gain comes
from relinearising the step, whose Jacobian varies fast during spikes.

``project`` (e.g. :func:`block_projector`) is applied to every predicted and
filtered covariance: with a block-diagonal projector this is the reference that
:func:`inference.block_ekf.block_ekf` reproduces. Dense ``D x D`` Jacobians are
formed (``jax.jacfwd``), so this is for small models (``D`` up to a few hundred).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from inference.block_ekf import LOG_2PI, KalmanResult


def block_projector(blocks: np.ndarray, dim: int) -> Callable:
    """``P -> P * mask`` keeping only the within-compartment blocks of ``blocks``."""
    owner = np.full(dim, -1)
    for i, row in enumerate(np.asarray(blocks)):
        owner[row[row < dim]] = i
    mask = jnp.asarray(owner[:, None] == owner[None, :])
    return lambda p: jnp.where(mask, p, 0.0)


def _sym(p):
    return 0.5 * (p + p.T)


def _gauss_newton(f, h, m_f, p_f, y, u, q, r, num_iter, project):
    """Iterated update of ``z_t`` from the filtered ``N(m_f, p_f)`` of ``z_{t-1}``.

    Returns the predicted mean/covariance, the innovation and its covariance (all
    at the first linearisation, i.e. the EKF's) and the filtered mean/covariance
    (at the last one).
    """
    x_prev = m_f
    x_t = f(m_f, u)
    first = None
    for _ in range(num_iter):
        jac_f = jax.jacfwd(f)(x_prev, u)
        m_p = f(x_prev, u) + jac_f @ (m_f - x_prev)
        p_p = project(_sym(jac_f @ p_f @ jac_f.T + q))
        jac_h = jax.jacfwd(h)(x_t)
        resid = y - h(x_t) - jac_h @ (m_p - x_t)
        s = _sym(jac_h @ p_p @ jac_h.T + r)
        gain = jnp.linalg.solve(s, jac_h @ p_p).T
        m_t = m_p + gain @ resid
        p_t = project(_sym(p_p - gain @ s @ gain.T))
        if first is None:
            first = (m_p, p_p, resid, s)
        smoother_gain = jnp.linalg.solve(p_p, jac_f @ p_f).T
        x_prev = m_f + smoother_gain @ (m_t - m_p)
        x_t = m_t
    return first, (m_t, p_t)


def _condition(h, m, p, y, r, project):
    """Measurement update of ``N(m, p)`` (linear in ``h`` at ``m``); (m, p, ll, nis)."""
    jac_h = jax.jacfwd(h)(m)
    nu = y - h(m)
    s = _sym(jac_h @ p @ jac_h.T + r)
    gain = jnp.linalg.solve(s, jac_h @ p).T
    return m + gain @ nu, project(_sym(p - gain @ s @ gain.T)), *_score(nu, s)


def _score(nu, s):
    """Gaussian log density of the innovation and its NIS."""
    chol = jnp.linalg.cholesky(s)
    white = jax.scipy.linalg.solve_triangular(chol, nu, lower=True)
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diag(chol)))
    nis = jnp.sum(white**2)
    return -0.5 * (nu.size * LOG_2PI + logdet + nis), nis


def dense_ekf(
    f,
    h,
    m0,
    p0,
    q,
    r,
    emissions,
    inputs,
    *,
    num_iter: int = 1,
    project: Callable | None = None,
) -> KalmanResult:
    """(Iterated) EKF with dense covariances.

    Args:
        f: ``f(z, u)`` one step; h: ``h(z)`` the emission.
        m0, p0: ``(D,)`` / ``(D, D)`` prior of ``z_0``; q ``(D, D)`` process and r
            ``(n_obs, n_obs)`` observation covariances (state units squared).
        emissions ``(T, n_obs)``; inputs ``(T, n_in)`` (``inputs[t + 1]`` drives the
            step ``t -> t + 1``).
        num_iter: Gauss-Newton iterations per update (1 = EKF).
        project: applied to every covariance (default: identity).
    """
    if isinstance(num_iter, bool) or not isinstance(num_iter, int) or num_iter < 1:
        raise ValueError(f"num_iter must be a positive integer, got {num_iter!r}.")
    project = project or (lambda p: p)
    y, u = jnp.asarray(emissions), jnp.asarray(inputs)
    m_0, p_0, ll0, nis0 = _condition(h, jnp.asarray(m0), project(p0), y[0], r, project)

    def step(carry, t):
        ll, m_f, p_f = carry
        first, (m_t, p_t) = _gauss_newton(f, h, m_f, p_f, y[t], u[t], q, r, num_iter, project)
        ll_t, nis = _score(first[2], first[3])
        return (ll + ll_t, m_t, p_t), {"mean": m_t, "cov": p_t, "nis": nis}

    (ll, _, _), out = jax.lax.scan(step, (ll0, m_0, p_0), jnp.arange(1, y.shape[0]))
    means = jnp.concatenate([m_0[None], out["mean"]])
    covs = jnp.concatenate([p_0[None], out["cov"]])
    return KalmanResult(
        marginal_loglik=ll,
        filtered_means=means,
        filtered_stds=jnp.sqrt(jnp.clip(jnp.diagonal(covs, axis1=1, axis2=2), 0.0)),
        nis=jnp.concatenate([jnp.atleast_1d(nis0), out["nis"]]),
        num_obs=int(y.shape[1]),
        filtered_covariances=covs,
    )
