"""Small helpers for optimisation (``jaxley.optimize.utils``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["l2_norm"]


def l2_norm(x):
    """Euclidean norm of all leaves of a pytree together (e.g. of a gradient)."""
    leaves = jax.tree_util.tree_leaves(x)
    return jnp.sqrt(sum(jnp.sum(jnp.asarray(leaf) ** 2) for leaf in leaves))
