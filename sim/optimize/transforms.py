"""Bijective parameter transforms with log-det-Jacobians (``jaxley.optimize.transforms``).

Every :class:`Transform` maps an unconstrained value ``u`` to a constrained one
``x = forward(u)``, back with :meth:`Transform.inverse`, and reports
``log |dx/du|`` summed over elements (:meth:`Transform.log_det_jacobian`), so the
same objects serve gradient descent and densities for MCMC (change of variables).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

__all__ = [
    "Transform",
    "IdentityTransform",
    "AffineTransform",
    "SigmoidTransform",
    "LogisticTransform",
    "SoftplusTransform",
    "NegSoftplusTransform",
    "ChainTransform",
    "MaskedTransform",
    "CustomTransform",
]


class Transform(abc.ABC):
    """A bijection ``forward: R^n -> constrained set`` (elementwise unless stated)."""

    @abc.abstractmethod
    def forward(self, x) -> Any:
        """Unconstrained -> constrained."""

    @abc.abstractmethod
    def inverse(self, y) -> Any:
        """Constrained -> unconstrained."""

    def log_det_jacobian(self, x):
        """``sum log |d forward / dx|`` at unconstrained ``x`` (by autodiff by default)."""
        x = jnp.asarray(x, dtype=float)
        diag = jax.vmap(jax.grad(lambda xi: jnp.sum(self.forward(xi))))(x.reshape(-1))
        return jnp.sum(jnp.log(jnp.abs(diag)))

    def __call__(self, x):
        return self.forward(x)


class IdentityTransform(Transform):
    """``y = x``."""

    def forward(self, x):
        return x

    def inverse(self, y):
        return y

    def log_det_jacobian(self, x):
        return jnp.zeros(())


class AffineTransform(Transform):
    """``y = scale * x + shift`` (``scale != 0``)."""

    def __init__(self, scale, shift):
        if jnp.any(jnp.asarray(scale) == 0):
            raise ValueError(f"AffineTransform needs a non-zero scale, got {scale!r}.")
        self.scale, self.shift = scale, shift

    def forward(self, x):
        return self.scale * x + self.shift

    def inverse(self, y):
        return (y - self.shift) / self.scale

    def log_det_jacobian(self, x):
        return jnp.sum(jnp.broadcast_to(jnp.log(jnp.abs(self.scale)), jnp.shape(x)))


def _check_interval(name: str, lower, upper) -> None:
    if jnp.any(jnp.asarray(lower) >= jnp.asarray(upper)):
        raise ValueError(f"{name} needs lower < upper, got lower={lower!r}, upper={upper!r}.")


class SigmoidTransform(Transform):
    """``y = lower + (upper - lower) sigmoid(x)``: onto ``(lower, upper)``."""

    def __init__(self, lower, upper):
        _check_interval(type(self).__name__, lower, upper)
        self.lower, self.width = lower, jnp.asarray(upper) - jnp.asarray(lower)

    def forward(self, x):
        return self.lower + self.width * jax.nn.sigmoid(x)

    def inverse(self, y):
        z = (y - self.lower) / self.width
        return jnp.log(z) - jnp.log1p(-z)

    def log_det_jacobian(self, x):
        ld = jnp.log(self.width) - jax.nn.softplus(-x) - jax.nn.softplus(x)
        return jnp.sum(jnp.broadcast_to(ld, jnp.shape(x)))


class LogisticTransform(SigmoidTransform):
    """Same as :class:`SigmoidTransform` (Jaxley's second name for it)."""


class SoftplusTransform(Transform):
    """``y = lower + softplus(x)``: onto ``(lower, inf)``.

    Beyond ``x > threshold`` softplus is the identity up to ``exp(-threshold)``,
    as in Jaxley; the inverse mirrors it.
    """

    def __init__(self, lower, threshold: float = 20.0):
        self.lower, self.threshold = lower, float(threshold)

    def forward(self, x):
        return self.lower + jnp.where(
            x > self.threshold, x, jax.nn.softplus(jnp.minimum(x, self.threshold))
        )

    def inverse(self, y):
        z = y - self.lower
        return jnp.where(z > self.threshold, z, jnp.log(jnp.expm1(jnp.minimum(z, self.threshold))))

    def log_det_jacobian(self, x):
        ld = jnp.where(x > self.threshold, 0.0, -jax.nn.softplus(-x))
        return jnp.sum(ld)


class NegSoftplusTransform(Transform):
    """``y = upper - softplus(-x)``: onto ``(-inf, upper)``."""

    def __init__(self, upper):
        self.upper = upper

    def forward(self, x):
        return self.upper - jax.nn.softplus(-x)

    def inverse(self, y):
        return -jnp.log(jnp.expm1(self.upper - y))

    def log_det_jacobian(self, x):
        return jnp.sum(-jax.nn.softplus(x))


class ChainTransform(Transform):
    """``transforms[-1](...(transforms[0](x)))``: apply in order."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)
        if not self.transforms:
            raise ValueError("ChainTransform needs at least one transform.")

    def forward(self, x):
        for tf in self.transforms:
            x = tf.forward(x)
        return x

    def inverse(self, y):
        for tf in reversed(self.transforms):
            y = tf.inverse(y)
        return y

    def log_det_jacobian(self, x):
        total = jnp.zeros(())
        for tf in self.transforms:
            total = total + tf.log_det_jacobian(x)
            x = tf.forward(x)
        return total


class MaskedTransform(Transform):
    """``transform`` where ``mask`` is True, identity elsewhere."""

    def __init__(self, mask, transform: Transform) -> None:
        self.mask, self.transform = jnp.asarray(mask, dtype=bool), transform

    def forward(self, x):
        return jnp.where(self.mask, self.transform.forward(x), x)

    def inverse(self, y):
        return jnp.where(self.mask, self.transform.inverse(y), y)

    def log_det_jacobian(self, x):
        x = jnp.asarray(x, dtype=float)
        grads = jax.vmap(jax.grad(lambda xi: jnp.sum(self.transform.forward(xi))))(x.reshape(-1))
        ld = jnp.where(self.mask.reshape(-1), jnp.log(jnp.abs(grads)), 0.0)
        return jnp.sum(ld)


class CustomTransform(Transform):
    """From two functions ``forward_fn`` and its inverse ``inverse_fn`` (log-det by autodiff)."""

    def __init__(self, forward_fn: Callable, inverse_fn: Callable) -> None:
        self.forward_fn, self.inverse_fn = forward_fn, inverse_fn

    def forward(self, x):
        return self.forward_fn(x)

    def inverse(self, y):
        return self.inverse_fn(y)


# Jaxley exposes ``ParamTransform`` from this module too (defined in param_transform.py,
# which imports ``Transform`` from here, hence the import at the end).
from sim.optimize.param_transform import ParamTransform  # noqa: E402

__all__ += ["ParamTransform"]
