"""Multi-sweep vs single-sweep NUTS fits: how much do several recordings of one cell help?

    python -m experiments.multisweep_study --out DIR [--steps 0.01,0.02,0.03]
        [--t-max 30] [--chains 4] [--warmup 100] [--samples 200] [--map-steps 300]

Generates one synthetic sweep per current step (nA) of the embedded example's cell
(HH compartment, truth gNa 0.1, gK 0.04, gLeak 4e-4 S/cm², step from 5 ms to 5 ms
before the end, σ = 1 mV, noise seed k for sweep k; ``fit_conductances
--synthetic-steps`` with shorter sweeps), then runs the Laplace-preconditioned NUTS of
:func:`inference.sampling.run_nuts` (as ``fit_conductances`` does: MAP start, the
Laplace covariance as a fixed dense mass matrix) on each sweep alone and on all of
them jointly (:class:`inference.multisweep.MultiSweepModel`: shared conductances,
σ fixed at 1 mV per sweep). The MAP searches are continued from the weakest
stimulus up (see :func:`run_fits`).

Writes ``DIR/hdi_widths.csv`` (one row per fit and parameter: 99% HDI bounds and
width in S/cm², width relative to the truth, whether the truth is inside, R-hat,
bulk ESS, the fit's wall time), ``DIR/hdi_widths.png`` (the intervals per parameter)
and ``DIR/study.json``; prints the table of widths. The acceptance check
``joint_narrowest`` is true when the joint fit's HDI is narrower than every
single-sweep one for every conductance.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HDI_PROB = 0.99
NAMES = ("HH_gNa", "HH_gK", "HH_gLeak")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("results/multisweep_study"))
    p.add_argument("--steps", default="0.01,0.02,0.03", help="step amplitudes (nA), one sweep each")
    p.add_argument("--t-max", type=float, default=30.0, help="sweep duration (ms)")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--map-steps", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    from experiments.fit_conductances import _parse_steps

    try:
        args.steps = _parse_steps(args.steps)
    except ValueError as err:
        p.error(str(err).replace("--synthetic-steps", "--steps"))
    for flag, value, low in (
        ("--chains", args.chains, 1),
        ("--warmup", args.warmup, 0),
        ("--samples", args.samples, 1),
        ("--map-steps", args.map_steps, 0),
    ):
        if value < low:
            p.error(f"{flag} must be >= {low}, got {value}")
    if not np.isfinite(args.t_max) or args.t_max < 12.0:
        p.error(f"--t-max must be a duration of at least 12 ms, got {args.t_max}")
    if args.out.exists() and not args.out.is_dir():
        p.error(f"--out {args.out} exists and is not a folder")
    return args


def make_sweeps(steps, t_max: float):
    """One embedded-example sweep per amplitude (nA): step from 5 ms to ``t_max - 5`` ms."""
    from datasets import EMBEDDED_TRUTH, hh_compartment

    return [
        hh_compartment(
            EMBEDDED_TRUTH, t_max=t_max, i_amp=a, i_delay=5.0, i_dur=t_max - 10.0, seed=k
        )
        for k, a in enumerate(steps)
    ]


def fit_nuts(model, y, args, warm_starts: list[dict]) -> tuple:
    """Laplace-preconditioned NUTS (as ``fit_conductances``); returns (idata, MAP, wall s).

    ``warm_starts`` (the MAPs of the fits before) join the MAP's prior screen.
    """
    from inference.diagnostics import to_inference_data
    from inference.sampling import run_nuts

    start = time.perf_counter()
    result = run_nuts(
        model,
        y,
        num_chains=args.chains,
        num_warmup=args.warmup,
        num_samples=args.samples,
        seed=args.seed,
        map_kwargs={"num_steps": args.map_steps, "init_values": warm_starts or None},
        progress=False,
    )
    wall = time.perf_counter() - start
    idata = to_inference_data(result, model, y, num_predictive=0, log_likelihood=False)
    return idata, result.map_result.best, wall


def hdi_rows(label: str, idata, truth: dict, wall: float) -> list[dict]:
    """One table row per conductance: 99% HDI, its width, truth coverage, R-hat, ESS."""
    from inference.diagnostics import summarize

    summary = summarize(idata, truth=truth, hdi_prob=HDI_PROB)
    lo, hi = [c for c in summary.columns if c.startswith("hdi_")][:2]
    rows = []
    for name in NAMES:
        row = summary.loc[name]
        width = float(row[hi] - row[lo])
        rows.append(
            {
                "fit": label,
                "parameter": name,
                "truth": truth[name],
                "mean": float(row["mean"]),
                "hdi_low": float(row[lo]),
                "hdi_high": float(row[hi]),
                "hdi_width": width,
                "rel_width": width / truth[name],
                "truth_in_hdi": bool(row["truth_in_hdi"]),
                "r_hat": float(row["r_hat"]),
                "ess_bulk": float(row["ess_bulk"]),
                "divergent_fraction": summary.attrs["divergent_fraction"],
                "wall_s": wall,
            }
        )
    return rows


def run_fits(args, sweeps) -> list[dict]:
    """The single-sweep fits in order, then the joint one; all table rows.

    Continuation: each fit's MAP search also starts from the MAPs of the fits before
    it (the weakest stimulus first). Spiking likelihoods have local optima in spike
    timing that a prior screen can miss for strong stimuli; the posterior itself does
    not depend on where the search starts.
    """
    from experiments.fit_conductances import build_hh_model, build_hh_multisweep

    kw = {"likelihood": "gaussian", "obs_std": 1.0, "process_std": {"v": 0.05}}
    truth = sweeps[0].truth
    rows: list[dict] = []
    maps: list[dict] = []
    for k, rec in enumerate(sweeps):
        model = build_hh_model(rec, **kw)
        y = model.check_observations(np.asarray(rec.v_mV)[None])
        idata, best, wall = fit_nuts(model, y, args, maps)
        maps.append(best)
        rows += hdi_rows(f"sweep {k} ({args.steps[k]:g} nA)", idata, truth, wall)
        print(f"[study] sweep {k}: {wall:.0f} s", file=sys.stderr, flush=True)
    model = build_hh_multisweep(sweeps, **kw)
    y = model.check_observations([np.asarray(r.v_mV)[None] for r in sweeps])
    idata, _, wall = fit_nuts(model, y, args, maps)
    rows += hdi_rows("joint", idata, truth, wall)
    print(f"[study] joint: {wall:.0f} s", file=sys.stderr, flush=True)
    return rows


def joint_is_narrowest(table) -> dict[str, bool]:
    """Per conductance: is the joint 99% HDI narrower than every single-sweep one?"""
    out = {}
    for name, part in table.groupby("parameter"):
        joint = part.loc[part["fit"] == "joint", "hdi_width"].iloc[0]
        singles = part.loc[part["fit"] != "joint", "hdi_width"]
        out[name] = bool((joint < singles).all())
    return out


def plot_intervals(table, path: Path) -> None:
    """99% HDI and posterior mean of every fit, one panel per conductance, truth dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from inference.fit_plots import save_figure

    fits = list(dict.fromkeys(table["fit"]))
    fig, axes = plt.subplots(1, len(NAMES), figsize=(4.2 * len(NAMES), 3.2))
    for ax, name in zip(axes, NAMES):
        part = table[table["parameter"] == name].set_index("fit").loc[fits]
        ypos = np.arange(len(fits))[::-1]
        colors = ["C0" if f != "joint" else "C3" for f in fits]
        ax.hlines(ypos, part["hdi_low"], part["hdi_high"], colors=colors, lw=3)
        ax.plot(part["mean"], ypos, "k|", ms=10)
        ax.axvline(part["truth"].iloc[0], color="k", ls="--", lw=0.8, label="truth")
        ax.set_yticks(ypos, fits if ax is axes[0] else [""] * len(fits))
        ax.set_xlabel(f"{name} (S/cm²)")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 2))
    axes[0].legend(loc="lower left", fontsize=8)
    fig.suptitle(f"{int(HDI_PROB * 100)}% HDI: single sweeps vs the joint multi-sweep fit")
    fig.tight_layout()
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    import pandas as pd

    from inference.checkpoint import atomic_path, atomic_write_text

    start = time.perf_counter()
    sweeps = make_sweeps(args.steps, args.t_max)
    table = pd.DataFrame(run_fits(args, sweeps))
    total = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out / "hdi_widths.csv") as tmp:
        table.to_csv(tmp, index=False)
    plot_intervals(table, args.out / "hdi_widths.png")
    narrowest = joint_is_narrowest(table)
    report = {
        "steps_nA": args.steps,
        "t_max_ms": args.t_max,
        "chains": args.chains,
        "warmup": args.warmup,
        "samples": args.samples,
        "hdi_prob": HDI_PROB,
        "wall_time_s": total,
        "joint_narrowest": narrowest,
        "all_truth_in_hdi": bool(table["truth_in_hdi"].all()),
        "max_r_hat": float(table["r_hat"].max()),
    }
    atomic_write_text(args.out / "study.json", json.dumps(report, indent=2))
    widths = table.pivot(index="fit", columns="parameter", values="hdi_width")
    print(widths.loc[list(dict.fromkeys(table["fit"])), list(NAMES)].to_string(float_format="%.3e"))
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
