"""Probabilistic inference on top of ``sim``: the public names, imported lazily.

* models: :class:`Param` (a prior over a ``data_set`` parameter), :class:`ForwardModel`,
  :class:`BayesianModel`, :class:`MultiSweepModel` (several recordings of one cell);
* likelihoods: the :class:`Likelihood` protocol, :class:`GaussianLikelihood`,
  :class:`KalmanLikelihood` (+ :class:`KalmanSpec`), :class:`FeatureLikelihood`;
* state estimation: :class:`NeuronSSM`, :class:`NoiseModel` (dynamax EKF/UKF);
* posteriors: :func:`find_map`, :func:`laplace`, :func:`run_nuts`, :func:`run_svi`,
  :func:`tempered_smc`, :func:`run_sbc`; optax fitting: :func:`fit`, :func:`fit_multistart`;
* parameter spaces: :class:`Bridge` (a model's one unconstrained space and potential,
  used by every sampler), :class:`ParamTransform`, :func:`bijector_for_bounds`,
  :func:`bijector_for_support`; NUTS warm-up diagnostics: :class:`WarmupReport`;
* results: :func:`to_inference_data`, :func:`summarize`, :func:`save_results`,
  :func:`nuts_efficiency` (leapfrog steps per draw, gradients per effective sample).

Submodules are imported on first use of a name, so ``import inference`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "Param": "inference.priors",
    "ForwardModel": "inference.model",
    "BayesianModel": "inference.model",
    "MultiSweepModel": "inference.multisweep",
    "Likelihood": "inference.likelihoods",
    "GaussianLikelihood": "inference.likelihoods",
    "KalmanLikelihood": "inference.likelihoods",
    "KalmanSpec": "inference.likelihoods",
    "FeatureLikelihood": "inference.likelihoods",
    "likelihood_from_name": "inference.likelihoods",
    "NeuronSSM": "inference.ssm",
    "NoiseModel": "inference.ssm",
    "MapResult": "inference.sampling",
    "LaplaceResult": "inference.sampling",
    "NutsResult": "inference.sampling",
    "SviResult": "inference.sampling",
    "find_map": "inference.sampling",
    "laplace": "inference.sampling",
    "run_nuts": "inference.sampling",
    "run_svi": "inference.sampling",
    "tempered_smc": "inference.smc",
    "run_sbc": "inference.sbc",
    "fit": "inference.optimize",
    "fit_multistart": "inference.optimize",
    "FitResult": "inference.optimize",
    "Bridge": "inference.bridge",
    "bijector_for_support": "inference.bridge",
    "WarmupReport": "inference.warmup",
    "ParamTransform": "inference.transforms",
    "bijector_for_bounds": "inference.transforms",
    "to_inference_data": "inference.diagnostics",
    "summarize": "inference.diagnostics",
    "save_results": "inference.diagnostics",
    "nuts_efficiency": "inference.efficiency",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'inference' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_NAMES))
