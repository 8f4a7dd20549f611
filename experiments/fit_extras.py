"""Helpers of ``fit_conductances``: the Laplace approximation of MAP runs and the
posterior-predictive check of spike count and resting potential."""

from __future__ import annotations

import json
import sys

import numpy as np

from inference.idata import has_group


def model_priors(model) -> dict:
    """site -> numpyro prior of a BayesianModel (σ too when inferred); {} for others."""
    forward = getattr(model, "forward", None)
    if forward is None:
        return {}
    out = {r.param.name: r.param.prior for r in forward.resolved}
    if hasattr(model.obs_noise, "sample"):
        out["sigma"] = model.obs_noise
    return out


def laplace_idata(result, model, y, *, dt, seed: int, num: int = 200):
    """InferenceData of `num` Laplace draws around a MAP result (None if not possible).

    The draws are the "posterior" (one chain) with their posterior predictive;
    ``attrs["laplace_std"]`` holds the marginal sds in unconstrained space (JSON).
    """
    from inference.diagnostics import to_inference_data
    from inference.laplace import laplace_draws

    if getattr(model, "sweeps", None) is not None:
        return None
    try:
        lap = laplace_draws(model, y, result, num=num, seed=seed)
    except ValueError as err:  # flat or saddle optimum: no Gaussian approximation
        print(f"no Laplace approximation: {err}", file=sys.stderr)
        return None
    idata = to_inference_data(lap, model, y, dt_ms=dt, seed=seed, log_likelihood=False)
    idata.attrs["inference"] = "laplace"
    idata.attrs["laplace_std"] = json.dumps({k: float(v) for k, v in lap.std.items()})
    idata.attrs["laplace_regularised"] = int(lap.regularised)
    if lap.regularised:
        print(
            "Laplace: the MAP is not a strict minimum; curvature magnitudes used", file=sys.stderr
        )
    return idata


def count_and_rest(v, dt: float, on: float, off: float) -> tuple[int, float]:
    """Spike count (upward 0 mV crossings, :func:`inference.losses.spike_times`) during
    ``[on, off)`` ms and resting potential (mV, mean v before `on`) of one trace."""
    from inference.losses import resting_potential, spike_times

    st = spike_times(np.asarray(v, np.float64), dt)
    return int(np.sum((st >= on) & (st < off))), resting_potential(v, dt, (0.0, on))


def predictive_check(rec, idata) -> dict | None:
    """Recorded spike count / resting potential vs the 90% posterior-predictive interval.

    Needs a single-sweep `idata` with ``v_pred`` and a recording with its stimulus
    onset after t = 0 (the resting window); None otherwise.
    """
    if idata is None or not has_group(idata, "posterior_predictive"):
        return None
    if "v_pred" not in idata.posterior_predictive or not rec.stim_on_ms or rec.stim_on_ms <= 0:
        return None
    on = rec.stim_on_ms
    off = min(rec.duration_ms, rec.stim_off_ms or rec.duration_ms)
    pred = idata.posterior_predictive["v_pred"].values
    pred = pred.reshape((-1,) + pred.shape[2:])[:, 0]
    counts, rests = zip(*(count_and_rest(v, rec.dt_ms, on, off) for v in pred))
    rec_count, rec_rest = count_and_rest(rec.v_mV, rec.dt_ms, on, off)
    return {
        "draws": len(counts),
        "window_ms": [0.0, float(off)],
        "spike_count": interval_check(rec_count, counts),
        "resting_potential_mV": interval_check(rec_rest, rests),
    }


def interval_check(observed: float, values) -> dict:
    """A recorded value against the median and 90% interval of predictive `values`."""
    lo, med, hi = np.quantile(np.asarray(values, float), [0.05, 0.5, 0.95])
    return {
        "recorded": float(observed),
        "median": float(med),
        "q05": float(lo),
        "q95": float(hi),
        "in_90": bool(lo <= observed <= hi),
    }
