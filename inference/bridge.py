"""The one route between a model's parameters and unconstrained space.

A :class:`Bridge` reads the latent sample sites of a numpyro model of observations
(a :class:`~inference.model.BayesianModel`, a
:class:`~inference.multisweep.MultiSweepModel` or any ``model(y)``), gives every site
the bijector of its prior's support (:func:`bijector_for_support`) in one
:class:`~inference.transforms.ParamTransform`, and builds the potential energy every
sampler and optimiser works with::

    potential(u) = -(log p(y, x) + log |dx/du|),   x = transform.from_unconstrained(u)

MAP (:func:`inference.sampling.find_map`), the Laplace approximation, NUTS (a numpyro
kernel given this potential), SVI (a Gaussian guide over ``u``), tempered SMC
(:mod:`inference.smc`) and SBC all go through it; :func:`inference.optimize.fit`
(optax) takes a ``ParamTransform`` of the same kind. So there is exactly one place
that decides how a bounded parameter is unconstrained: the bijectors below, which
are the ones numpyro would choose (``exp`` for positive parameters, a scaled sigmoid
for intervals), so numpyro's and our densities over ``u`` agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.handlers import seed as seed_handler
from numpyro.handlers import trace
from numpyro.infer.util import log_density

from inference.transforms import (
    Bijector,
    Exp,
    Identity,
    ParamTransform,
    Sigmoid,
    SoftplusUpper,
)

__all__ = ["Bridge", "bijector_for_support", "bridge_for"]


def _bound(value, name: str, support) -> float:
    arr = np.asarray(value, dtype=float)
    if arr.size != 1 and not np.all(arr == arr.reshape(-1)[0]):
        raise ValueError(
            f"The prior support {support!r} has a {name} that differs between elements; "
            "only supports with one scalar bound per site are supported."
        )
    return float(arr.reshape(-1)[0])


def bijector_for_support(support) -> Bijector:
    """The bijector from the real line onto a numpyro constraint (numpyro's choice).

    ``real`` -> identity; ``positive`` / ``nonnegative`` / ``greater_than(a)`` ->
    ``a + exp(u)``; ``interval(a, b)`` / ``unit_interval`` -> scaled sigmoid;
    ``less_than(b)`` -> ``b - softplus(u)``. Vector supports (``real_vector``) and
    ``independent`` wrappers use the bijector of their base, elementwise.

    Raises:
        ValueError: for any other support (simplex, discrete, ...), naming it.
    """
    base = getattr(support, "base_constraint", None)
    if base is not None:  # constraints.independent(c, n)
        return bijector_for_support(base)
    if support in (constraints.real, constraints.real_vector):
        return Identity()
    if support in (constraints.positive, constraints.nonnegative):
        return Exp(0.0)
    if support is constraints.unit_interval:
        return Sigmoid(0.0, 1.0)
    if isinstance(support, constraints.interval):  # also open/half-open intervals
        low = _bound(support.lower_bound, "lower bound", support)
        high = _bound(support.upper_bound, "upper bound", support)
        return Sigmoid(low, high)
    if isinstance(support, constraints.greater_than):
        return Exp(_bound(support.lower_bound, "lower bound", support))
    if isinstance(support, constraints.less_than):
        return SoftplusUpper(_bound(support.upper_bound, "upper bound", support))
    raise ValueError(
        f"No bijector for the prior support {support!r}: priors must be continuous on the "
        "real line, a half-line or an interval (Normal, LogNormal, HalfNormal, Uniform, "
        "TruncatedNormal, ...)."
    )


class Bridge:
    """Unconstrained space of a numpyro model of observations ``y``.

    Args:
        model: ``model(y)``, a numpyro model whose latent sample sites are the
            parameters (observed sites and factors give the likelihood).
        y: the observations (or a template of their shape, see :meth:`potential`).
        seed: seed of the one prior trace that finds the sites and their shapes.

    Attributes:
        transform: one bijector per latent site (a :class:`ParamTransform`).
        shapes: site -> shape of its value.
    """

    def __init__(self, model: Callable, y: Any, *, seed: int = 0) -> None:
        self.model = model
        self.y = y
        sites = trace(seed_handler(model, seed)).get_trace(y)
        latent = {
            name: site
            for name, site in sites.items()
            if site["type"] == "sample" and not site["is_observed"]
        }
        if not latent:
            raise ValueError("The model has no latent sample sites (nothing to infer).")
        self.shapes: dict[str, tuple[int, ...]] = {
            name: tuple(np.shape(site["value"])) for name, site in latent.items()
        }
        self.transform = ParamTransform(
            {name: bijector_for_support(site["fn"].support) for name, site in latent.items()}
        )

    @property
    def names(self) -> tuple[str, ...]:
        return self.transform.names

    def to_unconstrained(self, x: Mapping[str, Any]) -> dict[str, Any]:
        return self.transform.to_unconstrained({n: x[n] for n in self.names})

    def from_unconstrained(self, u: Mapping[str, Any]) -> dict[str, Any]:
        return self.transform.from_unconstrained(u)

    def to_unconstrained_sites(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Constrained values of some of the sites -> their unconstrained values.

        Unlike :meth:`to_unconstrained`, `values` need not hold every site (e.g. the
        initial values of a few of them); each is mapped by its site's bijector.

        Raises:
            ValueError: naming the sites of `values` that are not latent sites of the model.
        """
        unknown = sorted(n for n in values if n not in self.transform.bijectors)
        if unknown:
            raise ValueError(
                f"No latent sites {unknown} in the model; its sites are {list(self.names)}."
            )
        bijectors = self.transform.bijectors
        return {n: jax.tree_util.tree_map(bijectors[n].inverse, v) for n, v in values.items()}

    def log_joint(self, x: Mapping[str, Any], y: Any = None) -> jax.Array:
        """``log p(y, x)`` at constrained values `x` (default `y`: the bridge's)."""
        y = self.y if y is None else y
        with numpyro.handlers.block():  # invisible to handlers outside (a model over u)
            value, _ = log_density(self.model, (y,), {}, dict(x))
        return jnp.asarray(value)

    def potential(self, u: Mapping[str, Any], y: Any = None) -> jax.Array:
        """Negative log density of ``u`` (Jacobian included); ``+inf`` where not finite."""
        x = self.from_unconstrained(u)
        value = -(self.log_joint(x, y) + self.transform.log_det_jac(u))
        return jnp.where(jnp.isnan(value), jnp.inf, value)

    def zeros(self, batch: tuple[int, ...] = ()) -> dict[str, jax.Array]:
        """``u = 0`` for every site (with leading `batch` axes): a shape template."""
        return {n: jnp.zeros(batch + s) for n, s in self.shapes.items()}

    def uniform_init(self, key, num: int, radius: float = 2.0) -> dict[str, jax.Array]:
        """`num` starts ``u ~ U(-radius, radius)`` elementwise (numpyro's default)."""
        keys = jax.random.split(key, len(self.names))
        return {
            n: jax.random.uniform(k, (num,) + self.shapes[n], minval=-radius, maxval=radius)
            for k, n in zip(keys, self.names)
        }

    def unconstrained_model(self) -> Callable:
        """A numpyro model over ``u`` (improper flat sites + the potential as a factor),
        for guides that should live in this space (SVI)."""

        def model(y=None):
            u = {
                n: numpyro.sample(n, dist.ImproperUniform(constraints.real_vector, (), s))
                if s
                else numpyro.sample(n, dist.ImproperUniform(constraints.real, (), ()))
                for n, s in self.shapes.items()
            }
            numpyro.factor("log_density", -self.potential(u, y))

        return model


def _same_data(a, b) -> bool:
    """Whether the observations `a` and `b` are the same (identical, or equal arrays)."""
    if a is b:
        return True
    leaves_a, tree_a = jax.tree_util.tree_flatten(a)
    leaves_b, tree_b = jax.tree_util.tree_flatten(b)
    return tree_a == tree_b and all(
        np.shape(p) == np.shape(q) and np.array_equal(np.asarray(p), np.asarray(q))
        for p, q in zip(leaves_a, leaves_b)
    )


def bridge_for(model, y, seed: int, bridge: Bridge | None) -> Bridge:
    """`bridge` if given (checked to be of `model` and `y`), else a new one.

    What the inference functions that take ``bridge=`` call, so that one run traces
    its model into a bridge once.

    Raises:
        ValueError: if `bridge` was built for another model or other observations.
    """
    if bridge is None:
        return Bridge(model, y, seed=seed)
    if bridge.model is not model:
        raise ValueError("The bridge given was built for another model than the one given.")
    if not _same_data(bridge.y, y):
        raise ValueError("The bridge given was built for other observations than the y given.")
    return bridge
