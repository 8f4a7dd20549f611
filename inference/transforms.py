"""Bijectors from unconstrained reals to a parameter's valid range.

Every parameter with a restricted range (a positive conductance, a gating exponent
in ``[0, 1]``) is optimised and sampled through a bijector ``x = forward(u)`` with
``u`` unconstrained. A bijector is a small frozen dataclass with three methods:

* ``forward(u)``: unconstrained ``u`` -> constrained ``x`` (elementwise);
* ``inverse(x)``: constrained ``x`` -> unconstrained ``u`` (elementwise);
* ``log_det_jacobian(u)``: ``log |dx/du|`` (elementwise, same shape as ``u``).

All three are pure ``jax.numpy`` code: jittable, vmappable and differentiable. Bounds
are plain Python floats checked at construction (``ValueError`` on NaN or an empty
interval), so a bijector can be closed over by jitted functions.

:class:`ParamTransform` maps a dict of named parameters (the ``props`` of dynamax: one
bijector per name) and is the single bridge between constrained parameters, optax
and MCMC: a density over ``x`` becomes a density over ``u`` by adding
:meth:`ParamTransform.log_det_jac`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array

__all__ = [
    "Bijector",
    "Exp",
    "Identity",
    "ParamTransform",
    "Sigmoid",
    "Softplus",
    "SoftplusUpper",
    "bijector_for_bounds",
    "ListParamsTransform",
]


def _as_float(x: Any) -> Array:
    """``x`` as a strongly typed floating-point array (integers become the default
    float dtype). Dropping JAX's weak type keeps a parameter's dtype fixed however it
    was given (Python float or array), e.g. across a checkpoint round trip."""
    dtype = jnp.result_type(x)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(float)
    return jnp.asarray(x, dtype=dtype)


def _tiny(x: Array) -> Array:
    return jnp.asarray(jnp.finfo(x.dtype).tiny, dtype=x.dtype)


def _check_bound(name: str, value: Any, *, finite: bool) -> float:
    """``value`` as a float; ``ValueError`` if NaN (or infinite when ``finite``)."""
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a real number, got {value!r}") from err
    if math.isnan(value):
        raise ValueError(f"{name} must not be NaN")
    if finite and math.isinf(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


@dataclass(frozen=True)
class Bijector(ABC):
    """A smooth elementwise bijection from the real line onto a parameter range."""

    @abstractmethod
    def forward(self, u: Any) -> Array:
        """Map unconstrained ``u`` to the constrained range."""

    @abstractmethod
    def inverse(self, x: Any) -> Array:
        """Map constrained ``x`` back to the real line."""

    @abstractmethod
    def log_det_jacobian(self, u: Any) -> Array:
        """``log |d forward(u) / du|``, elementwise."""


@dataclass(frozen=True)
class Identity(Bijector):
    """``x = u`` for unbounded parameters."""

    def forward(self, u: Any) -> Array:
        return _as_float(u)

    def inverse(self, x: Any) -> Array:
        return _as_float(x)

    def log_det_jacobian(self, u: Any) -> Array:
        return jnp.zeros_like(_as_float(u))


@dataclass(frozen=True)
class Exp(Bijector):
    """``x = low + exp(u)`` onto ``(low, inf)``: a log scale, good for parameters
    spanning decades (conductances, time constants)."""

    low: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "low", _check_bound("low", self.low, finite=True))

    def forward(self, u: Any) -> Array:
        return self.low + jnp.exp(_as_float(u))

    def inverse(self, x: Any) -> Array:
        x = _as_float(x)
        return jnp.log(jnp.maximum(x - self.low, _tiny(x)))

    def log_det_jacobian(self, u: Any) -> Array:
        return _as_float(u)


@dataclass(frozen=True)
class Softplus(Bijector):
    """``x = low + log(1 + exp(u))`` onto ``(low, inf)``: linear for large ``u``."""

    low: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "low", _check_bound("low", self.low, finite=True))

    def forward(self, u: Any) -> Array:
        return self.low + jax.nn.softplus(_as_float(u))

    def inverse(self, x: Any) -> Array:
        x = _as_float(x)
        y = jnp.maximum(x - self.low, _tiny(x))
        # log(exp(y) - 1) without overflow for large y
        return y + jnp.log(-jnp.expm1(-y))

    def log_det_jacobian(self, u: Any) -> Array:
        return jax.nn.log_sigmoid(_as_float(u))


@dataclass(frozen=True)
class SoftplusUpper(Bijector):
    """``x = high - log(1 + exp(u))`` onto ``(-inf, high)``."""

    high: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "high", _check_bound("high", self.high, finite=True))

    def forward(self, u: Any) -> Array:
        return self.high - jax.nn.softplus(_as_float(u))

    def inverse(self, x: Any) -> Array:
        x = _as_float(x)
        y = jnp.maximum(self.high - x, _tiny(x))
        return y + jnp.log(-jnp.expm1(-y))

    def log_det_jacobian(self, u: Any) -> Array:
        return jax.nn.log_sigmoid(_as_float(u))


@dataclass(frozen=True)
class Sigmoid(Bijector):
    """``x = low + (high - low) * sigmoid(u)`` onto ``(low, high)``.

    The forward map is evaluated from the nearer bound (``high - w * sigmoid(-u)`` for
    ``u > 0``), the inverse as ``log(x - low) - log(high - x)``, and the log-Jacobian
    with log-sigmoids, so that none of them overflows for large ``|u|``. Points on a
    bound (reached in floating point for ``|u|`` beyond ~17 in float32, ~37 in
    float64) invert to a large finite ``u`` instead of ``inf``.
    """

    low: float = 0.0
    high: float = 1.0

    def __post_init__(self) -> None:
        low = _check_bound("low", self.low, finite=True)
        high = _check_bound("high", self.high, finite=True)
        if not low < high:
            raise ValueError(f"Sigmoid needs low < high, got low={low}, high={high}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def forward(self, u: Any) -> Array:
        u = _as_float(u)
        width = self.high - self.low
        from_low = self.low + width * jax.nn.sigmoid(u)
        from_high = self.high - width * jax.nn.sigmoid(-u)
        return jnp.where(u > 0, from_high, from_low)

    def inverse(self, x: Any) -> Array:
        x = _as_float(x)
        above_low = jnp.maximum(x - self.low, _tiny(x))
        below_high = jnp.maximum(self.high - x, _tiny(x))
        return jnp.log(above_low) - jnp.log(below_high)

    def log_det_jacobian(self, u: Any) -> Array:
        u = _as_float(u)
        log_width = math.log(self.high - self.low)
        return log_width + jax.nn.log_sigmoid(u) + jax.nn.log_sigmoid(-u)


def bijector_for_bounds(
    low: float | None = None, high: float | None = None, *, log_scale: bool = False
) -> Bijector:
    """The bijector for the open interval ``(low, high)``; ``None`` means unbounded.

    * ``(-inf, inf)``: :class:`Identity`;
    * ``(low, inf)``: :class:`Softplus` (or :class:`Exp` with ``log_scale=True``);
    * ``(-inf, high)``: :class:`SoftplusUpper`;
    * ``(low, high)``: :class:`Sigmoid`.

    Raises:
        ValueError: a bound is NaN, or ``low >= high``.
    """
    low = -math.inf if low is None else _check_bound("low", low, finite=False)
    high = math.inf if high is None else _check_bound("high", high, finite=False)
    if not low < high:
        raise ValueError(f"bounds need low < high, got low={low}, high={high}")
    low_finite, high_finite = math.isfinite(low), math.isfinite(high)
    if low_finite and high_finite:
        return Sigmoid(low, high)
    if low_finite:
        return Exp(low) if log_scale else Softplus(low)
    if high_finite:
        return SoftplusUpper(high)
    return Identity()


@dataclass(frozen=True)
class ParamTransform:
    """One bijector per named parameter (dynamax's ``props``), applied leafwise.

    A parameter's value may be a scalar, an array or any pytree of arrays; its
    bijector is applied to every leaf. Dicts passed in must have exactly the names of
    :attr:`bijectors` (``ValueError`` otherwise); dicts returned keep that order.
    """

    bijectors: Mapping[str, Bijector] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bijectors = dict(self.bijectors)
        for name, bij in bijectors.items():
            if not isinstance(bij, Bijector):
                raise ValueError(f"bijector for {name!r} is not a Bijector: {bij!r}")
        object.__setattr__(self, "bijectors", bijectors)

    @classmethod
    def from_bounds(
        cls,
        bounds: Mapping[str, tuple[float | None, float | None]],
        *,
        log_scale: bool = False,
    ) -> ParamTransform:
        """Build from ``{name: (low, high)}`` with :func:`bijector_for_bounds`."""
        return cls(
            {
                name: bijector_for_bounds(low, high, log_scale=log_scale)
                for name, (low, high) in bounds.items()
            }
        )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.bijectors)

    def _check_names(self, values: Mapping[str, Any]) -> None:
        missing = [n for n in self.bijectors if n not in values]
        extra = [n for n in values if n not in self.bijectors]
        if missing or extra:
            raise ValueError(
                f"parameter names do not match the transform: missing {missing}, unknown {extra}"
            )

    def _map(self, values: Mapping[str, Any], method: str) -> dict[str, Any]:
        self._check_names(values)
        return {
            name: jax.tree_util.tree_map(getattr(bij, method), values[name])
            for name, bij in self.bijectors.items()
        }

    def to_unconstrained(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Constrained parameters -> unconstrained reals."""
        return self._map(params, "inverse")

    def from_unconstrained(self, u: Mapping[str, Any]) -> dict[str, Any]:
        """Unconstrained reals -> constrained parameters."""
        return self._map(u, "forward")

    def log_det_jac(self, u: Mapping[str, Any]) -> Array:
        """``sum log |dx/du|`` over every element of every parameter (a scalar).

        Add it to a log density over constrained ``x`` to get the density of ``u``.
        """
        terms = self._map(u, "log_det_jacobian")
        leaves = jax.tree_util.tree_leaves(terms)
        if not leaves:
            return jnp.zeros(())
        return sum(jnp.sum(leaf) for leaf in leaves)


class ListParamsTransform:
    """Jaxley's optimisation pattern behind :class:`ParamTransform`'s interface.

    Jaxley users optimise the list of ``{key: array}`` dicts that
    ``module.get_parameters()`` returns, with a ``jx.ParamTransform`` (any object
    with ``forward``/``inverse`` on such lists, and optionally
    ``log_det_jacobian``) or none. This presents that as named parameters
    ``"<position>/<key>"`` so that :func:`inference.optimize.fit` (optax,
    checkpoints, resume) runs it unchanged; :meth:`unflatten` gives the list back.
    """

    def __init__(self, template, transform=None) -> None:
        if not isinstance(template, (list, tuple)) or not all(
            isinstance(d, Mapping) for d in template
        ):
            raise TypeError(
                "Jaxley-style parameters are a list of dicts as get_parameters() returns, "
                f"got {type(template).__name__}."
            )
        if transform is not None and not (
            hasattr(transform, "forward") and hasattr(transform, "inverse")
        ):
            raise TypeError(
                f"{type(transform).__name__} is not a parameter transform: it needs forward "
                "and inverse (e.g. jx.ParamTransform([{'HH_gNa': SigmoidTransform(0, 1)}]))."
            )
        self.layout = tuple(tuple(d) for d in template)
        self.transform = transform

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f"{i}/{key}" for i, keys in enumerate(self.layout) for key in keys)

    def flatten(self, params) -> dict[str, Any]:
        """The list of dicts as ``{"<position>/<key>": value}``."""
        if len(params) != len(self.layout):
            raise ValueError(
                f"expected {len(self.layout)} parameter dicts (as get_parameters() "
                f"returned), got {len(params)}."
            )
        out = {}
        for i, (keys, d) in enumerate(zip(self.layout, params)):
            if tuple(d) != keys:
                raise ValueError(f"parameter dict {i} has keys {list(d)}, expected {list(keys)}.")
            out.update({f"{i}/{key}": d[key] for key in keys})
        return out

    def unflatten(self, values: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Named values back to the list of dicts."""
        return [{key: values[f"{i}/{key}"] for key in keys} for i, keys in enumerate(self.layout)]

    def to_unconstrained(self, params: Mapping[str, Any]) -> dict[str, Any]:
        if self.transform is None:
            return dict(params)
        return self.flatten(self.transform.inverse(self.unflatten(params)))

    def from_unconstrained(self, u: Mapping[str, Any]) -> dict[str, Any]:
        if self.transform is None:
            return dict(u)
        return self.flatten(self.transform.forward(self.unflatten(u)))

    def log_det_jac(self, u: Mapping[str, Any]) -> Array:
        if self.transform is None:
            return jnp.zeros(())
        if not hasattr(self.transform, "log_det_jacobian"):
            raise TypeError(
                f"{type(self.transform).__name__} has no log_det_jacobian; densities in "
                "its unconstrained space need one."
            )
        return self.transform.log_det_jacobian(self.unflatten(u))
