"""Probabilistic models of recordings: priors over ``data_set`` parameters + likelihoods.

:class:`ForwardModel` turns named parameter values into simulated recordings
(through ``data_set`` + ``sim.integrate``); :class:`BayesianModel` adds priors and
a :class:`~inference.likelihoods.Likelihood` (Gaussian, Kalman marginal, summary
features or the user's own) and exposes a numpyro model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from inference.likelihoods import (
    GaussianLikelihood,
    KalmanSpec,
    Likelihood,
    likelihood_from_name,
)
from inference.priors import Param, check_prior
from sim.integrate import integrate

__all__ = [
    "ForwardModel",
    "BayesianModel",
    "KalmanSpec",
    "describe_distribution",
    "observation_sites",
]


@dataclass(frozen=True)
class _Resolved:
    param: Param
    view: Any
    size: int  # 0: scalar site
    group_idx: np.ndarray | None


class ForwardModel:
    """Named parameter values -> simulated recordings of `module` (jittable).

    Args:
        module: a ``sim`` module with its stimuli and recordings set.
        params: the parameters to vary (:class:`Param`).
        delta_t: simulation step (ms); the recording's sampling step.
        t_max: duration (ms); default: the length of the stimulus.
    """

    def __init__(
        self,
        module,
        params: Sequence[Param],
        *,
        delta_t: float = 0.025,
        t_max: float | None = None,
        solver: str = "bwd_euler",
        voltage_solver: str = "jaxley.dhs",
    ):
        self.module = module
        self.delta_t = float(delta_t)
        self.t_max = t_max
        self.solver = solver
        self.voltage_solver = voltage_solver
        names = [p.name for p in params]
        if len(set(names)) != len(names):
            raise ValueError(f"Parameter site names must be unique, got {names}.")
        self.resolved = tuple(self._resolve(p) for p in params)

    def _resolve(self, param: Param) -> _Resolved:
        base = self.module.base
        if param.key not in base.settable_keys():
            raise ValueError(
                f"Unknown parameter {param.key!r} in a prior; the module has "
                f"{sorted(base.settable_keys())}."
            )
        check_prior(param, base)
        if param.where is None:
            view = base
        elif isinstance(param.where, str):
            if param.where not in base.group_names:
                raise ValueError(f"Unknown group {param.where!r}; groups are {base.group_names}.")
            view = getattr(base, param.where)
        else:
            view = param.where
        comps = view._comps_with_key(param.key)
        if param.per is None:
            return _Resolved(param, view, 0, None)
        ids = base.nodes.loc[comps, f"global_{param.per}_index"].to_numpy()
        _, group_idx = np.unique(ids, return_inverse=True)
        return _Resolved(param, view, int(group_idx.max()) + 1, group_idx.reshape(-1))

    @property
    def site_names(self) -> list[str]:
        return [r.param.name for r in self.resolved]

    def site_shapes(self) -> dict[str, tuple[int, ...]]:
        return {r.param.name: (() if r.size == 0 else (r.size,)) for r in self.resolved}

    def param_state(self, theta: Mapping[str, Any]) -> list[dict]:
        """``data_set`` entries for the values in `theta` (keyed by site name)."""
        pstate: list[dict] = []
        for r in self.resolved:
            if r.param.name not in theta:
                raise ValueError(f"No value for parameter {r.param.name!r}.")
            value = jnp.asarray(theta[r.param.name])
            if r.size:
                value = value[r.group_idx]
            pstate = r.view.data_set(r.param.key, value, pstate)
        return pstate

    def simulate(self, theta: Mapping[str, Any]) -> jnp.ndarray:
        """Recordings ``(n_recordings, T)`` for parameter values `theta`."""
        return integrate(
            self.module,
            param_state=self.param_state(theta),
            delta_t=self.delta_t,
            t_max=self.t_max,
            solver=self.solver,
            voltage_solver=self.voltage_solver,
            check=False,  # samplers visit extreme parameters on purpose; no warnings
        )


def describe_distribution(d) -> dict:
    """Class and parameter values of a numpyro distribution (stable across processes)."""
    params = {}
    for name in sorted(getattr(d, "arg_constraints", {})):
        value = getattr(d, name, None)
        if value is not None:
            params[name] = np.asarray(value).tolist()
    base = getattr(d, "base_dist", None)
    out = {"type": type(d).__name__, "params": params}
    if base is not None:
        out["base"] = describe_distribution(base)
    return out


def observation_sites(
    likelihood: Likelihood, forward: ForwardModel, theta, sigma, y, *, suffix: str = ""
) -> None:
    """The numpyro sites of one recording (names end in ``suffix``).

    The Gaussian likelihood is an ``obs`` sample site; other likelihoods add their
    log-likelihood as a ``log_likelihood`` factor. With ``y=None`` (prior or
    posterior predictive, SBC) ``v_sim`` is the simulated trace and ``obs`` a draw of
    the likelihood itself (for the Kalman likelihood: with process noise).
    """
    gaussian = isinstance(likelihood, GaussianLikelihood)
    if y is None or gaussian:
        v = forward.simulate(theta)
        if y is None:
            numpyro.deterministic(f"v_sim{suffix}", v)
        if gaussian:
            numpyro.sample(f"obs{suffix}", dist.Normal(v, sigma).to_event(v.ndim), obs=y)
            return
    if y is None:
        key = numpyro.prng_key()
        if key is None:
            raise ValueError(
                "Drawing observations needs a PRNG key: run the model under "
                "numpyro.handlers.seed or numpyro.infer.Predictive."
            )
        numpyro.deterministic(f"obs{suffix}", likelihood.sample(key, forward, theta, sigma))
        return
    numpyro.factor(f"log_likelihood{suffix}", likelihood.log_prob(forward, theta, y, sigma))


class BayesianModel:
    """Priors + likelihood for observed recordings of a module.

    Args:
        forward: the :class:`ForwardModel`.
        obs_noise: σ of the observation noise (mV): a float (fixed) or a numpyro
            distribution (inferred, site ``"sigma"``).
        likelihood: a :class:`~inference.likelihoods.Likelihood`, or its CLI name
            ``"gaussian"`` / ``"kalman"``.
        kalman: process noise for ``likelihood="kalman"`` (ignored for objects).
    """

    def __init__(
        self,
        forward: ForwardModel,
        *,
        obs_noise: float | Any = 1.0,
        likelihood: str | Likelihood = "gaussian",
        kalman: KalmanSpec | None = None,
    ):
        self.likelihood: Likelihood = likelihood_from_name(likelihood, kalman=kalman)
        if not hasattr(obs_noise, "sample"):
            if not np.isfinite(obs_noise) or float(obs_noise) <= 0:
                raise ValueError(f"obs_noise must be a positive std (mV), got {obs_noise!r}.")
        self.forward = forward
        self.obs_noise = obs_noise

    def describe(self) -> dict:
        """A stable description of priors, likelihood and noise (for run fingerprints)."""
        priors = [
            {
                "site": r.param.name,
                "key": r.param.key,
                "where": r.param.where
                if isinstance(r.param.where, (str, type(None)))
                else sorted(np.asarray(r.view._sel).tolist()),
                "per": r.param.per,
                "prior": describe_distribution(r.param.prior),
            }
            for r in self.forward.resolved
        ]
        noise = self.obs_noise
        return {
            "priors": priors,
            **self.likelihood.describe(),
            "obs_noise": describe_distribution(noise) if hasattr(noise, "sample") else noise,
            "delta_t": self.forward.delta_t,
            "solver": [self.forward.solver, self.forward.voltage_solver],
        }

    @property
    def site_names(self) -> list[str]:
        extra = ["sigma"] if hasattr(self.obs_noise, "sample") else []
        return self.forward.site_names + extra

    def sample_params(self) -> dict:
        theta = {}
        for r in self.forward.resolved:
            prior = r.param.prior if r.size == 0 else r.param.prior.expand([r.size]).to_event(1)
            theta[r.param.name] = numpyro.sample(r.param.name, prior)
        return theta

    def _sigma(self):
        if hasattr(self.obs_noise, "sample"):
            return numpyro.sample("sigma", self.obs_noise)
        return self.obs_noise

    def log_likelihood(self, theta: Mapping[str, Any], y, sigma) -> jnp.ndarray:
        """Total log-likelihood of observations `y` (shape (n_rec, T))."""
        return self.likelihood.log_prob(self.forward, theta, y, sigma)

    def pointwise_log_likelihood(self, theta: Mapping[str, Any], y, sigma) -> jnp.ndarray:
        """Per-observation log-likelihood, shape (T,) (summed over recordings)."""
        return self.likelihood.pointwise_log_prob(self.forward, theta, y, sigma)

    def __call__(self, y=None):
        """The numpyro model. `y`: observations (n_rec, T), or None to sample them
        (sites as :func:`observation_sites` describes)."""
        theta = self.sample_params()
        observation_sites(self.likelihood, self.forward, theta, self._sigma(), y)

    def check_observations(self, y) -> jnp.ndarray:
        """Validate observations against the simulated shape."""
        y = jnp.asarray(y)
        if y.ndim == 1:
            y = y[None]
        shape = jax.eval_shape(self.forward.simulate, self.prior_median()).shape
        if y.shape != tuple(shape):
            raise ValueError(
                f"Observations have shape {tuple(y.shape)} but the model simulates "
                f"{tuple(shape)}; check dt, duration and recordings."
            )
        if not bool(jnp.all(jnp.isfinite(y))):
            raise ValueError("Observations contain NaN or inf values.")
        return y

    def prior_median(self) -> dict:
        out = {}
        for r in self.forward.resolved:
            samples = r.param.prior.sample(jax.random.PRNGKey(0), (201,))
            med = jnp.median(samples)
            out[r.param.name] = med if r.size == 0 else jnp.full(r.size, med)
        return out
