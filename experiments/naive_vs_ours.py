"""Naive NUTS (what users glue together by hand) beside ours, on the same HH problem.

    python -m experiments.naive_vs_ours --out results/naive_vs_ours

Problem: default HH compartment, ``HH_gNa/HH_gK/HH_gLeak``, 50 ms, 0.02 nA step
5–45 ms, σ = 1 mV, truth away from the defaults (the embedded example).

* naive: NUTS from random prior draws, diagonal mass matrix, target acceptance
  0.8, reverse-mode gradients — numpyro's defaults;
* ours: chains started at optax MAP estimates found after a global prior screen,
  dense mass matrix, target acceptance 0.9, forward-mode gradients.

Writes ``comparison.csv`` (R-hat, bulk ESS, divergences, truth-in-99%-HDI, wall
time per method), both posteriors as netcdf and a rank/trace plot per method.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from inference.checkpoint import atomic_path


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("results/naive_vs_ours"))
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--naive-warmup", type=int, default=500)
    p.add_argument("--naive-samples", type=int, default=500)
    p.add_argument("--likelihood", default="gaussian", choices=["gaussian", "kalman"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", choices=["naive", "ours"], default=None)
    return p.parse_args(argv)


def run_naive(model, y, args):
    """numpyro defaults: random initialisation, diagonal mass, reverse-mode gradients."""
    from inference.sampling import run_nuts

    return run_nuts(
        model,
        y,
        num_chains=args.chains,
        num_warmup=args.naive_warmup,
        num_samples=args.naive_samples,
        init="prior",
        target_accept_prob=0.8,
        dense_mass=False,
        forward_mode=False,
        seed=args.seed,
        checkpoint_dir=args.out / "naive_ckpt",
    )


def run_ours(model, y, args):
    from inference.sampling import run_nuts

    return run_nuts(
        model,
        y,
        num_chains=args.chains,
        num_warmup=args.warmup,
        num_samples=args.samples,
        seed=args.seed,
        checkpoint_dir=args.out / "ours_ckpt",
    )


def main(argv: list[str] | None = None):
    import jax

    jax.config.update("jax_enable_x64", True)
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from datasets import embedded_example
    from experiments.fit_conductances import build_hh_model
    from inference.diagnostics import save_results, summarize, to_inference_data

    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rec = embedded_example()
    model = build_hh_model(rec, likelihood=args.likelihood, obs_std=1.0, process_std={"v": 0.05})
    y = model.check_observations(np.asarray(rec.v_mV)[None, :])
    rows = []
    for name, runner in (("naive", run_naive), ("ours", run_ours)):
        if args.only and name != args.only:
            continue
        print(f"== {name} ==", file=sys.stderr)
        start = time.perf_counter()
        result = runner(model, y, args)
        wall = time.perf_counter() - start
        idata = to_inference_data(result, model, y, dt_ms=rec.dt_ms, log_likelihood=False)
        summary = summarize(idata, truth=rec.truth)
        save_results(idata, args.out / name, truth=rec.truth, t_ms=np.asarray(rec.t_ms))
        rows.append(
            {
                "method": name,
                "likelihood": args.likelihood,
                "wall_time_s": wall,
                "max_r_hat": float(summary["r_hat"].max()),
                "min_ess_bulk": float(summary["ess_bulk"].min()),
                "divergent_fraction": float(summary.attrs.get("divergent_fraction", np.nan)),
                "divergent_count": int(np.asarray(result.stats["diverging"]).sum()),
                "all_truth_in_99hdi": bool(summary["truth_in_hdi"].all()),
            }
        )
        print(summary.to_string(), file=sys.stderr)
    table = pd.DataFrame(rows)
    with atomic_path(args.out / "comparison.csv") as tmp:
        table.to_csv(tmp, index=False)
    print(table.to_string(index=False))
    return table


if __name__ == "__main__":
    main()
