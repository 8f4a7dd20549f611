"""Priors over simulator parameters, and the checks that keep them inside valid ranges.

A :class:`Param` names a ``data_set`` key (e.g. ``"HH_gNa"``), a numpyro prior, and
*where* it applies: the whole module, a view or a group, with one shared value or
one value per cell / branch / compartment of that selection (``per=``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpyro.distributions import constraints

from sim.modules.parameters import POSITIVE_PARAMS

POSITIVE_KEYS = POSITIVE_PARAMS


@dataclass(frozen=True)
class Param:
    """A parameter to infer.

    Attributes:
        key: the ``data_set`` key (a parameter of the module, e.g. ``"HH_gNa"``).
        prior: a numpyro distribution (scalar); expanded to one value per element if
            ``per`` is set.
        where: ``None`` (the whole module), a view (``cell.branch(1)``) or a group name
            (``"soma"``).
        per: ``None`` (one value shared by all selected compartments) or ``"cell"``,
            ``"branch"``, ``"comp"`` (one value per element of the selection).
        site: name of the posterior variable (default: ``key``, or ``key_<group>``).
        bounds: valid range of the parameter; inferred from the key when ``None``.
    """

    key: str
    prior: Any
    where: Any = None
    per: str | None = None
    site: str | None = None
    bounds: tuple[float, float] | None = None
    meta: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        if self.site:
            return self.site
        if isinstance(self.where, str):
            return f"{self.key}_{self.where}"
        return self.key


def valid_range(key: str, module=None) -> tuple[float, float]:
    """The range a parameter may take, as the simulator declares it.

    Geometry (radius, length, ...) must be > 0; mechanism parameters and states
    take the ``param_bounds`` / ``state_bounds`` their channel, synapse or pump
    declares (``sim.channels.Channel``); keys without a declaration are unbounded.
    No range is ever guessed from how a key is spelled.
    """
    if key in POSITIVE_KEYS:
        return (0.0, math.inf)
    if module is not None:
        bounds = module.base.key_bounds(key)
        if bounds is not None:
            return bounds
    return (-math.inf, math.inf)


def support_interval(support) -> tuple[float, float]:
    """(lower, upper) of a numpyro constraint (scalar supports only)."""
    if support is constraints.real:
        return (-math.inf, math.inf)
    if support in (constraints.positive, constraints.softplus_positive):
        return (0.0, math.inf)
    if support is constraints.nonnegative:
        return (0.0, math.inf)
    if support is constraints.unit_interval:
        return (0.0, 1.0)
    low = getattr(support, "lower_bound", -math.inf)
    high = getattr(support, "upper_bound", math.inf)
    try:
        return (float(np.min(low)), float(np.max(high)))
    except (TypeError, ValueError) as err:
        raise ValueError(f"Cannot determine the support {support!r} of a prior.") from err


def check_prior(param: Param, module) -> None:
    """Raise a clear error if the prior is not scalar or its support leaves the valid range."""
    if not hasattr(param.prior, "support") or not hasattr(param.prior, "sample"):
        raise TypeError(f"The prior of {param.key!r} must be a numpyro distribution.")
    if param.prior.batch_shape or param.prior.event_shape:
        raise ValueError(
            f"The prior of {param.key!r} must be scalar (use per='branch' etc. for vectors), "
            f"got batch {param.prior.batch_shape}, event {param.prior.event_shape}."
        )
    low, high = param.bounds or valid_range(param.key, module)
    s_low, s_high = support_interval(param.prior.support)
    if s_low < low or s_high > high:
        raise ValueError(
            f"The prior {type(param.prior).__name__} of {param.key!r} has support "
            f"[{s_low}, {s_high}] but the parameter must lie in [{low}, {high}]; use a "
            "prior restricted to that range (e.g. LogNormal or Uniform for conductances)."
        )
    if param.per not in (None, "cell", "branch", "comp"):
        raise ValueError(f"per must be None, 'cell', 'branch' or 'comp', got {param.per!r}.")
