"""Likelihoods of recordings given simulator parameters: one small protocol.

A :class:`Likelihood` says how observed recordings ``y`` (``(n_rec, T)``, mV) arise
from a :class:`~inference.model.ForwardModel` at parameter values ``theta`` with
observation noise ``sigma``. :class:`~inference.model.BayesianModel`, MAP, NUTS,
SVI, SBC and the diagnostics only talk to this protocol, so users can add their
own (e.g. a Student-t or a likelihood of summary features) without touching them.

Implementations here:

* :class:`GaussianLikelihood`: deterministic simulation + i.i.d. Gaussian noise;
* :class:`KalmanLikelihood`: the marginal likelihood of an extended (or unscented)
  Kalman filter on the simulator as a state-space model (the same ODE plus process
  noise, :class:`~inference.ssm.NeuronSSM`);
* :class:`FeatureLikelihood`: Gaussian in summary features of the traces
  (:mod:`inference.features`); piecewise constant in the parameters when the
  features count spikes, so meant for gradient-free samplers (SMC).

``likelihood_from_name("gaussian" | "kalman")`` resolves the CLI strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from inference.ssm import NeuronSSM, NoiseModel

if TYPE_CHECKING:
    from inference.model import ForwardModel

__all__ = [
    "Likelihood",
    "GaussianLikelihood",
    "KalmanSpec",
    "KalmanLikelihood",
    "FeatureLikelihood",
    "likelihood_from_name",
]


@runtime_checkable
class Likelihood(Protocol):
    """How recordings arise from parameters; implement these to add a likelihood.

    Attributes:
        name: Short name (stored in results and run fingerprints).
    """

    name: str

    def log_prob(self, forward: ForwardModel, theta: Mapping[str, Any], y, sigma) -> jax.Array:
        """Total log-likelihood of ``y`` (``(n_rec, T)``), a scalar."""
        ...

    def pointwise_log_prob(
        self, forward: ForwardModel, theta: Mapping[str, Any], y, sigma
    ) -> jax.Array:
        """Per-time-step log-likelihood, shape ``(T,)``, summing to :meth:`log_prob`."""
        ...

    def sample(self, key, forward: ForwardModel, theta: Mapping[str, Any], sigma) -> jax.Array:
        """Synthetic observations ``(n_rec, T)`` (posterior predictive, SBC)."""
        ...

    def describe(self) -> dict:
        """A stable, JSON-serialisable description (for run fingerprints)."""
        ...


@dataclass(frozen=True)
class GaussianLikelihood:
    """``y ~ Normal(simulate(theta), sigma)``, independently per sample and recording."""

    name: str = "gaussian"

    def log_prob(self, forward, theta, y, sigma):
        return jnp.sum(self.pointwise_log_prob(forward, theta, y, sigma))

    def pointwise_log_prob(self, forward, theta, y, sigma):
        v = forward.simulate(theta)
        return jnp.sum(dist.Normal(v, sigma).log_prob(y), axis=0)

    def sample(self, key, forward, theta, sigma):
        v = forward.simulate(theta)
        return v + sigma * jax.random.normal(key, v.shape, v.dtype)

    def describe(self) -> dict:
        return {"likelihood": self.name}


@dataclass(frozen=True)
class KalmanSpec:
    """Process noise of the Kalman likelihood (see :class:`inference.ssm.NoiseModel`)."""

    process_std: Mapping[str, float]
    initial_std: Mapping[str, float] | None = None
    default_process_std: float = 1e-4
    default_initial_std: float = 1e-3

    def noise(self, sigma) -> NoiseModel:
        return NoiseModel(
            process_std=self.process_std,
            obs_std=sigma,
            initial_std=self.initial_std,
            default_process_std=self.default_process_std,
            default_initial_std=self.default_initial_std,
        )

    def describe(self) -> dict:
        return {
            "process_std": dict(self.process_std),
            "initial_std": None if self.initial_std is None else dict(self.initial_std),
            "default_process_std": self.default_process_std,
            "default_initial_std": self.default_initial_std,
        }


@dataclass(frozen=True, eq=False)
class KalmanLikelihood:
    """Marginal likelihood ``log p(y)`` of a Kalman filter on the simulator.

    Args:
        spec: Process and initial-state noise per state kind.
        method: ``"ekf"`` or ``"ukf"``.
    """

    spec: KalmanSpec = field(default_factory=lambda: KalmanSpec(process_std={"v": 0.05}))
    method: str = "ekf"
    name: str = "kalman"

    def __post_init__(self) -> None:
        if self.method not in ("ekf", "ukf"):
            raise ValueError(
                f"KalmanLikelihood method must be 'ekf' or 'ukf', got {self.method!r}."
            )
        object.__setattr__(self, "_ssms", {})

    def ssm(self, forward) -> NeuronSSM:
        """The state-space model of ``forward``'s module (built once per forward model)."""
        cache: dict = self._ssms  # type: ignore[attr-defined]
        if id(forward) not in cache:
            cache[id(forward)] = (
                forward,
                NeuronSSM(
                    forward.module,
                    delta_t=forward.delta_t,
                    solver=forward.solver,
                    voltage_solver=forward.voltage_solver,
                ),
            )
        return cache[id(forward)][1]

    def _filter_kwargs(self, forward, theta) -> dict:
        return {"param_state": forward.param_state(theta), "method": self.method}

    def log_prob(self, forward, theta, y, sigma):
        return self.ssm(forward).marginal_log_likelihood(
            jnp.asarray(y).T, self.spec.noise(sigma), **self._filter_kwargs(forward, theta)
        )

    def pointwise_log_prob(self, forward, theta, y, sigma):
        return self.ssm(forward).pointwise_log_likelihood(
            jnp.asarray(y).T, self.spec.noise(sigma), **self._filter_kwargs(forward, theta)
        )

    def sample(self, key, forward, theta, sigma):
        """A draw of the state-space model itself: process noise and observation noise."""
        ssm = self.ssm(forward)
        num_timesteps = int(jax.eval_shape(forward.simulate, theta).shape[-1])
        y = ssm.sample(
            key,
            self.spec.noise(sigma),
            num_timesteps,
            param_state=forward.param_state(theta),
        )
        return y.T

    def describe(self) -> dict:
        return {"likelihood": self.name, "kalman": {**self.spec.describe(), "method": self.method}}


@dataclass(frozen=True, eq=False)
class FeatureLikelihood:
    """Gaussian likelihood of summary features of the traces (:mod:`inference.features`).

    Args:
        windows: Where the features are measured on the simulation's time grid
            (``features.recording_windows``, ``FeatureWindows.shifted``).
        scales: Tolerated discrepancy per feature (``features.feature_scales``).
        observed: The recording's features, when they are measured on another grid
            than the simulation's (e.g. the full-rate recording of a fit simulated
            on a coarser step or a shorter window); ``y`` is then not used. Default:
            the features of ``y`` on ``windows``.

    ``sigma`` is unused (the scales play its role). The likelihood of the observed
    features is one number, so :meth:`pointwise_log_prob` puts it at the last step.
    """

    windows: Any
    scales: Any
    observed: Any = None
    name: str = "features"

    def simulated_features(self, forward, theta) -> jax.Array:
        """Features ``(n_rec, F)`` of the simulation at `theta`."""
        from inference.features import trace_features

        return trace_features(forward.simulate(theta), self.windows)

    def log_prob_of_features(self, simulated, y=None) -> jax.Array:
        """Log-likelihood of the observed features given simulated ones ``(..., F)``."""
        from inference.features import feature_log_lik, trace_features

        if self.observed is not None:
            observed = jnp.asarray(self.observed)
        else:
            observed = trace_features(jnp.asarray(y), self.windows)
        return feature_log_lik(simulated, observed, jnp.asarray(self.scales))

    def log_prob(self, forward, theta, y, sigma):
        return jnp.sum(self.log_prob_of_features(self.simulated_features(forward, theta), y))

    def pointwise_log_prob(self, forward, theta, y, sigma):
        total = self.log_prob(forward, theta, y, sigma)
        n = jnp.shape(y)[-1]
        return jnp.zeros(n, jnp.result_type(total)).at[-1].set(total)

    def sample(self, key, forward, theta, sigma):
        raise TypeError(
            "FeatureLikelihood models features, not traces: it cannot draw synthetic "
            "recordings. Use GaussianLikelihood for predictive traces."
        )

    def describe(self) -> dict:
        out = {"likelihood": self.name, "scales": np.asarray(self.scales).tolist()}
        if self.observed is not None:
            out["observed"] = np.asarray(self.observed).tolist()
        w = self.windows
        out["windows"] = [w.dt, w.stim_on, w.stim_off, w.t0, w.early_ms, w.sub_ms]
        return out


def likelihood_from_name(name: str | Likelihood, *, kalman: KalmanSpec | None = None) -> Likelihood:
    """``"gaussian"`` / ``"kalman"`` (the CLI names) or a :class:`Likelihood` as is."""
    if not isinstance(name, str):
        methods = ("log_prob", "pointwise_log_prob", "sample", "describe")
        missing = [m for m in methods if not hasattr(name, m)]
        if missing or not hasattr(name, "name"):
            raise TypeError(
                f"{type(name).__name__} is not a Likelihood: it lacks "
                f"{missing or ['name']} (see inference.likelihoods.Likelihood)."
            )
        return name
    if name == "gaussian":
        return GaussianLikelihood()
    if name == "kalman":
        return KalmanLikelihood(kalman or KalmanSpec(process_std={"v": 0.05}))
    raise ValueError(
        f"likelihood must be 'gaussian', 'kalman' or a Likelihood object, got {name!r}."
    )
