"""Simulation-based calibration of NUTS on a passive single compartment.

python -m experiments.sbc_study --out results/sbc --num-datasets 100

Model: one compartment (radius 1 µm, length 10 µm) with a ``Leak`` channel, starting
at -70 mV, a 0.005 nA step from 1 to 5 ms, 6 ms at dt = 0.025 ms, recorded voltage
with Gaussian noise σ = 1 mV (fixed). Parameters: ``Leak_gLeak`` ~ LogNormal(log 1e-3,
0.3) S/cm² (membrane time constant ~1 ms) and ``Leak_eLeak`` ~ Normal(-65, 3) mV.
Each dataset is fitted by NUTS (:class:`inference.sbc.NutsFit`, compiled once);
ranks among L = 99 thinned draws are tested for uniformity with a χ² test.

Writes ``sbc_ranks.npz``, ``sbc.png``, ``sbc_summary.csv`` (and the resumable
checkpoint ``sbc_checkpoint.npz``); prints the p-values.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

DT, T_MAX = 0.025, 6.0
STIM = dict(i_delay=1.0, i_dur=4.0, i_amp=0.005)


def make_model(obs_noise: float = 1.0):
    """The passive-compartment :class:`~inference.model.BayesianModel` of the study."""
    import numpyro.distributions as dist

    import sim as jx
    from inference.model import BayesianModel, ForwardModel
    from inference.priors import Param
    from sim.channels import Leak

    cell = jx.Cell()
    cell.insert(Leak())
    cell.init_states()
    cell.record("v", verbose=False)
    current = jx.step_current(STIM["i_delay"], STIM["i_dur"], STIM["i_amp"], DT, T_MAX)
    cell.stimulate(current, verbose=False)
    params = [
        Param("Leak_gLeak", dist.LogNormal(math.log(1e-3), 0.3)),
        Param("Leak_eLeak", dist.Normal(-65.0, 3.0)),
    ]
    return BayesianModel(ForwardModel(cell, params, delta_t=DT), obs_noise=obs_noise)


def main(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/sbc"))
    parser.add_argument("--num-datasets", type=int, default=100)
    parser.add_argument("--num-draws", type=int, default=99, help="L (ranks lie in 0..L)")
    parser.add_argument("--num-warmup", type=int, default=300)
    parser.add_argument("--num-samples", type=int, default=150, help="per chain")
    parser.add_argument("--num-chains", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    for flag, value, low in (
        ("--num-datasets", args.num_datasets, 1),
        ("--num-draws", args.num_draws, 1),
        ("--num-warmup", args.num_warmup, 0),
        ("--num-samples", args.num_samples, 1),
        ("--num-chains", args.num_chains, 1),
    ):
        if value < low:
            parser.error(f"{flag} must be >= {low}, got {value}")
    if args.num_samples * args.num_chains < args.num_draws:
        parser.error(
            f"--num-samples x --num-chains = {args.num_samples * args.num_chains} draws per "
            f"fit, fewer than --num-draws (L) = {args.num_draws}"
        )
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} exists and is not a folder")

    import jax

    jax.config.update("jax_enable_x64", True)
    from inference.checkpoint import CheckpointError, ResumeMismatchError, atomic_path

    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        result = _run(args)
    except (ResumeMismatchError, CheckpointError) as err:
        parser.exit(2, f"{parser.prog}: error: cannot --resume: {err}\n")
    wall = time.perf_counter() - start
    result.save_npz(args.out / "sbc_ranks.npz")
    result.plot(args.out / "sbc.png")
    table = result.chi2_uniformity()
    table["wall_s"] = result.runtime_s
    table["wall_s_this_session"] = wall
    with atomic_path(args.out / "sbc_summary.csv") as tmp:
        table.to_csv(tmp)
    divergent = result.meta.get("num_divergent", [])
    print(table.to_string())
    print(
        f"SBC: {args.num_datasets} datasets, L = {args.num_draws}, wall {wall:.0f} s, "
        f"divergent transitions {sum(divergent)} in {sum(d > 0 for d in divergent)} fits"
    )
    return table


def _run(args):
    from inference.sbc import run_sbc

    return run_sbc(
        make_model,
        num_datasets=args.num_datasets,
        num_posterior_draws=args.num_draws,
        fit="nuts",
        fit_kwargs=dict(
            num_warmup=args.num_warmup,
            num_samples=args.num_samples,
            num_chains=args.num_chains,
        ),
        seed=args.seed,
        checkpoint_path=args.out / "sbc_checkpoint.npz",
        resume=args.resume,
    )


if __name__ == "__main__":
    main()
