"""Real-data study: a one-compartment Pospischil model fitted to the Allen sweeps.

    python -m experiments.allen_study --out DIR [--sweeps N] [--data-dir PATH] [--quick]

Model: one soma-like cylinder (radius 35 µm, length 70 µm: the side area of a 70 µm
sphere, 1.54e-4 cm²) with ``Na``, ``K``, ``Km`` and ``Leak`` (Pospischil et al. 2008).
The real membrane area is unknown; as only area x density matters in one compartment,
the specific ``capacitance`` is inferred as well (an area scale: total capacitance =
capacitance x 154 pF). Priors: PARAM_SPECS. Every simulation starts at the model's own
resting state (root of the steady-state I-V curve, gates at steady state).

Inference: a Gaussian likelihood of summary features (:mod:`inference.features`), not of
the raw trace (for a deterministic model of a real neuron the trace likelihood is ruled
by spike-time misalignment), sampled by tempered SMC (gradient-free: spike counts are
piecewise constant) with independent populations as chains. Fits simulate 20 ms before
onset to step offset at dt = 0.04 ms (recording downsampled x2); posterior-predictive
draws simulate the whole sweep at the recording's dt (0.02 ms), and again at the fit dt
(``fit_dt_count_bias``: the discretisation error in spike count). Outputs:
DIR/<sweep>/{posterior.nc, summary.csv, run.json, posterior_predictive.png,
posterior_pair.png}, DIR/allen_summary.csv and DIR/allen_summary.png.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from experiments.cell_models import (  # noqa: F401 (the shared model)
    POSPISCHIL_PRIORS,
    _steady_current,
    resting_state,
)
from inference.checkpoint import atomic_path, atomic_write_text

# key: (prior family, location, scale); LogNormal location = median (shared with
# ``fit_conductances --model pospischil``, see experiments.cell_models).
PARAM_SPECS = {site: spec[2:] for site, spec in POSPISCHIL_PRIORS.items()}
PRE_MS = 20.0  # simulated time before stimulus onset in the fits


def _log(msg: str) -> None:  # progress lines go to stderr
    print(msg, file=sys.stderr, flush=True)


def build_priors():
    from experiments.cell_models import build_params

    return build_params(POSPISCHIL_PRIORS)


class Simulator:
    """Batched simulations of the model for one stimulus (the current of `rec`)."""

    def __init__(self, rec):
        from datasets.synthetic import make_pospischil_cell

        self.cell = make_pospischil_cell()
        self.cell.record("v", verbose=False)
        self.cell.stimulate(np.asarray(rec.i_nA[:-1]), verbose=False)
        self.dt = rec.dt_ms
        from experiments.cell_models import pospischil_fixed

        self.fixed = pospischil_fixed(self.cell)

    def one(self, x: dict):
        from sim.integrate import integrate

        p = {**self.fixed, **x}
        pstate = None
        for key, val in {**x, **resting_state(p)}.items():
            pstate = self.cell.data_set(key, val, pstate)
        return integrate(
            self.cell, param_state=pstate, delta_t=self.dt, voltage_solver="jaxley.thomas"
        )[0]

    def batch_fn(self):
        import jax

        return jax.jit(jax.vmap(self.one))


def make_evaluate(rec_fit, prior_space, obs, scales, windows):
    """``z (M, d) -> (log_lik, features)`` with one compiled batched simulation."""
    import jax

    from inference.features import feature_log_lik, trace_features

    sim = Simulator(rec_fit)
    w = windows.shifted(rec_fit.dt_ms, rec_fit.meta["t_offset_ms"])

    @jax.jit
    def run(z):
        feats = trace_features(jax.vmap(sim.one)(prior_space.to_constrained(z)), w)
        return feature_log_lik(feats, obs, scales), feats

    return lambda z: tuple(np.asarray(a) for a in run(z))


def fit_window(rec, factor: int):
    """From PRE_MS before onset to the step offset, downsampled by `factor`."""
    sliced = rec.slice(rec.stim_on_ms - PRE_MS, rec.stim_off_ms + 1.0)
    return sliced.downsample(factor)


def predictive(rec, factor, theta: dict, windows):
    """Features of posterior draws simulated over the whole sweep, at dt and dt x factor."""
    from inference.features import trace_features

    out = {}
    for label, r in (("ref", rec), ("fit", rec.downsample(factor))):
        v = np.asarray(Simulator(r).batch_fn()(theta))
        on, off = rec.stim_on_ms, rec.stim_off_ms
        counts, rests = zip(*(count_and_rest(trace, r.dt_ms, on, off) for trace in v))
        feats = np.asarray(trace_features(v, windows.shifted(r.dt_ms, 0.0)))
        out[label] = {
            "v": v,
            "spike_count": np.array(counts),
            "rest": np.array(rests),
            "features": feats,
        }
    return out


def count_and_rest(v, dt: float, on: float, off: float) -> tuple[int, float]:
    """Spike count (upward 0 mV crossings, :func:`inference.losses.spike_times`) during
    ``[on, off)`` and resting potential (mean v before `on`) of one trace."""
    from inference.losses import resting_potential, spike_times

    st = spike_times(np.asarray(v, np.float64), dt)
    return int(np.sum((st >= on) & (st < off))), resting_potential(v, dt, (0.0, on))


def recorded_targets(rec) -> tuple[int, float]:
    """Recorded spike count during the step and resting potential."""
    return count_and_rest(rec.v_mV, rec.dt_ms, rec.stim_on_ms, rec.stim_off_ms)


def _pick_draws(smc, per: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 7)
    n_pop, n = smc.z.shape[:2]
    return np.stack([smc.z[p, rng.choice(n, min(per, n), replace=False)] for p in range(n_pop)])


def to_idata(smc, space, pp, obs, scales, targets, attrs):
    import arviz as az

    from inference.features import FEATURE_NAMES

    post = {k: np.asarray(v) for k, v in space.to_constrained(smc.z).items()}
    n_pop = smc.z.shape[0]
    shape = lambda x: np.asarray(x).reshape(n_pop, -1, *np.shape(x)[1:])  # noqa: E731
    ppd = {
        "spike_count": shape(pp["ref"]["spike_count"]),
        "resting_potential": shape(pp["ref"]["rest"]),
        "features": shape(pp["ref"]["features"]),
        "spike_count_fit_dt": shape(pp["fit"]["spike_count"]),
    }
    return az.from_dict(
        posterior=post,
        posterior_predictive=ppd,
        sample_stats={"feature_log_lik": smc.log_lik, "sim_features": smc.features},
        observed_data={
            "features": obs,
            "spike_count": np.asarray(targets[0]),
            "resting_potential": np.asarray(targets[1]),
        },
        constant_data={"feature_scale": scales},
        coords={"feature": list(FEATURE_NAMES)},
        dims={"features": ["feature"], "sim_features": ["feature"], "feature_scale": ["feature"]},
        attrs=attrs,
    )


def _interval(x) -> tuple[float, float, float]:
    q = np.quantile(np.asarray(x, float), [0.5, 0.05, 0.95])
    return float(q[0]), float(q[1]), float(q[2])


def plot_predictive(rec, pp, targets, path, n_traces: int = 20):
    import matplotlib.pyplot as plt

    t, v_obs, v = rec.t_ms, np.asarray(rec.v_mV), pp["ref"]["v"][:n_traces]
    fig = plt.figure(figsize=(11, 7))
    grid = fig.add_gridspec(2, 2, height_ratios=(2.2, 1))
    ax = fig.add_subplot(grid[0, :])
    step = max(1, int(round(0.1 / rec.dt_ms)))
    for trace in v:
        ax.plot(t[::step], trace[::step], color="C1", lw=0.4, alpha=0.35)
    ax.plot(t[::step], v_obs[::step], color="k", lw=0.6, label="recording")
    ax.plot([], [], color="C1", label=f"posterior predictive ({len(v)} draws)")
    ax.set(xlabel="t (ms)", ylabel="v (mV)", title=Path(rec.meta.get("path", "")).stem)
    ax.legend(loc="lower right", fontsize=8)
    inset = ax.inset_axes([0.55, 0.5, 0.44, 0.48])
    lo = rec.stim_on_ms - 5.0
    zoom = (t >= lo) & (t < lo + 120.0)
    for trace in v[:5]:
        inset.plot(t[zoom], trace[zoom], color="C1", lw=0.6, alpha=0.7)
    inset.plot(t[zoom], v_obs[zoom], color="k", lw=0.8)
    inset.set_title("first 115 ms of the step", fontsize=8)
    inset.tick_params(labelsize=7)
    for col, (key, rec_val, label) in enumerate(
        (
            ("spike_count", targets[0], "spike count in step"),
            ("rest", targets[1], "resting potential (mV)"),
        )
    ):
        axh = fig.add_subplot(grid[1, col])
        vals = pp["ref"][key]
        bins = np.arange(vals.min() - 0.5, vals.max() + 1.5) if key == "spike_count" else 20
        axh.hist(vals, bins=bins, color="C1", alpha=0.7, label="predictive")
        axh.axvline(rec_val, color="k", lw=2, label="recording")
        axh.set_xlabel(label)
        axh.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def fit_sweep(path: Path, out_dir: Path, args) -> dict:
    """Fit one sweep, write its outputs, return its summary row."""
    import arviz as az
    import jax

    import inference.features as ft
    import inference.smc as smc_mod
    from datasets import load_npz
    from datasets.synthetic import make_pospischil_cell
    from inference.diagnostics import plot_pair
    from inference.priors import check_prior

    start = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    rec, params, cell = load_npz(path), build_priors(), make_pospischil_cell()
    for param in params:
        check_prior(param, cell)
    space = smc_mod.PriorSpace(tuple(p.key for p in params), tuple(p.prior for p in params))
    windows = ft.recording_windows(rec)
    obs = np.asarray(ft.trace_features(np.asarray(rec.v_mV, np.float64), windows))
    scales, targets = ft.feature_scales(obs), recorded_targets(rec)
    evaluate = make_evaluate(fit_window(rec, args.downsample), space, obs, scales, windows)
    smc = smc_mod.tempered_smc(
        evaluate,
        space,
        populations=args.populations,
        particles=args.particles,
        moves=args.moves,
        final_moves=args.final_moves,
        max_stages=args.max_stages,
        seed=args.seed,
        log=_log,
    )
    z_pp = _pick_draws(smc, max(1, args.pp_draws // args.populations), args.seed)
    theta = space.to_constrained(jax.numpy.asarray(z_pp.reshape(-1, z_pp.shape[-1])))
    pp = predictive(rec, args.downsample, theta, windows)
    wall = time.perf_counter() - start
    attrs = {
        "sweep": path.stem,
        "method": "tempered SMC, Gaussian feature likelihood",
        "wall_time_s": wall,
        "fit_dt_ms": rec.dt_ms * args.downsample,
        "stages": len(smc.betas) - 1,
        "truncated": int(smc.truncated),
    }
    idata = to_idata(smc, space, pp, obs, scales, targets, attrs)
    with atomic_path(out_dir / "posterior.nc") as tmp:
        idata.to_netcdf(str(tmp))
    summary = az.summary(idata, var_names=list(space.names), hdi_prob=0.9, round_to="none")
    with atomic_path(out_dir / "summary.csv") as tmp:
        summary.to_csv(tmp)
    plot_predictive(rec, pp, targets, out_dir / "posterior_predictive.png")
    if not args.quick:
        plot_pair(idata, out_dir / "posterior_pair.png")
    row = _summary_row(path, rec, targets, pp, summary, smc, wall, args)
    atomic_write_text(
        out_dir / "run.json",
        json.dumps(
            {
                **row,
                "observed_features": dict(zip(ft.FEATURE_NAMES, obs.tolist())),
                "feature_scales": dict(zip(ft.FEATURE_NAMES, scales.tolist())),
                "log_evidence": smc.log_evidence.tolist(),
                "betas": [b.tolist() for b in smc.betas],
                "unique_fraction": smc.unique_fraction.tolist(),
                "priors": PARAM_SPECS,
            },
            indent=2,
            default=float,
        ),
    )
    _log(
        f"[allen] {path.stem}: spikes {targets[0]} vs predicted {row['pp_count_median']:g} "
        f"[{row['pp_count_q05']:g}, {row['pp_count_q95']:g}]; rest {targets[1]:.2f} vs "
        f"{row['pp_rest_median']:.2f} mV; {wall:.0f} s"
    )
    return row


def _summary_row(path, rec, targets, pp, summary, smc, wall, args) -> dict:
    count, rest = _interval(pp["ref"]["spike_count"]), _interval(pp["ref"]["rest"])
    fit_dt = pp["fit"]["spike_count"] - pp["ref"]["spike_count"]
    row = {
        "sweep": path.stem,
        "specimen_id": rec.meta.get("specimen_id"),
        "sweep_number": rec.meta.get("sweep_number"),
        "i_amp_nA": float(
            np.median(rec.i_nA[(rec.t_ms >= rec.stim_on_ms) & (rec.t_ms < rec.stim_off_ms)])
        ),
        "rec_spike_count": targets[0],
        "pp_count_median": count[0],
        "pp_count_q05": count[1],
        "pp_count_q95": count[2],
        "rec_rest_mV": targets[1],
        "pp_rest_median": rest[0],
        "pp_rest_q05": rest[1],
        "pp_rest_q95": rest[2],
        "count_in_90": bool(count[1] <= targets[0] <= count[2]),
        "rest_in_90": bool(rest[1] <= targets[1] <= rest[2]),
        "fit_dt_count_bias": float(np.mean(fit_dt)),
    }
    for name in summary.index:
        row[f"post_mean_{name}"] = float(summary.loc[name, "mean"])
    return {
        **row,
        "max_r_hat": float(summary["r_hat"].max()),
        "min_unique_fraction": float(smc.unique_fraction.min()),
        "pp_draws": int(pp["ref"]["spike_count"].size),
        "wall_time_s": wall,
        "quick": bool(args.quick),
    }


def plot_summary(rows: list[dict], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for ax, key, label in (
        (axes[0], "count", "spike count in step"),
        (axes[1], "rest", "resting potential (mV)"),
    ):
        rec_key = "rec_spike_count" if key == "count" else "rec_rest_mV"
        x = np.array([r[rec_key] for r in rows], float)
        med = np.array([r[f"pp_{key}_median"] for r in rows])
        lo = med - np.array([r[f"pp_{key}_q05"] for r in rows])
        hi = np.array([r[f"pp_{key}_q95"] for r in rows]) - med
        ax.errorbar(x, med, yerr=[lo, hi], fmt="o", capsize=4, label="predictive median, 90%")
        for i, (xi, yi) in enumerate(zip(x, med)):
            ax.annotate(str(i + 1), (xi, yi), textcoords="offset points", xytext=(6, 4))
        span = [min(x.min(), (med - lo).min()), max(x.max(), (med + hi).max())]
        pad = 0.1 * (span[1] - span[0] + 1.0)
        ax.plot([span[0] - pad, span[1] + pad], [span[0] - pad, span[1] + pad], "k--", lw=0.8)
        ax.set(xlabel=f"recorded {label}", ylabel=f"predicted {label}")
        ax.legend(fontsize=8)
    fig.suptitle("Allen sweeps: posterior predictive vs recording (numbers: sweep order)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("results/allen_study"))
    p.add_argument("--data-dir", type=Path, default=None, help="folder of Allen .npz sweeps")
    p.add_argument("--sweeps", type=int, default=None, help="fit only the first N sweeps")
    p.add_argument("--quick", action="store_true", help="tiny settings (smoke test only)")
    p.add_argument("--populations", type=int, default=4, help="independent SMC populations")
    p.add_argument("--particles", type=int, default=256, help="particles per population")
    p.add_argument("--moves", type=int, default=8, help="MH moves per tempering stage")
    p.add_argument("--final-moves", type=int, default=24, help="MH moves at beta = 1")
    p.add_argument("--max-stages", type=int, default=40)
    p.add_argument("--downsample", type=int, default=2, help="fit dt = recording dt x this")
    p.add_argument("--pp-draws", type=int, default=100, help="posterior-predictive draws")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.quick:
        args.populations, args.particles, args.moves, args.final_moves = 2, 8, 1, 1
        args.max_stages, args.downsample, args.pp_draws = 2, 5, 8
    return args


def main(argv: list[str] | None = None) -> list[dict]:
    import jax

    jax.config.update("jax_enable_x64", True)
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from datasets.loaders import allen_sweeps

    args = parse_args(argv)
    paths = allen_sweeps(args.data_dir)[: args.sweeps]
    if not paths:
        raise SystemExit(f"No Allen sweeps (*.npz) found in {args.data_dir or 'the default'}.")
    args.out.mkdir(parents=True, exist_ok=True)
    start, rows = time.perf_counter(), []
    for i, path in enumerate(paths):
        _log(f"[allen] sweep {i + 1}/{len(paths)}: {path.name}")
        rows.append(fit_sweep(path, args.out / path.stem, args))
    table = pd.DataFrame(rows)
    with atomic_path(args.out / "allen_summary.csv") as tmp:
        table.to_csv(tmp, index=False)
    plot_summary(rows, args.out / "allen_summary.png")
    cols = [
        "sweep",
        "rec_spike_count",
        "pp_count_median",
        "pp_count_q05",
        "pp_count_q95",
        "rec_rest_mV",
        "pp_rest_median",
        "pp_rest_q05",
        "pp_rest_q95",
        "wall_time_s",
    ]
    _log(table[cols].to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    _log(f"[allen] total wall time {time.perf_counter() - start:.0f} s")
    return rows


if __name__ == "__main__":
    main()
