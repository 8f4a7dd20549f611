"""The Laplace approximation at the MAP: ``N(u_map, H^-1)`` in unconstrained space.

:func:`laplace` gives the Gaussian (used by :func:`~inference.sampling.run_nuts`
as its fixed mass matrix and for dispersed chain starts); :func:`laplace_draws`
maps its draws to constrained space (``fit_conductances --method laplace``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from inference.bridge import Bridge, bridge_for

if TYPE_CHECKING:
    from inference.sampling import MapResult

__all__ = ["LaplaceResult", "LaplaceDraws", "laplace", "laplace_draws"]


def laplace(
    model,
    y,
    map_result: MapResult,
    *,
    seed: int = 0,
    regularise: bool = False,
    bridge: Bridge | None = None,
) -> LaplaceResult:
    """Gaussian (Laplace) approximation at the MAP: ``N(u_map, H^-1)`` in unconstrained space.

    ``H`` is the Hessian of numpyro's potential (negative log joint, Jacobian
    included) at the best optimum, by forward-over-forward differentiation. It is
    symmetrised and must be positive definite (else the optimum is not a strict
    local minimum and ``ValueError`` says so). ``bridge``: the
    :class:`~inference.bridge.Bridge` of `model` and `y` if the caller has one.
    """
    potential_fn = bridge_for(model, y, seed, bridge).potential
    best = jax.tree_util.tree_map(
        lambda x: jnp.asarray(x[map_result.best_index]), map_result.unconstrained
    )
    flat, unravel = ravel_pytree(best)
    hess = jax.jacfwd(jax.jacfwd(lambda x: potential_fn(unravel(x))))(flat)
    hess = 0.5 * (hess + hess.T)
    eig, vec = np.linalg.eigh(np.asarray(hess))
    regularised = False
    if regularise and np.all(np.isfinite(eig)) and eig.max() > 0 and eig.min() <= 0:
        # Not a strict minimum: use the curvature's magnitude (floored) along each axis.
        eig, regularised = np.maximum(np.abs(eig), 1e-6 * eig.max()), True
    if not np.all(np.isfinite(eig)) or eig.min() <= 0:
        raise ValueError(
            f"The Hessian of the log posterior at the MAP is not positive definite (eigenvalues "
            f"{np.round(eig, 6).tolist()}): the optimum is flat or a saddle. Use more MAP "
            "steps, or mass_matrix='adapt'."
        )
    cov = (vec / eig) @ vec.T
    return LaplaceResult(
        mean=np.asarray(flat),
        cov=0.5 * (cov + cov.T),
        names=sorted(best),
        unravel=unravel,
        regularised=regularised,
    )


@dataclass(frozen=True)
class LaplaceResult:
    """``N(mean, cov)`` over the flattened unconstrained parameters (sorted site order)."""

    mean: np.ndarray
    cov: np.ndarray
    names: list
    unravel: object
    regularised: bool = False  # non-positive curvatures replaced by their magnitude

    def draws(self, num: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return rng.multivariate_normal(self.mean, self.cov, size=num, method="eigh")


@dataclass(frozen=True)
class LaplaceDraws:
    """Draws of the Laplace approximation as one chain ``(1, num, ...)`` (constrained).

    ``std``: the marginal Gaussian widths (sd) in unconstrained space (log scale for
    positive parameters), per site; ``mean``: the MAP there.
    """

    samples: dict
    std: dict
    mean: dict
    regularised: bool = False


def laplace_draws(
    model,
    y,
    map_result: MapResult,
    *,
    num: int = 200,
    seed: int = 0,
    bridge: Bridge | None = None,
):
    """`num` draws of :func:`laplace` mapped to constrained space (:class:`LaplaceDraws`).

    A MAP that is not a strict minimum (non-positive Hessian eigenvalues) gets the
    magnitudes of those curvatures instead (``regularised``: True). ``bridge``: the
    :class:`~inference.bridge.Bridge` of `model` and `y` if the caller has one.
    """
    bridge = bridge_for(model, y, seed, bridge)
    lap = laplace(model, y, map_result, seed=seed, regularise=True, bridge=bridge)
    draws = jax.vmap(lap.unravel)(jnp.asarray(lap.draws(num, seed + 11)))
    constrained = jax.vmap(bridge.from_unconstrained)(draws)
    std = lap.unravel(jnp.sqrt(jnp.diag(jnp.asarray(lap.cov))))
    mean = lap.unravel(jnp.asarray(lap.mean))
    return LaplaceDraws(
        samples={k: np.asarray(v)[None] for k, v in constrained.items() if k in std},
        std=jax.tree_util.tree_map(np.asarray, std),
        mean=jax.tree_util.tree_map(np.asarray, mean),
        regularised=lap.regularised,
    )
