"""Real-data study: every Allen sweep fitted by ``fit_conductances --model pospischil``.

    python -m experiments.allen_study --out DIR [--sweeps N] [--data-dir PATH] [--quick]
        [--resume] [SMC options: --populations --particles --moves --final-moves ...]

Each sweep is one run of the fitting CLI's own pipeline (the same model, priors,
likelihood, sampler, outputs and ``--resume``), with its defaults for a real
recording: a Pospischil compartment (:mod:`experiments.cell_models`), the Gaussian
likelihood of summary features, tempered SMC (:mod:`experiments.feature_fit`), and a
posterior predictive of the whole sweep at the recording's step. This script only
loops over the sweeps and gathers the predictive checks: DIR/<sweep>/ holds each
fit's ``posterior.nc``, ``summary.csv``, ``run.json`` and plots; DIR/allen_summary.csv
and DIR/allen_summary.png compare recorded and predicted spike counts and resting
potentials (median and 90% interval) across sweeps.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from experiments.cell_models import POSPISCHIL_PRIORS
from inference.checkpoint import atomic_path, atomic_write_text
from inference.fit_plots import save_figure

# site -> (prior family, location, scale), as ``fit_conductances --model pospischil``.
PARAM_SPECS = {site: spec[2:] for site, spec in POSPISCHIL_PRIORS.items()}
QUICK = {"populations": 2, "particles": 16, "moves": 2, "final_moves": 2, "max_stages": 2}


def _log(msg: str) -> None:  # progress lines go to stderr
    print(msg, file=sys.stderr, flush=True)


def sweep_argv(path: Path, out_dir: Path, args) -> list[str]:
    """The ``fit_conductances`` command line of one sweep."""
    argv = ["--data", str(path), "--model", "pospischil", "--method", "smc"]
    argv += ["--out", str(out_dir), "--seed", str(args.seed)]
    argv += ["--chains", str(args.populations), "--particles", str(args.particles)]
    argv += ["--smc-moves", str(args.moves), "--final-moves", str(args.final_moves)]
    argv += ["--max-stages", str(args.max_stages), "--pp-draws", str(args.pp_draws)]
    if args.dt is not None:
        argv += ["--dt", str(args.dt)]
    return argv + (["--resume"] if args.resume else [])


def fit_sweep(path: Path, out_dir: Path, args) -> dict:
    """Fit one sweep with ``fit_conductances``; return its summary row."""
    import pandas as pd

    from datasets import load_npz
    from experiments import fit_conductances

    start = time.perf_counter()
    report = fit_conductances.main(sweep_argv(path, out_dir, args))
    wall = time.perf_counter() - start
    summary = pd.read_csv(out_dir / "summary.csv", index_col=0)
    row = summary_row(path, load_npz(path), report, summary, wall)
    row["quick"] = bool(args.quick)
    _log(
        f"[allen] {path.stem}: spikes {row['rec_spike_count']} vs predicted "
        f"{row['pp_count_median']:g} [{row['pp_count_q05']:g}, {row['pp_count_q95']:g}]; "
        f"rest {row['rec_rest_mV']:.2f} vs {row['pp_rest_median']:.2f} mV "
        f"[{row['pp_rest_q05']:.2f}, {row['pp_rest_q95']:.2f}]; {wall:.0f} s"
    )
    return row


def summary_row(path: Path, rec, report: dict, summary, wall: float) -> dict:
    """One line of ``allen_summary.csv`` from a fit's ``run.json`` and ``summary.csv``."""
    check, smc = report["predictive_check"], report["smc"]
    count, rest = check["spike_count"], check["resting_potential_mV"]
    step = (rec.t_ms >= rec.stim_on_ms) & (rec.t_ms < rec.stim_off_ms)
    row = {
        "sweep": path.stem,
        "specimen_id": rec.meta.get("specimen_id"),
        "sweep_number": rec.meta.get("sweep_number"),
        "i_amp_nA": float(np.median(rec.i_nA[step])),
        "rec_spike_count": int(count["recorded"]),
        "pp_count_median": count["median"],
        "pp_count_q05": count["q05"],
        "pp_count_q95": count["q95"],
        "rec_rest_mV": rest["recorded"],
        "pp_rest_median": rest["median"],
        "pp_rest_q05": rest["q05"],
        "pp_rest_q95": rest["q95"],
        "count_in_90": count["in_90"],
        "rest_in_90": rest["in_90"],
        "fit_dt_count_bias": check["fit_dt_count_bias"],
    }
    for name in summary.index:
        row[f"post_mean_{name}"] = float(summary.loc[name, "mean"])
    return {
        **row,
        "max_r_hat": float(summary["r_hat"].max()),
        "min_unique_fraction": smc["min_unique_fraction"],
        "pp_draws": check["draws"],
        "distinct_particles": check["distinct_particles"],
        "wall_time_s": wall,
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
    save_figure(fig, path)


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", type=Path, default=Path("results/allen_study"))
    p.add_argument("--data-dir", type=Path, default=None, help="folder of Allen .npz sweeps")
    p.add_argument("--sweeps", type=int, default=None, help="fit only the first N sweeps")
    p.add_argument("--quick", action="store_true", help="tiny settings (smoke test only)")
    p.add_argument("--populations", type=int, default=4, help="independent SMC populations")
    p.add_argument("--particles", type=int, default=256, help="particles per population")
    p.add_argument("--moves", type=int, default=8, help="MH moves per tempering stage")
    p.add_argument("--final-moves", type=int, default=24, help="MH moves at beta = 1")
    p.add_argument("--max-stages", type=int, default=40)
    p.add_argument("--dt", type=float, default=None, help="fit step in ms (default 2x rec)")
    p.add_argument("--pp-draws", type=int, default=100, help="posterior-predictive draws")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue interrupted sweep fits")
    args = p.parse_args(argv)
    if args.sweeps is not None and args.sweeps < 1:
        p.error(f"--sweeps must be >= 1, got {args.sweeps}")
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
        args.pp_draws = 8
    return args


def main(argv: list[str] | None = None) -> list[dict]:
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
    cols = ["sweep", "rec_spike_count", "pp_count_median", "pp_count_q05", "pp_count_q95"]
    cols += ["rec_rest_mV", "pp_rest_median", "pp_rest_q05", "pp_rest_q95", "wall_time_s"]
    _log(table[cols].to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    _log(f"[allen] total wall time {time.perf_counter() - start:.0f} s")
    settings = json.dumps(vars(args), default=str, indent=2)
    atomic_write_text(args.out / "allen_settings.json", settings)
    return rows


if __name__ == "__main__":
    main()
