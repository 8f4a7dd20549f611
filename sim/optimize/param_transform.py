"""``ParamTransform``: transforms applied to the output of ``get_parameters()``."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from sim.optimize.transforms import Transform

__all__ = ["ParamTransform"]


def _is_transform(x) -> bool:
    return isinstance(x, Transform)


class ParamTransform:
    """Map ``get_parameters()``-shaped values to and from an unconstrained space.

    ``tf_dict`` is a pytree of :class:`Transform` with the structure of the
    parameters (e.g. ``[{"HH_gNa": SigmoidTransform(0.0, 0.5)}, {"radius":
    SoftplusTransform(0.1)}]``), or one transform for all. As in Jaxley,
    :meth:`forward` goes unconstrained -> constrained, :meth:`inverse` back;
    :meth:`log_det_jacobian` is the sum of every transform's log-det-Jacobian at
    unconstrained values (the density correction for sampling in unconstrained
    space).
    """

    def __init__(self, tf_dict) -> None:
        leaves = jax.tree_util.tree_leaves(tf_dict, is_leaf=_is_transform)
        if not leaves or not all(_is_transform(t) for t in leaves):
            raise TypeError(
                "ParamTransform needs Transform objects (sim.optimize.transforms), e.g. "
                "[{'HH_gNa': SigmoidTransform(0.0, 0.5)}]."
            )
        self.tf_dict = tf_dict

    def _map(self, method: str, params):
        if _is_transform(self.tf_dict):
            return jax.tree_util.tree_map(getattr(self.tf_dict, method), params)
        try:
            return jax.tree_util.tree_map(
                lambda tf, x: getattr(tf, method)(x), self.tf_dict, params, is_leaf=_is_transform
            )
        except ValueError as err:
            raise ValueError(
                "The parameters do not have the structure of the transforms: pass the list "
                "returned by get_parameters() (same order and keys)."
            ) from err

    def forward(self, params):
        """Unconstrained -> constrained (e.g. optimiser values -> ``integrate`` params)."""
        return self._map("forward", params)

    def inverse(self, params):
        """Constrained -> unconstrained."""
        return self._map("inverse", params)

    def log_det_jacobian(self, params):
        """``sum log |d forward / du|`` over all parameters at unconstrained ``params``."""
        parts = self._map("log_det_jacobian", params)
        return sum(jnp.sum(p) for p in jax.tree_util.tree_leaves(parts))
