"""Multi-sweep models: one cell, several recordings (sweeps) fitted at once.

A cell is usually recorded under several stimuli (e.g. current steps of 0.01, 0.02
and 0.03 nA). :class:`MultiSweepModel` fits all of them with one set of parameters:

* the parameters of the cell (conductances, ...) are shared: one numpyro site each,
  one prior each, exactly as in :class:`~inference.model.BayesianModel`;
* each sweep ``k`` has its own observation noise σ_k (mV): fixed, or inferred with
  its own site ``sigma_k`` (``sigma_0``, ``sigma_1``, ...);
* each sweep has its own :class:`~inference.model.ForwardModel` (the same module
  structure, its own stimulus and duration), so sweeps of different length need no
  padding: the log-likelihood is the sum of the per-sweep log-likelihoods
  (independent noise), each computed on its own grid.

Observations are a sequence with one array per sweep, each ``(n_rec, T_k)`` (or
``(T_k,)``). The model presents the interface of :class:`BayesianModel` that
:func:`~inference.sampling.find_map`, :func:`~inference.laplace.laplace`,
:func:`~inference.sampling.run_nuts`, :func:`~inference.sampling.run_svi` and
:func:`~inference.diagnostics.to_inference_data` use; numpyro sites are the shared
parameters, ``sigma_k`` (if inferred), ``obs_k`` (Gaussian likelihood) or the factor
``log_likelihood_k`` (other likelihoods) and, without observations, ``v_sim_k``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
import numpyro

from inference.likelihoods import KalmanSpec, Likelihood, likelihood_from_name
from inference.model import BayesianModel, ForwardModel, describe_distribution, observation_sites
from inference.priors import Param

__all__ = ["MultiSweepModel", "module_structure"]


def module_structure(module) -> dict:
    """What must agree between the sweeps of one cell: compartments, channels, recordings.

    Stimuli, durations and parameter *values* may differ between sweeps; the number
    of compartments, the inserted channels (per compartment) and the recorded states
    (where and which) may not.
    """
    base = module.base
    channels = [c.name for c in base.channels]
    inserted = base.nodes[channels].to_numpy(dtype=bool).tolist() if channels else []
    recordings = [
        (int(i), str(s)) for i, s in zip(base.recordings["rec_index"], base.recordings["state"])
    ]
    return {
        "type": type(base).__name__,
        "num_compartments": int(len(base.nodes)),
        "channels": channels,
        "inserted": inserted,
        "recordings": recordings,
    }


def _short(value, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_forwards(forwards: Sequence[ForwardModel]) -> tuple[ForwardModel, ...]:
    """The sweeps' forward models, checked to describe one cell with the same parameters."""
    forwards = tuple(forwards)
    if not forwards:
        raise ValueError("A MultiSweepModel needs at least one sweep (ForwardModel), got none.")
    for k, f in enumerate(forwards):
        if not isinstance(f, ForwardModel):
            raise TypeError(f"Sweep {k} must be a ForwardModel, got {type(f).__name__}.")
    ref = module_structure(forwards[0].module)
    ref_priors = BayesianModel(forwards[0]).describe()["priors"]
    for k, f in enumerate(forwards[1:], start=1):
        here = module_structure(f.module)
        diff = [key for key in ref if here[key] != ref[key]]
        if diff:
            shown = "; ".join(
                f"{key}: sweep 0 {_short(ref[key])}, sweep {k} {_short(here[key])}" for key in diff
            )
            raise ValueError(
                f"Sweep {k} is not a recording of the same cell as sweep 0: the modules differ "
                f"in {shown}. All sweeps must use modules of the same structure (only the "
                "stimulus and the duration may differ)."
            )
        if f.site_names != forwards[0].site_names or f.site_shapes() != forwards[0].site_shapes():
            raise ValueError(
                f"Sweep {k} has parameter sites {f.site_shapes()}, sweep 0 has "
                f"{forwards[0].site_shapes()}: the parameters are shared and must be the same."
            )
        if BayesianModel(f).describe()["priors"] != ref_priors:
            raise ValueError(
                f"Sweep {k} has other priors (or parameter locations) than sweep 0; shared "
                "parameters need one prior each. Build every ForwardModel from the same Params "
                "(MultiSweepModel.from_modules does)."
            )
    return forwards


def _per_sweep_noise(obs_noise, num_sweeps: int) -> list:
    """One σ (float, mV) or σ prior (numpyro distribution) per sweep."""
    if hasattr(obs_noise, "sample") or np.ndim(obs_noise) == 0:
        return [obs_noise] * num_sweeps
    try:
        noises = list(obs_noise)
    except TypeError as err:
        raise TypeError(
            "obs_noise must be a std in mV, a numpyro distribution, or a sequence of those "
            f"(one per sweep), got {obs_noise!r}."
        ) from err
    if len(noises) != num_sweeps:
        raise ValueError(
            f"obs_noise has {len(noises)} entries but there are {num_sweeps} sweeps; give one "
            "σ (mV) or σ prior per sweep, or a single one for all."
        )
    return noises


class MultiSweepModel:
    """Shared parameters, per-sweep noise: one cell recorded under several stimuli.

    Args:
        forwards: one :class:`ForwardModel` per sweep, all of modules with the same
            structure (:func:`module_structure`) and the same parameter sites/priors.
        obs_noise: σ of the observation noise (mV) of every sweep, or one per sweep;
            each a float (fixed) or a numpyro distribution (inferred: site ``sigma_k``).
        likelihood: a :class:`~inference.likelihoods.Likelihood` or ``"gaussian"`` /
            ``"kalman"``; the same for every sweep.
        kalman: process noise for ``likelihood="kalman"``.

    Raises:
        ValueError: if the sweeps are not of the same cell or parameters, or the
            number of noise entries differs from the number of sweeps.
    """

    def __init__(
        self,
        forwards: Sequence[ForwardModel],
        *,
        obs_noise: float | Any | Sequence[float | Any] = 1.0,
        likelihood: str | Likelihood = "gaussian",
        kalman: KalmanSpec | None = None,
    ):
        forwards = _check_forwards(forwards)
        self.likelihood: Likelihood = likelihood_from_name(likelihood, kalman=kalman)
        noises = _per_sweep_noise(obs_noise, len(forwards))
        self.sweeps: tuple[BayesianModel, ...] = tuple(
            BayesianModel(f, obs_noise=n, likelihood=self.likelihood)
            for f, n in zip(forwards, noises)
        )

    @classmethod
    def from_modules(
        cls,
        modules: Sequence[Any],
        params: Sequence[Param],
        *,
        delta_t: float = 0.025,
        t_max: float | Sequence[float | None] | None = None,
        solver: str = "bwd_euler",
        voltage_solver: str = "jaxley.dhs",
        **model_kwargs,
    ) -> MultiSweepModel:
        """One :class:`ForwardModel` per module (same `params`), then the model.

        Args:
            modules: one ``sim`` module per sweep, each with its own stimulus and
                the same recordings.
            params: the shared parameters (``where`` must be a group name or None:
                a view belongs to one module).
            delta_t: simulation step (ms); t_max: duration (ms), one for all or one
                per sweep (default: each stimulus's length).
            model_kwargs: ``obs_noise``, ``likelihood``, ``kalman``.
        """
        modules = list(modules)
        t_maxes = list(t_max) if isinstance(t_max, Sequence) else [t_max] * len(modules)
        if len(t_maxes) != len(modules):
            raise ValueError(f"t_max has {len(t_maxes)} entries for {len(modules)} modules.")
        for p in params:
            if p.where is not None and not isinstance(p.where, str):
                raise ValueError(
                    f"Param {p.name!r}: `where` must be a group name (or None) in a multi-sweep "
                    "model, since a view belongs to a single module."
                )
        forwards = [
            ForwardModel(
                m, params, delta_t=delta_t, t_max=t, solver=solver, voltage_solver=voltage_solver
            )
            for m, t in zip(modules, t_maxes)
        ]
        return cls(forwards, **model_kwargs)

    # ------------------------------------------------------------------ description
    @property
    def num_sweeps(self) -> int:
        return len(self.sweeps)

    @property
    def forwards(self) -> tuple[ForwardModel, ...]:
        return tuple(s.forward for s in self.sweeps)

    @property
    def forward(self) -> ForwardModel:
        """Sweep 0's forward model (its site names and shapes are every sweep's)."""
        return self.sweeps[0].forward

    @property
    def obs_noise(self) -> tuple:
        """σ (mV) or σ prior per sweep."""
        return tuple(s.obs_noise for s in self.sweeps)

    def sigma_site(self, k: int) -> str | None:
        """The numpyro site of sweep `k`'s σ, or None if it is fixed."""
        return f"sigma_{k}" if hasattr(self.sweeps[k].obs_noise, "sample") else None

    @property
    def site_names(self) -> list[str]:
        sigmas = [self.sigma_site(k) for k in range(self.num_sweeps)]
        return self.forward.site_names + [s for s in sigmas if s is not None]

    def describe(self) -> dict:
        """Stable description (run fingerprints): shared priors, per-sweep noise and grid."""
        first = self.sweeps[0].describe()
        return {
            **first,
            "num_sweeps": self.num_sweeps,
            "obs_noise": [
                describe_distribution(n) if hasattr(n, "sample") else n for n in self.obs_noise
            ],
            "delta_t": [s.forward.delta_t for s in self.sweeps],
            "t_max": [s.forward.t_max for s in self.sweeps],
        }

    # ------------------------------------------------------------------ numpyro model
    def sample_params(self) -> dict:
        """The shared parameter sites (one prior each)."""
        return self.sweeps[0].sample_params()

    def _sigmas(self) -> list:
        return [
            numpyro.sample(name, s.obs_noise) if (name := self.sigma_site(k)) else s.obs_noise
            for k, s in enumerate(self.sweeps)
        ]

    def _as_sweeps(self, y) -> tuple:
        if isinstance(y, (str, bytes)) or not isinstance(y, Sequence):
            raise ValueError(
                f"Multi-sweep observations must be a list or tuple with one array per sweep "
                f"({self.num_sweeps}), got {type(y).__name__}."
            )
        if len(y) != self.num_sweeps:
            raise ValueError(
                f"Got {len(y)} observed sweeps for a model of {self.num_sweeps} sweeps; give one "
                "recording per sweep, in the order of the model's sweeps."
            )
        return tuple(y)

    def __call__(self, y=None):
        """The numpyro model; `y`: one array ``(n_rec, T_k)`` per sweep, or None to sample."""
        theta = self.sample_params()
        sigmas = self._sigmas()
        ys = (None,) * self.num_sweeps if y is None else self._as_sweeps(y)
        for k, (sweep, sigma, yk) in enumerate(zip(self.sweeps, sigmas, ys)):
            self._sweep_sites(k, sweep, theta, sigma, yk)

    def _sweep_sites(self, k: int, sweep: BayesianModel, theta, sigma, y) -> None:
        """Sweep `k`'s sites: as :meth:`BayesianModel.__call__` with ``_k`` names."""
        observation_sites(self.likelihood, sweep.forward, theta, sigma, y, suffix=f"_{k}")

    # ------------------------------------------------------------------ likelihoods
    def _sigma_list(self, sigmas) -> list:
        if sigmas is None:
            return [s.obs_noise for s in self.sweeps]
        if not isinstance(sigmas, Sequence) and jnp.ndim(sigmas) == 0:
            return [sigmas] * self.num_sweeps
        sigmas = list(sigmas)
        if len(sigmas) != self.num_sweeps:
            raise ValueError(f"Got {len(sigmas)} sigmas for {self.num_sweeps} sweeps.")
        return sigmas

    def sweep_log_likelihoods(self, theta: Mapping[str, Any], y, sigmas=None) -> jnp.ndarray:
        """Log-likelihood of each sweep, shape ``(num_sweeps,)``.

        Args:
            theta: shared parameter values by site name.
            y: one observation array ``(n_rec, T_k)`` per sweep.
            sigmas: σ_k (mV) per sweep, one σ for all, or None (the fixed values).
        """
        ys = self._as_sweeps(y)
        return jnp.stack(
            [
                s.log_likelihood(theta, yk, sk)
                for s, yk, sk in zip(self.sweeps, ys, self._sigma_list(sigmas))
            ]
        )

    def log_likelihood(self, theta: Mapping[str, Any], y, sigmas=None) -> jnp.ndarray:
        """Total log-likelihood: the sum over sweeps (independent noise)."""
        return jnp.sum(self.sweep_log_likelihoods(theta, y, sigmas))

    def pointwise_log_likelihood(self, theta: Mapping[str, Any], y, sigmas=None) -> tuple:
        """Per-time-step log-likelihood of each sweep: a tuple of ``(T_k,)`` arrays."""
        ys = self._as_sweeps(y)
        return tuple(
            s.pointwise_log_likelihood(theta, yk, sk)
            for s, yk, sk in zip(self.sweeps, ys, self._sigma_list(sigmas))
        )

    def simulate(self, theta: Mapping[str, Any]) -> tuple:
        """Simulated recordings of every sweep: a tuple of ``(n_rec, T_k)`` arrays."""
        return tuple(s.forward.simulate(theta) for s in self.sweeps)

    def check_observations(self, y) -> tuple:
        """Validate one observation array per sweep (count, shape, finiteness).

        Returns:
            A tuple of ``(n_rec, T_k)`` arrays.

        Raises:
            ValueError: naming the sweep whose observations do not fit.
        """
        out = []
        for k, (sweep, yk) in enumerate(zip(self.sweeps, self._as_sweeps(y))):
            try:
                out.append(sweep.check_observations(yk))
            except ValueError as err:
                raise ValueError(f"Sweep {k}: {err}") from err
        return tuple(out)

    def prior_median(self) -> dict:
        """Prior medians of the shared parameters."""
        return self.sweeps[0].prior_median()
