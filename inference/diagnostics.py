"""Posterior diagnostics: ArviZ ``InferenceData``, summaries, plots and result files.

:func:`to_inference_data` converts a :class:`~inference.sampling.NutsResult` or
:class:`~inference.sampling.SviResult` of a :class:`~inference.model.BayesianModel`
into an ArviZ 1 results tree (``xarray.DataTree``, see :mod:`inference.idata`) with
the groups

* ``posterior``: one variable per numpyro site (``HH_gNa``, ..., ``sigma`` if
  inferred); dims ``(chain, draw)`` plus ``<site>_element`` for per-element sites;
* ``sample_stats`` (NUTS only), with ArviZ's numpyro conventions: ``diverging``,
  ``n_steps`` (leapfrog steps), ``tree_depth = floor(log2(n_steps)) + 1`` (as
  ``az.from_numpyro``; numpyro does not report the depth itself), ``energy``,
  ``acceptance_rate`` and ``lp = -potential_energy`` (log joint in unconstrained
  space, Jacobian included);
* ``observed_data``: ``v_obs`` ``(recording, time)``, ``time`` in ms;
* ``posterior_predictive``: ``v_pred`` = deterministic simulation + Gaussian
  observation noise for an evenly thinned subset of ``num_predictive`` posterior
  draws (``draw`` coordinates are the indices of those draws). For the Kalman
  likelihood this is the ODE without process noise;
* ``log_likelihood``: ``v_obs`` ``(chain, draw, time)``, pointwise over time and
  summed over recordings, for *every* draw (ArviZ requires the posterior's draws);
  omitted with ``log_likelihood=False`` (memory: chains x draws x T floats).

A :class:`~inference.multisweep.MultiSweepModel` gets one ``v_obs_k`` / ``v_pred_k``
per sweep ``k`` in these three groups, each on its own axis ``time_k`` (sweeps may
differ in length).

``idata.attrs`` holds the likelihood, the inference method, the runtime (if known)
and the MAP estimate (JSON) if there is one.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path

import arviz_base as azb
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pandas as pd
import xarray as xr

if not os.environ.get("MPLBACKEND") and "matplotlib.pyplot" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from arviz_stats.summary import summary as _az_summary  # noqa: E402

from inference.checkpoint import atomic_path  # noqa: E402
from inference.fit_plots import (  # noqa: E402
    plain_ticks,
    plot_prior_posterior,
    plot_spike_raster,
    save_figure,
)
from inference.idata import (  # noqa: E402
    group_names,
    has_group,
    make_tree,
    read_netcdf,
    write_netcdf,
)
from inference.mcmc_plots import plot_pair, plot_trace_rank  # noqa: E402,F401

_STAT_NAMES = {"num_steps": "n_steps", "accept_prob": "acceptance_rate"}


# ---------------------------------------------------------------- InferenceData
def _posterior_draws(result, model) -> dict[str, np.ndarray]:
    missing = [n for n in model.site_names if n not in result.samples]
    if missing:
        raise ValueError(f"The result has no draws of {missing}; sites: {sorted(result.samples)}.")
    return {n: np.asarray(result.samples[n]) for n in model.site_names}


def _sample_stats(result) -> dict | None:
    stats = getattr(result, "stats", None)
    if not stats:
        return None
    out = {}
    for key, value in stats.items():
        value = np.asarray(value)
        if key == "potential_energy":
            out["lp"] = -value
        else:
            out[_STAT_NAMES.get(key, key)] = value
    if "n_steps" in out:
        out["tree_depth"] = np.log2(np.maximum(out["n_steps"], 1)).astype(int) + 1
    return out


def _thin_indices(num_draws: int, per_chain: int) -> np.ndarray:
    per_chain = max(1, min(per_chain, num_draws))
    return np.unique(np.linspace(0, num_draws - 1, per_chain).round().astype(int))


def _batched(fn, theta: dict, sigma: np.ndarray, chunk: int) -> np.ndarray:
    """``fn(theta, sigma)`` over the leading axis, in chunks of a fixed size (one compile)."""
    n = sigma.shape[0]
    chunk = max(1, min(chunk, n))
    out = []
    for lo in range(0, n, chunk):
        rows = np.minimum(np.arange(lo, lo + chunk), n - 1)  # pad by repeating the last row
        part = {k: jnp.asarray(v[rows]) for k, v in theta.items()}
        out.append(np.asarray(fn(part, jnp.asarray(sigma[rows])))[: n - lo])
    return np.concatenate(out)


def _split_theta(draws: dict, model, shape: tuple[int, ...], sigma_site: str = "sigma"):
    """Flatten (chain, draw) of the forward parameters; sigma (site `sigma_site`) per draw."""
    n = int(np.prod(shape))
    theta = {
        k: draws[k].reshape((n,) + draws[k].shape[len(shape) :]) for k in model.forward.site_names
    }
    if sigma_site in draws:
        sigma = draws[sigma_site].reshape(n)
    else:
        sigma = np.full(n, float(model.obs_noise))
    return theta, sigma


def _predictive(model, draws: dict, num_predictive: int, seed: int, chunk: int, sigma_site: str):
    chains, ndraw = next(iter(draws.values())).shape[:2]
    idx = _thin_indices(ndraw, math.ceil(num_predictive / chains))
    sub = {k: v[:, idx] for k, v in draws.items()}
    theta, sigma = _split_theta(sub, model, (chains, idx.size), sigma_site)
    sim = jax.jit(jax.vmap(lambda th, s: model.forward.simulate(th)))
    v = _batched(sim, theta, sigma, chunk)
    noise = np.random.default_rng(seed).standard_normal(v.shape)
    v_pred = v + sigma[:, None, None] * noise
    return v_pred.reshape((chains, idx.size) + v.shape[1:]), idx


def _pointwise_ll(model, draws: dict, y, chunk: int, sigma_site: str) -> np.ndarray:
    chains, ndraw = next(iter(draws.values())).shape[:2]
    theta, sigma = _split_theta(draws, model, (chains, ndraw), sigma_site)
    y = jnp.asarray(y)
    fn = jax.jit(jax.vmap(lambda th, s: model.pointwise_log_likelihood(th, y, s)))
    ll = _batched(fn, theta, sigma, chunk)
    return ll.reshape((chains, ndraw) + ll.shape[1:])


def _noise_attr(model) -> float | str:
    """ "inferred" or σ (mV); for a multi-sweep model a JSON list of those per sweep."""
    sweeps = getattr(model, "sweeps", None)
    if sweeps is None:
        return "inferred" if "sigma" in model.site_names else float(model.obs_noise)
    noise = [n if hasattr(n, "sample") else float(n) for n in model.obs_noise]
    return json.dumps(["inferred" if hasattr(n, "sample") else n for n in noise])


def _attrs(result, model, runtime_s) -> dict:
    attrs = {
        "likelihood": model.likelihood.name,
        "inference": (
            "nuts" if hasattr(result, "stats") else "map" if hasattr(result, "best") else "svi"
        ),
        "obs_noise": _noise_attr(model),
    }
    if getattr(model, "sweeps", None) is not None:
        attrs["num_sweeps"] = len(model.sweeps)
    runtime_s = runtime_s if runtime_s is not None else getattr(result, "runtime_s", None)
    if runtime_s is not None:
        attrs["runtime_s"] = float(runtime_s)
    if getattr(result, "num_warmup", None) is not None:
        attrs["num_warmup"] = int(result.num_warmup)
    if getattr(result, "warmup", None) is not None:
        attrs["warmup"] = json.dumps(result.warmup, default=float)  # rounds and diagnostics
    map_result = getattr(result, "map_result", None)
    if map_result is not None:
        best = {k: np.asarray(v).tolist() for k, v in map_result.best.items()}
        attrs["map_estimate"] = json.dumps(best)
    losses = getattr(result, "losses", None)
    if losses is not None and len(losses) and hasattr(result, "best"):
        # A MAP result's losses are the final loss (-log joint) of each start.
        finite = np.asarray(losses, float)[np.isfinite(losses)]
        attrs["map_num_starts"] = int(len(losses))
        attrs["map_best_loss"] = float(finite.min()) if finite.size else float("nan")
    elif losses is not None and len(losses):
        attrs["svi_num_steps"] = int(len(losses))
        attrs["svi_final_loss"] = float(np.asarray(losses)[-1])
    return attrs


@dataclass(frozen=True)
class _Block:
    """One sweep's observations: its variable suffix, single-sweep model, data and σ site."""

    suffix: str
    model: object
    y: np.ndarray
    sigma_site: str
    dt: float


def _observation_blocks(model, y, dt_ms) -> list[_Block]:
    """One block for a ``BayesianModel``; one per sweep (suffix ``_k``) for a multi-sweep one."""
    sweeps = getattr(model, "sweeps", None)
    if sweeps is None:
        y = np.asarray(model.check_observations(y))
        dt = model.forward.delta_t if dt_ms is None else float(dt_ms)
        return [_Block("", model, y, "sigma", dt)]
    ys = model.check_observations(y)
    dts = [s.forward.delta_t for s in sweeps] if dt_ms is None else np.broadcast_to(dt_ms, len(ys))
    return [
        _Block(f"_{k}", s, np.asarray(yk), f"sigma_{k}", float(dt))
        for k, (s, yk, dt) in enumerate(zip(sweeps, ys, dts))
    ]


def _observation_groups(blocks, draws, num_predictive, seed, chunk, log_likelihood) -> dict:
    """``observed_data``, ``posterior_predictive`` and ``log_likelihood`` over all blocks."""
    obs, pred, ll = {}, {}, {}
    coords: dict = {}
    obs_dims, ll_dims = {}, {}
    draw_idx = None
    for k, b in enumerate(blocks):
        tdim = f"time{b.suffix}"
        coords[tdim] = np.arange(b.y.shape[-1]) * b.dt
        coords["recording"] = np.arange(b.y.shape[0])
        obs[f"v_obs{b.suffix}"] = b.y
        obs_dims[f"v_obs{b.suffix}"] = ["recording", tdim]
        if num_predictive > 0:
            # The same thinned draws for every sweep; a distinct noise stream per sweep.
            pred[f"v_pred{b.suffix}"], draw_idx = _predictive(
                b.model, draws, num_predictive, seed + k, chunk, b.sigma_site
            )
        if log_likelihood:
            ll[f"v_obs{b.suffix}"] = _pointwise_ll(b.model, draws, b.y, chunk, b.sigma_site)
            ll_dims[f"v_obs{b.suffix}"] = [tdim]
    groups = {
        "observed_data": azb.dict_to_dataset(obs, coords=coords, dims=obs_dims, sample_dims=[])
    }
    if pred:
        groups["posterior_predictive"] = azb.dict_to_dataset(
            pred,
            coords={**coords, "draw": np.asarray(draw_idx)},
            dims={f"v_pred{b.suffix}": obs_dims[f"v_obs{b.suffix}"] for b in blocks},
        )
    if ll:
        times = {d: coords[d] for dims in ll_dims.values() for d in dims}
        groups["log_likelihood"] = azb.dict_to_dataset(ll, coords=times, dims=ll_dims)
    return groups


def to_inference_data(
    result,
    model,
    y,
    *,
    num_predictive: int = 100,
    seed: int = 0,
    dt_ms: float | None = None,
    log_likelihood: bool = True,
    chunk_size: int = 64,
    runtime_s: float | None = None,
) -> xr.DataTree:
    """Results tree of a NUTS or SVI result (see the module docstring).

    For a :class:`~inference.multisweep.MultiSweepModel` every sweep ``k`` has its
    own variables ``v_obs_k`` (observed data and log-likelihood) and ``v_pred_k``
    (posterior predictive) on its own time axis ``time_k``; ``attrs["obs_noise"]``
    is a JSON list per sweep.

    Args:
        result: a ``NutsResult`` or ``SviResult``.
        model: the ``BayesianModel`` (or ``MultiSweepModel``) that was fitted.
        y: the observations ``(n_rec, T)`` (or ``(T,)``); one per sweep for a
            multi-sweep model.
        num_predictive: posterior draws (in all, spread over chains) to simulate.
        seed: seed of the predictive observation noise.
        dt_ms: sampling step of `y` (ms); default: the model's ``delta_t``.
        log_likelihood: compute the pointwise log-likelihood group.
        chunk_size: draws simulated per vmapped batch (bounds memory).
        runtime_s: wall time of the fit, stored in ``attrs``.
    """
    blocks = _observation_blocks(model, y, dt_ms)
    draws = _posterior_draws(result, model)
    dims: dict[Hashable, Sequence[Hashable]] = {
        k: [f"{k}_element"] for k, v in draws.items() if v.ndim > 2
    }
    groups = {"posterior": azb.dict_to_dataset(draws, dims=dims)}
    stats = _sample_stats(result)
    if stats is not None:
        groups["sample_stats"] = azb.dict_to_dataset(stats)
    groups.update(
        _observation_groups(blocks, draws, num_predictive, seed, chunk_size, log_likelihood)
    )
    attrs = {**_attrs(result, model, runtime_s), "dt_ms": blocks[0].dt}
    if len(blocks) > 1 or blocks[0].suffix:
        attrs["dt_ms"] = json.dumps([b.dt for b in blocks])
    return make_tree(groups, attrs)


# ---------------------------------------------------------------- summaries
def _flat_truth(idata, truth: dict) -> dict[str, float]:
    """Summary row label (``x`` or ``x[i]``) -> truth value."""
    out = {}
    for name, value in truth.items():
        if name not in idata.posterior:
            continue
        arr = np.asarray(value, dtype=float)
        if idata.posterior[name].ndim <= 2:
            out[name] = float(arr.reshape(-1)[0])
        else:
            for i, v in enumerate(np.broadcast_to(arr, idata.posterior[name].shape[2:]).ravel()):
                out[f"{name}[{i}]"] = float(v)
    return out


def divergent_fraction(idata) -> float:
    """Fraction of divergent transitions (NaN without NUTS statistics)."""
    stats = getattr(idata, "sample_stats", None)
    if stats is None or "diverging" not in stats:
        return float("nan")
    return float(np.mean(stats["diverging"].values))


def _hdi_columns(hdi_prob: float) -> tuple[str, str]:
    """The names of the HDI bounds in ``summary.csv``: ``hdi_0.5%``, ``hdi_99.5%`` for 0.99."""
    pct = 100 * (1 - hdi_prob) / 2
    return f"hdi_{pct:g}%", f"hdi_{100 - pct:g}%"


def _point_summary(idata, names, hdi_prob) -> pd.DataFrame:
    """Summary of a single draw (a MAP estimate): mean = the value, sd 0, no MCMC stats."""
    rows = {}
    for name in names:
        values = np.asarray(idata.posterior[name].values, float).reshape(-1)
        labels = [name] if values.size == 1 else [f"{name}[{i}]" for i in range(values.size)]
        rows.update({label: v for label, v in zip(labels, values)})
    lo, hi = _hdi_columns(hdi_prob)
    vals = np.array(list(rows.values()))
    return pd.DataFrame(
        {"mean": vals, "sd": np.zeros_like(vals), lo: vals, hi: vals}, index=list(rows)
    )


def _mcmc_summary(idata, names, hdi_prob) -> pd.DataFrame:
    """``arviz_stats.summary`` (HDI, ESS, R-hat, MCSE), unrounded, with the HDI columns
    named ``hdi_<lo>%`` / ``hdi_<hi>%`` as ``summary.csv`` has always had them."""
    df = _az_summary(
        idata,
        var_names=names,
        ci_prob=hdi_prob,
        ci_kind="hdi",
        round_to=None,  # pyright: ignore[reportArgumentType]  (None: unrounded)
    )
    lb = [c for c in df.columns if c.startswith("hdi") and c.endswith("_lb")]
    ub = [c for c in df.columns if c.startswith("hdi") and c.endswith("_ub")]
    lo, hi = _hdi_columns(hdi_prob)
    return df.rename(columns={lb[0]: lo, ub[0]: hi})


def summarize(idata, truth: dict | None = None, hdi_prob: float = 0.99) -> pd.DataFrame:
    """``arviz_stats.summary`` of the posterior, plus ``truth``/``truth_in_hdi`` columns if `truth`.

    ``df.attrs["divergent_fraction"]`` holds the fraction of divergent transitions.
    Values are not rounded: conductances of 1e-4 S/cm² would otherwise print as 0 and
    the truth-in-HDI check would compare against rounded bounds.
    """
    names = list(idata.posterior.data_vars)
    post = idata.posterior
    if post.sizes.get("chain", 1) * post.sizes.get("draw", 1) == 1:
        df = _point_summary(idata, names, hdi_prob)
    else:
        df = _mcmc_summary(idata, names, hdi_prob)
    if truth:
        flat = _flat_truth(idata, truth)
        lo, hi = [c for c in df.columns if c.startswith("hdi_")][:2]
        df["truth"] = [flat.get(label, np.nan) for label in df.index]
        df["truth_in_hdi"] = (df["truth"] >= df[lo]) & (df["truth"] <= df[hi])
    df.attrs["divergent_fraction"] = divergent_fraction(idata)
    df.attrs["hdi_prob"] = hdi_prob
    return df


# ---------------------------------------------------------------- plots
def _predictive_pairs(idata, t_ms) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """``(label, t, observed (n_rec, T), predictive (n, n_rec, T))`` per sweep."""
    out = []
    for name in idata.observed_data.data_vars:
        suffix = name[len("v_obs") :]
        if not name.startswith("v_obs") or f"v_pred{suffix}" not in idata.posterior_predictive:
            continue
        obs = idata.observed_data[name]
        pred = idata.posterior_predictive[f"v_pred{suffix}"].values
        t = obs[obs.dims[-1]].values if (t_ms is None or suffix) else np.asarray(t_ms)
        label = f"sweep {suffix[1:]} " if suffix else ""
        out.append((label, t, obs.values, pred.reshape((-1,) + pred.shape[2:])))
    return out


def plot_posterior_predictive(idata, path=None, t_ms=None, max_traces: int = 30):
    """Observed trace, predictive median and 90% band (and a few draws) per recording.

    Multi-sweep results (``v_obs_k``/``v_pred_k``) get one row per sweep and
    recording, each on its own time axis; `t_ms` applies to single-sweep results only.
    """
    rows = [
        (label, t, obs[r], pred[:, r], r)
        for label, t, obs, pred in _predictive_pairs(idata, t_ms)
        for r in range(obs.shape[0])
    ]
    fig, axes = plt.subplots(
        2 * len(rows),
        1,
        figsize=(8, 3.6 * len(rows)),
        squeeze=False,
        gridspec_kw={"height_ratios": [2.6, 1.0] * len(rows)},
    )
    for k, (label, t, obs, pred, r) in enumerate(rows):
        ax, res = axes[2 * k, 0], axes[2 * k + 1, 0]
        lo, med, hi = np.quantile(pred, [0.05, 0.5, 0.95], axis=0)
        for s in _thin_indices(pred.shape[0], max_traces):
            ax.plot(t, pred[s], color="C1", lw=0.4, alpha=0.25)
        ax.plot(t, obs, color="k", lw=0.8, label="observed")
        ax.fill_between(t, lo, hi, color="C1", alpha=0.35, label="90% predictive")
        ax.plot(t, med, color="C3", lw=1.0, label="predictive median")
        ax.set_ylabel(f"v {label}rec {r} (mV)")
        res.fill_between(t, lo - med, hi - med, color="C1", alpha=0.35)
        res.plot(t, obs - med, color="k", lw=0.6)
        res.axhline(0.0, color="C3", lw=0.8)
        res.set_ylabel("residual (mV)")
        res.set_xlabel("time (ms)")
        res.sharex(ax)
        for a in (ax, res):
            plain_ticks(a)
    axes[0, 0].legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_filter(states_mean, states_std, t_ms, names, path=None, truth=None):
    """Kalman state estimates: mean ± 2 std per state, with the truth if given.

    Args:
        states_mean, states_std: ``(T, n_states)`` (e.g. dynamax filtered means and
            the square roots of the covariance diagonals).
        t_ms: ``(T,)`` times; names: the ``n_states`` state names.
        truth: ``(T, n_states)`` array or dict name -> ``(T,)``.
    """
    mean, std = np.asarray(states_mean), np.asarray(states_std)
    if mean.shape != std.shape or mean.ndim != 2 or mean.shape[1] != len(names):
        raise ValueError(
            f"states_mean/std must be (T, {len(names)}), got {mean.shape} and {std.shape}."
        )
    t = np.asarray(t_ms)
    n = len(names)
    fig, axes = plt.subplots(n, 1, figsize=(8, 2.2 * n), sharex=True, squeeze=False)
    for i, (name, ax) in enumerate(zip(names, axes[:, 0])):
        ax.fill_between(t, mean[:, i] - 2 * std[:, i], mean[:, i] + 2 * std[:, i], alpha=0.3)
        ax.plot(t, mean[:, i], color="C0", lw=1.0, label="filter mean ± 2 std")
        if truth is not None:
            ref = truth.get(name) if isinstance(truth, dict) else np.asarray(truth)[:, i]
            if ref is not None:
                ax.plot(t, np.asarray(ref), color="k", lw=0.8, ls="--", label="truth")
        ax.set_ylabel(name)
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("time (ms)")
    fig.tight_layout()
    return save_figure(fig, path)


# ---------------------------------------------------------------- files
def _write_netcdf(idata, path: Path) -> None:
    """``idata`` to `path`, read back and checked to hold the same groups and variables."""
    with atomic_path(path) as tmp:
        write_netcdf(idata, tmp)
        back = read_netcdf(tmp)
        for name in group_names(idata):
            same = has_group(back, name) and set(back[name].data_vars) == set(idata[name].data_vars)
            if not same:
                raise RuntimeError(f"{path.name} does not round-trip group {name!r}.")


def _draws_of(idata) -> dict:
    return {n: idata.posterior[n].values for n in idata.posterior.data_vars}


def _first_trace(idata, t_ms):
    pairs = _predictive_pairs(idata, t_ms)
    if not pairs:
        return None
    _, t, obs, pred = pairs[0]
    return t, obs[0], pred[:, 0]


def save_results(
    idata,
    out_dir,
    *,
    truth: dict | None = None,
    t_ms=None,
    priors: dict | None = None,
    laplace=None,
) -> dict[str, Path]:
    """Write ``posterior.nc``, ``summary.csv`` and the plots to `out_dir`; return the paths.

    The netcdf files are read back (:func:`inference.idata.read_netcdf`) and checked to hold the
    same groups and variables. Plots: ``prior_posterior.png`` (with `priors`, site ->
    numpyro distribution), ``posterior_predictive.png`` (with residuals) and
    ``spike_raster.png``; NUTS/SVI also ``trace_rank.png`` and ``pair.png``. A MAP
    result (one draw) has no trace or pair plot: with `laplace` (an InferenceData of
    Laplace-approximation draws, with ``attrs["laplace_std"]``) it is written to
    ``laplace.nc`` and plotted in ``laplace.png`` (marginal widths around the MAP), and
    the predictive plots show its draws.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"posterior": out / "posterior.nc", "summary": out / "summary.csv"}
    _write_netcdf(idata, paths["posterior"])
    with atomic_path(paths["summary"]) as tmp:
        summarize(idata, truth).to_csv(tmp)
    is_map = idata.attrs.get("inference") == "map"
    spread = idata
    if not is_map:
        paths["trace_rank"] = out / "trace_rank.png"
        plot_trace_rank(idata, paths["trace_rank"])
        paths["pair"] = out / "pair.png"
        plot_pair(idata, paths["pair"], truth=truth)
    elif laplace is not None:
        spread = laplace
        paths["laplace_posterior"] = out / "laplace.nc"
        _write_netcdf(laplace, paths["laplace_posterior"])
        best = {n: float(np.ravel(idata.posterior[n].values)[0]) for n in idata.posterior.data_vars}
        paths["laplace"] = out / "laplace.png"
        plot_prior_posterior(
            _draws_of(laplace),
            priors,
            paths["laplace"],
            truth=truth,
            map_estimate=best,
            widths=json.loads(laplace.attrs.get("laplace_std", "{}")),
            title="MAP and Laplace approximation (marginal Gaussian widths)",
            draws_label="Laplace draws",
        )
    if not is_map or laplace is not None:
        paths["prior_posterior"] = out / "prior_posterior.png"
        label = "posterior" if spread is idata else "Laplace draws"
        plot_prior_posterior(
            _draws_of(spread), priors, paths["prior_posterior"], truth=truth, draws_label=label
        )
    if has_group(spread, "posterior_predictive"):
        paths["posterior_predictive"] = out / "posterior_predictive.png"
        plot_posterior_predictive(spread, paths["posterior_predictive"], t_ms=t_ms)
        first = _first_trace(spread, t_ms)
        if first is not None:
            paths["spike_raster"] = out / "spike_raster.png"
            plot_spike_raster(*first, paths["spike_raster"])
    return paths
