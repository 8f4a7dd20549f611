"""Bayesian conductance fit of a single-compartment model to a current-clamp recording.

    python -m experiments.fit_conductances [--data REC.npz] --model hh \\
        --method nuts|svi|map [--likelihood gaussian|kalman] --out DIR [--resume]

Without ``--data`` it generates and fits the embedded synthetic example (HH
compartment, truth gNa=0.1, gK=0.04, gLeak=4e-4 S/cm², 50 ms, 0.02 nA step from 5
to 45 ms, σ = 1 mV). Writes ``DIR/posterior.nc`` (arviz InferenceData with
posterior variables ``HH_gNa``, ``HH_gK``, ``HH_gLeak``), ``DIR/summary.csv``,
``DIR/run.json`` and plots. ``--resume`` continues an interrupted run from its last
checkpoint (``DIR/checkpoints``).

Priors (``--model hh``), broad and documented: each conductance is LogNormal with
median at the HH default (gNa 0.12, gK 0.036, gLeak 3e-4 S/cm²) and log-sd 0.7,
i.e. a 95% prior interval of ×/÷ 4 around the default.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

PRIOR_LOG_SD = 0.7
HH_PRIOR_MEDIANS = {"HH_gNa": 0.12, "HH_gK": 0.036, "HH_gLeak": 3e-4}


def build_hh_model(recording, *, likelihood: str, obs_std: float | None, process_std: dict):
    """The `--model hh` BayesianModel for a recording (one default compartment with HH)."""
    import jax.numpy as jnp
    import numpyro.distributions as dist

    import sim as jx
    from inference.model import BayesianModel, ForwardModel, KalmanSpec
    from inference.priors import Param
    from sim.channels import HH

    cell = jx.Cell()
    cell.insert(HH())
    cell.init_states()
    cell.record("v", verbose=False)
    # v has N samples; the N-1 steps between them use i[0..N-2] (see datasets.Recording).
    cell.stimulate(np.asarray(recording.i_nA[:-1]), verbose=False)
    params = [
        Param(key, dist.LogNormal(jnp.log(median), PRIOR_LOG_SD))
        for key, median in HH_PRIOR_MEDIANS.items()
    ]
    forward = ForwardModel(cell, params, delta_t=recording.dt_ms)
    noise = dist.HalfNormal(5.0) if obs_std is None else float(obs_std)
    return BayesianModel(
        forward, obs_noise=noise, likelihood=likelihood, kalman=KalmanSpec(process_std=process_std)
    )


def _parse_process_std(text: str | None) -> dict:
    """``"v=0.05,HH_m=1e-3"`` -> dict; ValueError naming the bad item."""
    if not text:
        return {"v": 0.05}
    out = {}
    for item in text.split(","):
        key, _, val = item.partition("=")
        try:
            value = float(val)
        except ValueError as err:
            raise ValueError(f"--process-std expects key=value pairs, got {item!r}") from err
        if not key.strip() or not np.isfinite(value) or value < 0:
            raise ValueError(f"--process-std needs a name and a std >= 0, got {item!r}")
        out[key.strip()] = value
    return out


def check_args(parser: argparse.ArgumentParser, args) -> None:
    """Validate every flag before any work (``parser.error`` exits with status 2)."""
    for flag, value, low in (
        ("--chains", args.chains, 1),
        ("--warmup", args.warmup, 0),
        ("--samples", args.samples, 1),
        ("--svi-steps", args.svi_steps, 1),
        ("--map-steps", args.map_steps, 0),
    ):
        if value < low:
            parser.error(f"{flag} must be >= {low}, got {value}")
    if not np.isfinite(args.obs_std) or args.obs_std < 0:
        parser.error(f"--obs-std must be a std in mV >= 0 (0: infer it), got {args.obs_std}")
    try:
        args.process_std = _parse_process_std(args.process_std)
    except ValueError as err:
        parser.error(str(err))
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} exists and is not a folder")
    if args.data is not None and not args.data.is_file():
        parser.error(f"--data {args.data} does not exist or is not a file")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, help="recording (.npz: v_mV, i_nA, dt_ms, ...)")
    p.add_argument("--model", default="hh", choices=["hh"])
    p.add_argument("--method", default="nuts", choices=["nuts", "svi", "map"])
    p.add_argument("--likelihood", default="gaussian", choices=["gaussian", "kalman"])
    p.add_argument("--out", type=Path, default=Path("results/fit_conductances"))
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--samples", type=int, default=500)
    p.add_argument("--svi-steps", type=int, default=3000)
    p.add_argument("--map-steps", type=int, default=400)
    p.add_argument("--obs-std", type=float, default=1.0, help="σ in mV; 0 = infer it")
    p.add_argument("--process-std", default=None, help="Kalman process noise, e.g. v=0.05")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from DIR/checkpoints; refused if they were made for other data, "
        "model or settings (the message names what differs)",
    )
    args = p.parse_args(argv)
    check_args(p, args)
    return p, args


def load_recording(path: Path | None):
    from datasets import embedded_example, load_npz

    return embedded_example() if path is None else load_npz(path)


def run_fingerprint(args, rec, model) -> dict:
    """Everything that determines this run's result (compared on --resume)."""
    from inference.checkpoint import fingerprint

    return fingerprint(
        data={"v_mV": np.asarray(rec.v_mV), "i_nA": np.asarray(rec.i_nA), "dt_ms": rec.dt_ms},
        model=args.model,
        bayesian_model=model.describe(),
        method=args.method,
        chains=args.chains,
        warmup=args.warmup,
        samples=args.samples,
        svi_steps=args.svi_steps,
        map_steps=args.map_steps,
        seed=args.seed,
    )


def run_method(args, model, y, *, fingerprint: dict, clock):
    from inference.sampling import find_map, run_nuts, run_svi

    ckpt = args.out / "checkpoints"
    ckpt.mkdir(parents=True, exist_ok=True)
    common = {"fingerprint": fingerprint, "clock": clock}
    if args.method == "nuts":
        return run_nuts(
            model,
            y,
            num_chains=args.chains,
            num_warmup=args.warmup,
            num_samples=args.samples,
            seed=args.seed,
            checkpoint_dir=ckpt,
            resume=args.resume,
            map_kwargs={"num_steps": args.map_steps},
            **common,
        )
    if args.method == "svi":
        init = find_map(
            model,
            y,
            seed=args.seed,
            num_steps=args.map_steps,
            checkpoint_path=ckpt / "map_checkpoint.npz",
            resume=args.resume,
            **common,
        )
        return run_svi(
            model,
            y,
            guide="mvn",
            num_steps=args.svi_steps,
            seed=args.seed,
            init_values={k: np.asarray(v) for k, v in init.best.items()},
            checkpoint_dir=ckpt,
            resume=args.resume,
            **common,
        )
    return find_map(
        model,
        y,
        seed=args.seed,
        num_steps=args.map_steps,
        checkpoint_path=ckpt / "map_checkpoint.npz",
        resume=args.resume,
        **common,
    )


def check_finished_run(out: Path, current: dict) -> None:
    """Refuse to resume into a folder whose finished results belong to another run."""
    from inference.checkpoint import check_fingerprint

    path = out / "run.json"
    if not path.exists():
        return
    try:
        saved = json.loads(path.read_text()).get("fingerprint")
    except (json.JSONDecodeError, AttributeError):
        saved = None
    if saved is not None:
        check_fingerprint(saved, current, path)


def main(argv: list[str] | None = None) -> dict:
    parser, args = parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    import matplotlib

    matplotlib.use("Agg")
    from inference.checkpoint import (
        CheckpointError,
        ResumeMismatchError,
        RunClock,
        atomic_write_text,
    )
    from inference.diagnostics import save_results, summarize, to_inference_data

    try:
        rec = load_recording(args.data)
    except (ValueError, TypeError) as err:
        parser.error(f"--data: {err}")
    obs_std = None if args.obs_std == 0 else args.obs_std
    model = build_hh_model(
        rec, likelihood=args.likelihood, obs_std=obs_std, process_std=args.process_std
    )
    y = model.check_observations(np.asarray(rec.v_mV)[None, :])
    fp = run_fingerprint(args, rec, model)
    args.out.mkdir(parents=True, exist_ok=True)
    clock = RunClock()
    print(
        f"fitting {len(rec)} samples (dt {rec.dt_ms} ms) with {args.method}/{args.likelihood}",
        file=sys.stderr,
    )
    try:
        if args.resume:
            check_finished_run(args.out, fp)
        result = run_method(args, model, y, fingerprint=fp, clock=clock)
    except (ResumeMismatchError, CheckpointError) as err:
        parser.exit(2, f"{parser.prog}: error: cannot --resume: {err}\n")
    wall = clock.elapsed()
    idata = to_inference_data(result, model, y, dt_ms=rec.dt_ms, seed=args.seed, runtime_s=wall)
    truth = rec.truth
    summary = summarize(idata, truth=truth)
    paths = save_results(idata, args.out, truth=truth, t_ms=np.asarray(rec.t_ms))
    report = {
        "method": args.method,
        "likelihood": args.likelihood,
        "wall_time_s": wall,
        "num_samples": len(rec),
        "dt_ms": rec.dt_ms,
        "truth": truth,
        "max_r_hat": _max(summary, "r_hat"),
        "min_ess_bulk": _min(summary, "ess_bulk"),
        "divergent_fraction": summary.attrs.get("divergent_fraction"),
        "truth_in_hdi": None
        if "truth_in_hdi" not in summary
        else {k: bool(v) for k, v in summary["truth_in_hdi"].items()},
        "files": {k: str(v) for k, v in paths.items()},
        "fingerprint": fp,
    }
    atomic_write_text(args.out / "run.json", json.dumps(report, indent=2, default=float))
    print(summary.to_string(), file=sys.stderr)
    shown = ("wall_time_s", "max_r_hat", "min_ess_bulk", "divergent_fraction", "truth_in_hdi")
    print(json.dumps({k: report[k] for k in shown}, default=float), file=sys.stderr)
    return report


def _max(frame, col):
    return float(frame[col].max()) if col in frame and frame[col].notna().any() else None


def _min(frame, col):
    return float(frame[col].min()) if col in frame and frame[col].notna().any() else None


if __name__ == "__main__":
    main()
