"""Calibration of EKF/UKF state bands over many synthetic HH recordings.

python -m experiments.kalman_calibration --out DIR [--n 20] [--t-max 60] [--filters ekf,ukf]

Each recording is ``datasets.synthetic.hh_compartment`` (deterministic ODE, σ = 1 mV
observation noise) with conductances drawn from the priors of
``experiments.fit_conductances`` (LogNormal, median at the HH defaults, log-sd 0.7),
a true resting potential ``v0 ~ U(-70, -64)`` mV (the model is started at -70 mV:
the initial state is uncertain), a step of ``U(0.005, 0.04)`` nA from 5 ms and a
fresh noise seed. The filter knows the conductances and uses the CLI's rules
(``experiments.estimate_states``): process std ``DEFAULT_PROCESS_STD`` and initial
std ``initial_std_rule`` (``v0_std`` 5 mV). Outputs: ``DIR/coverage.csv`` (one row per
recording and filter: 95% band coverage of v, m, h, n, mean NIS), ``DIR/coverage.npz``
and ``DIR/coverage.png``.
"""

from __future__ import annotations

import argparse
import csv
import sys
import warnings
from pathlib import Path

import numpy as np

STATES = ("v", "HH_m", "HH_h", "HH_n")
FILTERS = ("ekf", "ukf")


def draw_cases(n: int, seed: int = 0) -> list[dict]:
    """`n` recording specs: truth conductances, v0 (mV), amplitude (nA), noise seed."""
    from experiments.fit_conductances import HH_PRIOR_MEDIANS, PRIOR_LOG_SD

    rng = np.random.default_rng(seed)
    cases = []
    for k in range(n):
        truth = {
            key: float(med * np.exp(PRIOR_LOG_SD * rng.standard_normal()))
            for key, med in HH_PRIOR_MEDIANS.items()
        }
        cases.append(
            {"truth": truth, "v0": float(rng.uniform(-70, -64)),
             "amp": float(rng.uniform(0.005, 0.04)), "seed": 1000 + k}
        )  # fmt: skip
    return cases


def run_case(case: dict, method: str, t_max: float = 60.0, process_std: dict | None = None) -> dict:
    """Coverage (per state) and mean NIS of one filter on one recording."""
    from datasets.synthetic import hh_compartment
    from experiments.estimate_states import estimate, summarize

    rec = hh_compartment(
        {**case["truth"], "v": case["v0"]}, t_max=t_max, i_amp=case["amp"], seed=case["seed"]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # NIS of noise-free dynamics
        res = estimate(rec, params=case["truth"], method=method, process_std=process_std)
    summary = summarize(res)
    row = {s: summary[s]["coverage95"] for s in STATES}
    spikes = int(np.sum(np.diff((rec.hidden["v_clean_mV"] > 0).astype(int)) == 1))
    return {**row, "nis": float(res["nis_mean"]), "spikes": spikes}


def plot(table: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(table), figsize=(6 * len(table), 3.5), squeeze=False)
    for ax, (method, cov) in zip(axes[0], table.items()):
        for j, s in enumerate(STATES):
            ax.plot(np.arange(len(cov)), cov[:, j], "o-", ms=3, label=s)
        ax.axhspan(0.90, 0.99, color="0.9")
        ax.axhline(0.85, color="C3", lw=0.8, ls="--")
        ax.set(title=method.upper(), xlabel="recording", ylabel="95% band coverage")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--n", type=int, default=20, help="number of recordings (default 20)")
    p.add_argument("--t-max", type=float, default=60.0, help="ms per recording")
    p.add_argument("--filters", default="ekf,ukf")
    args = p.parse_args(argv)
    methods = [m.strip() for m in args.filters.split(",") if m.strip()]
    if args.n < 1 or not methods or any(m not in FILTERS for m in methods):
        p.error(f"--n must be >= 1 and --filters a list of {list(FILTERS)}.")
    if args.out.exists() and not args.out.is_dir():
        p.error(f"--out {args.out} exists and is not a folder.")
    args.out.mkdir(parents=True, exist_ok=True)
    import jax

    jax.config.update("jax_enable_x64", True)
    cases, rows, table = draw_cases(args.n), [], {}
    for method in methods:
        cov = []
        for k, case in enumerate(cases):
            row = {"recording": k, "filter": method, **run_case(case, method, args.t_max)}
            rows.append(row)
            cov.append([row[s] for s in STATES])
            print(", ".join(f"{a} {b:.3g}" if isinstance(b, float) else f"{a} {b}"
                            for a, b in row.items()), flush=True)  # fmt: skip
        table[method] = np.asarray(cov)
    with open(args.out / "coverage.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    np.savez(args.out / "coverage.npz", states=np.array(STATES), **table)
    plot(table, args.out / "coverage.png")
    for method, cov in table.items():
        print(f"{method}: mean {cov.mean(0).round(3)} min {cov.min(0).round(3)}")
    return table


if __name__ == "__main__":
    main(sys.argv[1:])
