"""NUTS on a whole CA1 cell: four conductances from 20 ms of somatic voltage.

The study of issue 8's cell-scale acceptance point. The CA1 n120 morphology
(``read_swc``, one compartment per branch: 156 compartments) with ``HH``
everywhere; ground truth gNa 0.12 S/cm² at the soma and 0.03 S/cm² in the
dendrites (basal + apical), gK 0.036 and gLeak 3e-4 S/cm² on the whole cell (the
axon-free morphology has no other group). A step of ``--amp`` nA (default 0.1: one
somatic spike) from 2 ms to 17 ms is injected at the soma and the somatic voltage is
recorded every 0.025 ms for 20 ms, with Gaussian noise σ = 1 mV (seed ``--seed``).

Priors are LogNormal with log-sd 0.7 around the medians of
:data:`experiments.cell_models.SWC_PRIORS` (soma gNa 0.12, dendritic gNa 0.012, gK
0.036, gLeak 3e-4). The sampler is :func:`inference.sampling.run_nuts` with its
defaults: a multi-start MAP, a fixed dense mass matrix from the Laplace
approximation there, step-size-only warm-up, chains started at Laplace draws.

Writes to ``--out``: ``recording.npz`` (the synthetic data and truth),
``posterior.nc``, ``summary.csv``, the plots of
:func:`inference.diagnostics.save_results`, and ``run.json`` (wall time per stage,
R-hat, bulk ESS, divergences, truth in the 99% HDI, leapfrog steps per draw and
gradients per effective sample). Interrupted runs continue with ``--resume``.

    python -m experiments.ca1_nuts --out results/ca1_nuts
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_SWC = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "morphologies"
DEFAULT_SWC = DEFAULT_SWC / "morph_ca1_n120.swc"
TRUTH = {
    "HH_gNa_soma": 0.12,
    "HH_gNa_dendrite": 0.03,
    "HH_gK": 0.036,
    "HH_gLeak": 3e-4,
}
PRIOR_MEDIANS = {
    "HH_gNa_soma": 0.12,
    "HH_gNa_dendrite": 0.012,
    "HH_gK": 0.036,
    "HH_gLeak": 3e-4,
}
SITES = {  # site -> (data_set key, group; None = whole cell)
    "HH_gNa_soma": ("HH_gNa", "soma"),
    "HH_gNa_dendrite": ("HH_gNa", "dendrite"),
    "HH_gK": ("HH_gK", None),
    "HH_gLeak": ("HH_gLeak", None),
}
DT_MS, T_MAX_MS, STEP_ON_MS, STEP_OFF_MS = 0.025, 20.0, 2.0, 17.0


def build_cell(swc: Path, amp_nA: float):
    """The CA1 cell with HH, a ``dendrite`` group, the soma step and the soma recording."""
    import sim as jx
    from sim.channels import HH

    cell = jx.read_swc(swc, ncomp=1)
    cell.insert(HH())
    for group in ("basal", "apical"):
        if group in cell.group_names:
            getattr(cell, group).add_to_group("dendrite")
    if "soma" not in cell.group_names or "dendrite" not in cell.group_names:
        raise ValueError(f"{swc}: needs soma and basal/apical dendrites, has {cell.group_names}")
    cell.init_states()
    soma = cell.soma.branch(0).comp(0)
    stim = jx.step_current(STEP_ON_MS, STEP_OFF_MS - STEP_ON_MS, amp_nA, DT_MS, T_MAX_MS)
    soma.stimulate(stim, verbose=False)
    soma.record("v", verbose=False)
    return cell


def build_model(cell, obs_std: float = 1.0):
    import numpyro.distributions as dist

    from inference.model import BayesianModel, ForwardModel
    from inference.priors import Param

    params = [
        Param(key, dist.LogNormal(float(np.log(PRIOR_MEDIANS[site])), 0.7), where=where, site=site)
        for site, (key, where) in SITES.items()
    ]
    return BayesianModel(ForwardModel(cell, params, delta_t=DT_MS), obs_noise=obs_std)


def synthetic_recording(model, seed: int, obs_std: float = 1.0) -> np.ndarray:
    """Noisy somatic voltage ``(1, T)`` of the ground truth."""
    import jax.numpy as jnp

    clean = np.asarray(model.forward.simulate({k: jnp.asarray(v) for k, v in TRUTH.items()}))
    rng = np.random.default_rng(seed)
    return clean + obs_std * rng.standard_normal(clean.shape)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("results/ca1_nuts"))
    p.add_argument("--swc", type=Path, default=DEFAULT_SWC, help="CA1 n120 SWC file")
    p.add_argument("--amp", type=float, default=0.1, help="somatic current step (nA)")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--samples", type=int, default=500)
    p.add_argument("--map-steps", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoints")
    args = p.parse_args(argv)
    if not args.swc.is_file():
        p.error(f"--swc {args.swc}: no such file")
    for name in ("chains", "samples", "map_steps"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.warmup < 0 or not np.isfinite(args.amp):
        p.error("--warmup must be >= 0 and --amp finite")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    import matplotlib

    matplotlib.use("Agg")
    from experiments.fit_extras import model_priors
    from inference.checkpoint import RunClock, atomic_write_text, fingerprint
    from inference.diagnostics import save_results, summarize, to_inference_data
    from inference.efficiency import nuts_efficiency
    from inference.sampling import find_map, run_nuts

    args.out.mkdir(parents=True, exist_ok=True)
    ckpt = args.out / "checkpoints"
    ckpt.mkdir(exist_ok=True)
    model = build_model(build_cell(args.swc, args.amp))
    y = model.check_observations(synthetic_recording(model, args.seed))
    t_ms = DT_MS * np.arange(y.shape[-1])
    np.savez(args.out / "recording.npz", v_mV=y[0], t_ms=t_ms, truth=json.dumps(TRUTH))
    fp = fingerprint(
        data=y, model=model.describe(), swc=args.swc.name, amp=args.amp, seed=args.seed
    )
    clock = RunClock()
    settings = {"num_steps": args.map_steps, "seed": args.seed, "fingerprint": fp}
    t0 = time.perf_counter()
    map_result = find_map(
        model, y, checkpoint_path=ckpt / "map.npz", resume=args.resume, clock=clock, **settings
    )
    t_map = time.perf_counter() - t0
    result = run_nuts(
        model,
        y,
        num_chains=args.chains,
        num_warmup=args.warmup,
        num_samples=args.samples,
        map_result=map_result,
        seed=args.seed,
        checkpoint_dir=ckpt,
        resume=args.resume,
        fingerprint=fp,
        clock=clock,
    )
    wall = clock.elapsed()
    idata = to_inference_data(result, model, y, dt_ms=DT_MS, seed=args.seed, runtime_s=wall)
    summary = summarize(idata, truth=TRUTH)
    paths = save_results(idata, args.out, truth=TRUTH, t_ms=t_ms, priors=model_priors(model))
    report = {
        "wall_time_s": wall,
        "map_time_s": t_map,
        "num_compartments": int(model.forward.module.base.nodes.shape[0]),
        "max_r_hat": float(summary["r_hat"].max()),
        "min_ess_bulk": float(summary["ess_bulk"].min()),
        "divergent_fraction": summary.attrs.get("divergent_fraction"),
        "truth_in_hdi": {k: bool(v) for k, v in summary["truth_in_hdi"].items()},
        "efficiency": nuts_efficiency(idata),
        "warmup": result.warmup,
        "settings": vars(args) | {"out": str(args.out), "swc": str(args.swc)},
        "files": {k: str(v) for k, v in paths.items()},
    }
    atomic_write_text(args.out / "run.json", json.dumps(report, indent=2, default=float))
    print(summary.to_string(), file=sys.stderr)
    print(json.dumps({k: report[k] for k in list(report)[:7]}, default=float), file=sys.stderr)
    return report


if __name__ == "__main__":
    main()
