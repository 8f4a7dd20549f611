"""``fit_conductances --method smc``: summary features of a recording, sampled by SMC.

For a deterministic model of a real neuron the likelihood of the raw trace is ruled by
spike-time misalignment (a spike 1 ms early costs as much as a missing one), so on
real recordings the data enter through summary features (:mod:`inference.features`:
rest, spike counts, latency, subthreshold and mean voltage, AP peak, AHP) with a
Gaussian :class:`~inference.likelihoods.FeatureLikelihood`. Spike counts make it
piecewise constant, so it is sampled without gradients: adaptively tempered SMC
(:func:`inference.smc.tempered_smc`) with independent populations as the "chains" of
the InferenceData (R-hat between populations).

What is simulated (:class:`FeatureProblem`): by default from :data:`PRE_MS` before the
step onset to 1 ms after its offset, at twice the recording's step when that is finer
than 0.025 ms (``--window`` / ``--dt`` override both); the observed features are
measured on the whole recording at its own rate. The posterior predictive simulates
the whole sweep at the recording's step (and at the fit step, to report the
discretisation bias of the spike count) for ``--pp-draws`` particles; the check of
spike count and resting potential against their 90% predictive intervals uses those
full-rate traces (``run.json: predictive_check``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from datasets.recording import Recording
from experiments.fit_extras import count_and_rest, interval_check
from inference.fit_plots import save_figure

if TYPE_CHECKING:
    from inference.features import FeatureWindows

PRE_MS = 20.0  # simulated time before the step onset in the fit
POST_MS = 1.0  # ... and after its offset
FINEST_FIT_DT = 0.025  # ms: recordings sampled finer are fitted at twice their step
MAX_PLOT_SAMPLES = 15_000  # predictive traces kept for the plots (decimated)


@dataclasses.dataclass(frozen=True)
class FeatureProblem:
    """A recording, the part of it the fit simulates, and its observed features.

    Attributes:
        rec: The whole recording at its own step (features, predictive check).
        fit: What the fit simulates (window and step; only its stimulus is used).
        windows: Feature windows on ``rec``'s grid.
        observed: Features of ``rec`` (``FEATURE_NAMES`` order).
        scales: Likelihood std per feature (:func:`inference.features.feature_scales`).
    """

    rec: Recording
    fit: Recording
    windows: FeatureWindows
    observed: np.ndarray
    scales: np.ndarray

    @classmethod
    def of(cls, rec: Recording, window=None, dt: float | None = None) -> FeatureProblem:
        """The problem of `rec`; ValueError if it has no step or `window` cuts it."""
        import inference.features as ft
        from datasets.resample import prepare

        if rec.stim_on_ms is None or rec.stim_off_ms is None:
            raise ValueError(
                "--likelihood features needs a step stimulus (stim_on_ms/stim_off_ms in "
                "the recording); use --likelihood gaussian for other protocols"
            )
        on, off = rec.stim_on_ms, rec.stim_off_ms
        if window is None:
            window = (max(0.0, on - PRE_MS), min(rec.duration_ms, off + POST_MS))
        if not (window[0] < on and window[1] >= min(off, rec.duration_ms)):
            raise ValueError(
                f"--window {window[0]:g}:{window[1]:g} ms must hold the step "
                f"({on:g} to {off:g} ms) and some time before it for the features"
            )
        if dt is None and rec.dt_ms < FINEST_FIT_DT - 1e-12:
            dt = 2.0 * rec.dt_ms
        windows = ft.recording_windows(rec)
        observed = np.asarray(ft.trace_features(np.asarray(rec.v_mV, np.float64), windows))
        fit = prepare(rec, window, dt)
        return cls(rec, fit, windows, observed, ft.feature_scales(observed))

    def likelihood(self):
        """The :class:`FeatureLikelihood` on the fit's grid, with the observed features."""
        from inference.likelihoods import FeatureLikelihood

        w = self.windows.shifted(self.fit.dt_ms, float(self.fit.meta.get("t_offset_ms", 0.0)))
        return FeatureLikelihood(w, self.scales, observed=self.observed)

    @property
    def step_ms(self) -> tuple[float, float]:
        """Onset and end of the recording's step (ms); :meth:`of` refuses recordings
        without one."""
        on, off = self.rec.stim_on_ms, self.rec.stim_off_ms
        if on is None or off is None:
            raise ValueError("FeatureProblem needs a recording with stim_on_ms/stim_off_ms")
        return float(on), float(off)

    def targets(self) -> tuple[int, float]:
        """Recorded spike count during the step and resting potential (mV)."""
        return count_and_rest(self.rec.v_mV, self.rec.dt_ms, *self.step_ms)


def prior_space(model):
    """The :class:`~inference.smc.PriorSpace` of a BayesianModel's scalar sites."""
    from inference.smc import PriorSpace

    shaped = [n for n, s in model.forward.site_shapes().items() if s]
    if shaped:
        raise ValueError(
            f"--method smc samples scalar parameters; {shaped} are per-branch vectors "
            "(use --method nuts)"
        )
    res = model.forward.resolved
    return PriorSpace(tuple(r.param.name for r in res), tuple(r.param.prior for r in res))


def make_evaluate(model, space):
    """``z (M, d) -> (log_lik (M,), features (M, F))``: one compiled batched simulation."""
    import jax

    lik, fwd = model.likelihood, model.forward

    @jax.jit
    def run(z):
        feats = jax.vmap(lambda th: lik.simulated_features(fwd, th)[0])(space.to_constrained(z))
        return lik.log_prob_of_features(feats), feats

    return lambda z: tuple(np.asarray(a) for a in run(z))


def pick_draws(z: np.ndarray, total: int, seed: int) -> np.ndarray:
    """``(populations, per, d)``: `total` particles spread over the populations, each
    population's drawn without replacement (so resampled duplicates stay rare)."""
    rng = np.random.default_rng(seed + 7)
    n_pop, n = z.shape[:2]
    per = max(1, min(n, math.ceil(total / n_pop)))
    return np.stack([z[p, rng.choice(n, per, replace=False)] for p in range(n_pop)])


def simulate_draws(kind: str, table: dict, swc_path, rec: Recording, theta: dict) -> np.ndarray:
    """Somatic voltage ``(draws, T)`` of the whole recording `rec` at its own step."""
    import jax

    from experiments.cell_models import build_forward

    fwd = build_forward(kind, rec, table, swc_path)
    return np.asarray(jax.jit(jax.vmap(fwd.simulate))(theta))[:, 0]


def predictive(problem: FeatureProblem, model_spec: tuple[str, dict, Any], theta: dict) -> dict:
    """Predictive traces, spike counts, rests and features of the draws `theta`, at the
    recording's step (``ref``) and over the whole sweep at the fit step (``fit``)."""
    import inference.features as ft
    from datasets.resample import prepare

    rec = problem.rec
    on, off = problem.step_ms
    out = {}
    for label, r in (("ref", rec), ("fit", prepare(rec, None, problem.fit.dt_ms))):
        v = simulate_draws(*model_spec, r, theta)
        counts, rests = zip(*(count_and_rest(trace, r.dt_ms, on, off) for trace in v))
        out[label] = {"spike_count": np.array(counts), "rest": np.array(rests)}
        if label == "ref":
            out[label]["v"] = v
            feats = ft.trace_features(v, problem.windows.shifted(r.dt_ms, 0.0))
            out[label]["features"] = np.asarray(feats)
    return out


def to_idata(smc, space, problem: FeatureProblem, pp: dict, attrs: dict):
    """Results tree (ArviZ 1): populations as chains; predictive counts, rests, features and
    decimated traces (``v_pred``/``v_obs`` for the plots)."""
    import arviz_base as azb

    from inference.features import FEATURE_NAMES

    post = {k: np.asarray(v) for k, v in space.to_constrained(smc.z).items()}
    n_pop = smc.z.shape[0]
    per_pop = lambda x: np.asarray(x).reshape(n_pop, -1, *np.shape(x)[1:])  # noqa: E731
    stride = max(1, math.ceil(len(problem.rec) / MAX_PLOT_SAMPLES))
    t_plot = np.asarray(problem.rec.t_ms)[::stride]
    targets = problem.targets()
    groups = {
        "posterior": post,
        "posterior_predictive": {
            "spike_count": per_pop(pp["ref"]["spike_count"]),
            "resting_potential": per_pop(pp["ref"]["rest"]),
            "features": per_pop(pp["ref"]["features"]),
            "spike_count_fit_dt": per_pop(pp["fit"]["spike_count"]),
            "v_pred": per_pop(pp["ref"]["v"][:, None, ::stride]),
        },
        "sample_stats": {"feature_log_lik": smc.log_lik, "sim_features": smc.features},
        "observed_data": {
            "features": problem.observed,
            "spike_count": np.asarray(targets[0]),
            "resting_potential": np.asarray(targets[1]),
            "v_obs": np.asarray(problem.rec.v_mV)[None, ::stride],
        },
        "constant_data": {"feature_scale": problem.scales},
    }
    tree = azb.from_dict(
        groups,
        coords={"feature": list(FEATURE_NAMES), "time": t_plot, "recording": [0]},
        dims={
            "features": ["feature"],
            "sim_features": ["feature"],
            "feature_scale": ["feature"],
            "v_pred": ["recording", "time"],
            "v_obs": ["recording", "time"],
        },
    )
    tree.attrs.update(attrs)
    return tree, t_plot


def predictive_report(problem: FeatureProblem, pp: dict, distinct: int) -> dict:
    """Recorded spike count / rest vs the 90% predictive intervals (``run.json``)."""
    count, rest = problem.targets()
    ref = pp["ref"]
    return {
        "draws": int(ref["spike_count"].size),
        "distinct_particles": distinct,
        "window_ms": [0.0, problem.step_ms[1]],
        "spike_count": interval_check(count, ref["spike_count"]),
        "resting_potential_mV": interval_check(rest, ref["rest"]),
        "fit_dt_ms": problem.fit.dt_ms,
        "fit_dt_count_bias": float(np.mean(pp["fit"]["spike_count"] - ref["spike_count"])),
    }


def run_smc_fit(
    args, problem: FeatureProblem, model, *, fingerprint: dict, model_spec: tuple[str, dict, Any]
):
    """Sample, simulate the predictive, build the InferenceData; write the check plot.

    Returns ``(idata, t_plot, predictive_check, smc_info)``.
    """
    import jax

    from inference.smc import SmcCheckpoint, tempered_smc

    start = time.perf_counter()
    space = prior_space(model)
    ckpt = SmcCheckpoint(
        args.out / "checkpoints" / "smc_state.npz", fingerprint, resume=args.resume
    )
    ckpt.path.parent.mkdir(parents=True, exist_ok=True)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    smc = tempered_smc(
        make_evaluate(model, space),
        space,
        populations=args.chains,
        particles=args.particles,
        moves=args.smc_moves,
        final_moves=args.final_moves,
        max_stages=args.max_stages,
        seed=args.seed,
        log=log,
        checkpoint=ckpt,
    )
    z_pp = pick_draws(smc.z, args.pp_draws, args.seed)
    flat = z_pp.reshape(-1, z_pp.shape[-1])
    distinct = int(len(np.unique(flat, axis=0)))
    log(f"[smc] posterior predictive: {flat.shape[0]} draws ({distinct} distinct particles)")
    pp = predictive(problem, model_spec, space.to_constrained(jax.numpy.asarray(flat)))
    info = {
        "stages": len(smc.betas) - 1,
        "truncated": bool(smc.truncated),
        "log_evidence": smc.log_evidence.tolist(),
        "min_unique_fraction": float(smc.unique_fraction.min()),
        "final_accept": [float(a) for a in smc.accept[-1]] if smc.accept else [],
        "populations": args.chains,
        "particles": args.particles,
    }
    attrs = {
        "inference": "smc",
        "method": "tempered SMC, Gaussian feature likelihood",
        "wall_time_s": time.perf_counter() - start,
        "fit_dt_ms": problem.fit.dt_ms,
        "smc": json.dumps(info),
    }
    idata, t_plot = to_idata(smc, space, problem, pp, attrs)
    check = predictive_report(problem, pp, distinct)
    plot_predictive_check(problem, pp, args.out / "predictive_check.png")
    return idata, t_plot, check, info


def plot_predictive_check(problem: FeatureProblem, pp: dict, path: Path, n_traces: int = 20):
    """Recording and predictive draws (whole sweep and the step's first 115 ms), and
    histograms of the predictive spike count and resting potential with the recorded
    values."""
    import matplotlib.pyplot as plt

    rec, targets = problem.rec, problem.targets()
    t, v_obs, v = rec.t_ms, np.asarray(rec.v_mV), pp["ref"]["v"][:n_traces]
    fig = plt.figure(figsize=(11, 7))
    grid = fig.add_gridspec(2, 2, height_ratios=(2.2, 1))
    ax = fig.add_subplot(grid[0, :])
    step = max(1, int(round(0.1 / rec.dt_ms)))
    for trace in v:
        ax.plot(t[::step], trace[::step], color="C1", lw=0.4, alpha=0.35)
    ax.plot(t[::step], v_obs[::step], color="k", lw=0.6, label="recording")
    ax.plot([], [], color="C1", label=f"posterior predictive ({len(v)} draws)")
    ax.set(xlabel="t (ms)", ylabel="v (mV)", title=Path(str(rec.meta.get("path", ""))).stem)
    ax.legend(loc="lower right", fontsize=8)
    inset = ax.inset_axes((0.55, 0.5, 0.44, 0.48))
    lo = problem.step_ms[0] - 5.0
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
        axh.set(xlabel=label, ylabel="draws")
        axh.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
