"""Bayesian conductance fit of a cell model to current-clamp recordings.

    python -m experiments.fit_conductances [--data REC.npz|REC.nwb [--sweep N] ...] \\
        [--model hh|pospischil|swc:PATH] [--priors FILE.json] [--window T0:T1] [--dt DT] \\
        [--method nuts|svi|map|laplace|smc] [--likelihood gaussian|kalman|features] \\
        --out DIR [--resume]

Without ``--data`` it generates and fits the embedded synthetic example (HH
compartment, truth gNa=0.1, gK=0.04, gLeak=4e-4 S/cm², 50 ms, 0.02 nA step from 5
to 45 ms, σ = 1 mV).

Methods: by default recordings with a ground truth (synthetic, e.g. the embedded
example) are fitted with NUTS on the Gaussian likelihood of the trace, real
recordings of a current step with tempered SMC on summary features
(``--method smc --likelihood features``, :mod:`experiments.feature_fit`: a trace
likelihood of a deterministic model is ruled by spike-time misalignment on real
data, and spike counts have no gradients); ``--method``/``--likelihood`` override it.
``--method laplace`` is the Gaussian (Laplace) approximation at the MAP: ``--samples``
draws of it (one chain) are the posterior, in the same results format as NUTS.

Real recordings: ``--data`` reads .npz and .nwb files (``--sweep N`` picks an NWB
sweep); ``--window t0:t1`` (ms) fits only that part; ``--dt`` simulates on a coarser
step, the recording being low-pass filtered (FIR) and resampled to it
(:mod:`datasets.resample`). σ is inferred for recordings without ground truth unless
``--obs-std`` fixes it (synthetic recordings keep σ = 1 mV).

Multi-sweep fits: ``--data`` given several times fits one cell to all the
recordings at once (each with its own stimulus, which the npz carries): shared
conductances with one prior each, one noise σ per sweep (``--obs-std`` for every
sweep, or with ``--obs-std 0`` inferred per sweep as ``sigma_0``, ``sigma_1``, ...).
``--synthetic-steps 0.01,0.02,0.03`` does the same with synthetic sweeps of the
embedded example's cell, one current step (nA) each (sweep k: noise seed k, so a
0.02 nA sweep 0 is the embedded example). Observed data, log-likelihood and
posterior predictive are then ``v_obs_k`` / ``v_pred_k`` per sweep.

Writes ``DIR/posterior.nc`` (an ArviZ 1 results tree with one posterior variable per
prior site, e.g. ``HH_gNa``, ``HH_gK``, ``HH_gLeak``), ``DIR/summary.csv``,
``DIR/run.json`` and plots. ``--resume`` continues an interrupted run from its last
checkpoint (``DIR/checkpoints``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from experiments.cell_models import HH_PRIOR_MEDIANS, PRIOR_LOG_SD, priors_help  # noqa: F401 (re-export)
from experiments.cell_models import __doc__ as _MODELS_DOC

_MODEL_HELP = (
    "Models and default priors:\n"
    + _MODELS_DOC.split("\n\n", 1)[1]
    + "\nDefault priors (site, family, parameters, unit):\n"
    + priors_help()
)


def _noise(obs_std: float | None):
    import numpyro.distributions as dist

    return dist.HalfNormal(5.0) if obs_std is None else float(obs_std)


def _forward(rec, model: str, priors: dict | None, swc_path):
    from experiments.cell_models import build_forward, default_priors

    return build_forward(model, rec, priors or default_priors(model), swc_path)


def build_hh_model(
    recording,
    *,
    likelihood: str,
    obs_std: float | None,
    process_std: dict,
    model: str = "hh",
    priors: dict | None = None,
    swc_path=None,
):
    """The BayesianModel of one recording (default: `--model hh`, one HH compartment).

    ``model``: ``"hh"``, ``"pospischil"`` or ``"swc"`` (with ``swc_path``); ``priors``:
    a prior table of :mod:`experiments.cell_models` (default: the model's own);
    ``obs_std``: σ in mV, None infers it (``sigma``, HalfNormal(5 mV)).
    """
    from inference.model import BayesianModel, KalmanSpec

    return BayesianModel(
        _forward(recording, model, priors, swc_path),
        obs_noise=_noise(obs_std),
        likelihood=likelihood,
        kalman=KalmanSpec(process_std=process_std),
    )


def build_hh_multisweep(
    recordings,
    *,
    likelihood: str,
    obs_std: float | None,
    process_std: dict,
    model: str = "hh",
    priors: dict | None = None,
    swc_path=None,
):
    """The MultiSweepModel: one cell, one sweep per recording (shared priors).

    ``obs_std`` (mV) is every sweep's fixed σ; None infers one σ per sweep
    (``sigma_k``, HalfNormal(5 mV) each). ``model``/``priors`` as :func:`build_hh_model`.
    """
    from inference.model import KalmanSpec
    from inference.multisweep import MultiSweepModel

    return MultiSweepModel(
        [_forward(rec, model, priors, swc_path) for rec in recordings],
        obs_noise=_noise(obs_std),
        likelihood=likelihood,
        kalman=KalmanSpec(process_std=process_std),
    )


def _parse_steps(text: str) -> list[float]:
    """``"0.01,0.02"`` -> [0.01, 0.02] (nA); ValueError naming the bad item."""
    out = []
    for item in text.split(","):
        try:
            value = float(item)
        except ValueError as err:
            raise ValueError(
                f"--synthetic-steps expects comma-separated amplitudes in nA, got {item!r}"
            ) from err
        if not np.isfinite(value) or abs(value) > 10.0:
            raise ValueError(f"--synthetic-steps: {item!r} is not an amplitude in nA (|a| <= 10)")
        out.append(value)
    return out


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


def _check_counts(parser, args) -> None:
    for flag, value, low in (
        ("--chains", args.chains, 1),
        ("--particles", args.particles, 8),
        ("--smc-moves", args.smc_moves, 0),
        ("--final-moves", args.final_moves, 0),
        ("--max-stages", args.max_stages, 1),
        ("--pp-draws", args.pp_draws, 1),
        ("--warmup", args.warmup, 0),
        ("--samples", args.samples, 1),
        ("--svi-steps", args.svi_steps, 1),
        ("--map-steps", args.map_steps, 0),
    ):
        if value < low:
            parser.error(f"{flag} must be >= {low}, got {value}")


def _check_data_options(parser, args) -> None:
    """--data files, --sweep pairing, --window, --dt and --synthetic-steps."""
    from datasets.resample import parse_window

    for path in args.data or []:
        if not path.is_file():
            parser.error(f"--data {path} does not exist or is not a file")
    sweeps, data = args.sweep or [], args.data or []
    if sweeps:
        one_nwb = len(data) == 1 and data[0].suffix.lower() == ".nwb"
        if not data:
            parser.error("--sweep selects sweeps of --data files; give --data")
        if len(sweeps) != len(data) and not one_nwb:
            parser.error(
                f"--sweep given {len(sweeps)} times for {len(data)} --data files: give one "
                "per --data file (in order), or several for a single .nwb file"
            )
        for path in data:
            if path.suffix.lower() != ".nwb":
                parser.error(f"--sweep selects a sweep of an .nwb file; {path} holds one sweep")
    if args.window is not None:
        try:
            args.window = parse_window(args.window)
        except ValueError as err:
            parser.error(str(err))
    if args.dt is not None and not (np.isfinite(args.dt) and args.dt > 0):
        parser.error(f"--dt must be a step in ms > 0, got {args.dt}")
    if args.synthetic_steps is not None:
        if args.data:
            parser.error("--synthetic-steps generates the data: it cannot be used with --data")
        try:
            args.synthetic_steps = _parse_steps(args.synthetic_steps)
        except ValueError as err:
            parser.error(str(err))


def _check_model(parser, args) -> None:
    """--model, --priors: set ``args.model_kind``, ``args.swc_path``, ``args.prior_table``."""
    from experiments.cell_models import default_priors, load_prior_overrides, parse_model

    try:
        args.model_kind, args.swc_path = parse_model(args.model)
        args.prior_table = load_prior_overrides(args.priors, default_priors(args.model_kind))
    except ValueError as err:
        parser.error(str(err))


def _check_method(parser, args) -> None:
    """Explicit --method/--likelihood combinations (defaults are resolved on the data)."""
    smc, features = args.method == "smc", args.likelihood == "features"
    if features and args.method not in (None, "smc"):
        parser.error(
            f"--likelihood features is piecewise constant in the parameters (spike counts): "
            f"--method {args.method} needs gradients; use --method smc"
        )
    if smc and args.likelihood not in (None, "features"):
        parser.error(f"--method smc samples --likelihood features, not {args.likelihood}")
    several = len(args.data or []) > 1 or len(args.sweep or []) > 1 or args.synthetic_steps
    if (smc or features) and several:
        parser.error("--method smc fits one recording; give a single --data (and --sweep)")
    if args.method == "laplace" and several:
        parser.error("--method laplace fits one recording; use nuts/svi/map for several")
    if args.method is not None and args.likelihood is None:  # else resolved on the data
        args.likelihood = "features" if smc else "gaussian"


def check_args(parser: argparse.ArgumentParser, args) -> None:
    """Validate every flag before any work (``parser.error`` exits with status 2).

    ``--obs-std`` omitted: ``args.obs_std_given`` is False and ``args.obs_std`` 1 mV,
    the σ of synthetic data; recordings without ground truth (real data) infer σ.
    """
    _check_counts(parser, args)
    _check_method(parser, args)
    args.obs_std_given = args.obs_std is not None
    if args.obs_std is None:
        args.obs_std = 1.0
    if not np.isfinite(args.obs_std) or args.obs_std < 0:
        parser.error(f"--obs-std must be a std in mV >= 0 (0: infer it), got {args.obs_std}")
    try:
        args.process_std = _parse_process_std(args.process_std)
    except ValueError as err:
        parser.error(str(err))
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} exists and is not a folder")
    _check_data_options(parser, args)
    _check_model(parser, args)


def _add_data_flags(p) -> None:
    p.add_argument(
        "--data",
        type=Path,
        action="append",
        metavar="REC",
        help="recording (.npz: v_mV, i_nA, dt_ms, ...; or .nwb, see --sweep); repeat it to "
        "fit several recordings of one cell at once (shared conductances, one σ per sweep)",
    )
    p.add_argument(
        "--sweep",
        type=int,
        action="append",
        metavar="N",
        help="sweep number of an .nwb --data file: one per --data (in order), or several "
        "for a single .nwb file (a multi-sweep fit); default: the file's only sweep",
    )
    p.add_argument(
        "--window",
        default=None,
        metavar="T0:T1",
        help="fit only t0 <= t < t1 (ms from the recording's start)",
    )
    p.add_argument(
        "--dt",
        type=float,
        default=None,
        help="simulation step in ms (default: the recording's); an integer multiple of "
        "the recording's step, which is then low-pass filtered (FIR) and resampled",
    )
    p.add_argument(
        "--synthetic-steps",
        default=None,
        metavar="AMPS",
        help="without --data: fit synthetic sweeps of the embedded example's cell, one "
        "current step per amplitude in nA (comma separated, e.g. 0.01,0.02,0.03; 5-45 ms "
        "of 50 ms, σ 1 mV, noise seed k for sweep k)",
    )


def _add_smc_flags(p) -> None:
    p.add_argument("--particles", type=int, default=256, help="SMC particles per population")
    p.add_argument("--smc-moves", type=int, default=8, help="SMC MH moves per tempering stage")
    p.add_argument("--final-moves", type=int, default=24, help="SMC MH moves at beta = 1")
    p.add_argument("--max-stages", type=int, default=40, help="SMC tempering stages at most")
    p.add_argument(
        "--pp-draws", type=int, default=100, help="SMC posterior-predictive draws (whole sweep)"
    )


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=_MODEL_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_data_flags(p)
    p.add_argument(
        "--model",
        default="hh",
        metavar="hh|pospischil|swc:PATH",
        help="cell model (default hh; priors below)",
    )
    p.add_argument(
        "--priors",
        type=Path,
        default=None,
        metavar="FILE.json",
        help='override default priors: {"site": ["lognormal", median, log_sd]} or '
        '["normal", mean, sd]',
    )
    p.add_argument(
        "--method",
        default=None,
        choices=["nuts", "svi", "map", "laplace", "smc"],
        help="default: nuts for synthetic data, smc for a real recording of a step",
    )
    p.add_argument(
        "--likelihood",
        default=None,
        choices=["gaussian", "kalman", "features"],
        help="default: features with --method smc, else gaussian",
    )
    p.add_argument("--out", type=Path, default=Path("results/fit_conductances"))
    p.add_argument("--chains", type=int, default=4, help="NUTS chains / SMC populations")
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--samples", type=int, default=500)
    p.add_argument("--svi-steps", type=int, default=3000)
    p.add_argument("--map-steps", type=int, default=400)
    _add_smc_flags(p)
    p.add_argument(
        "--obs-std",
        type=float,
        default=None,
        help="σ in mV (of every sweep); 0 = infer it (one σ per sweep); default: 1 mV for "
        "synthetic data (recordings with a ground truth), inferred for real recordings",
    )
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


def load_recording(path: Path | None, sweep: int | None = None):
    """A --data file (.npz or .nwb sweep `sweep`), or the embedded example for None."""
    from datasets import embedded_example
    from datasets import load_recording as load

    return embedded_example() if path is None else load(path, sweep)


def synthetic_step(i_amp: float, seed: int):
    """A sweep of the embedded example's cell and protocol with another step amplitude (nA)."""
    from datasets import EMBEDDED_TRUTH, hh_compartment

    return hh_compartment(
        EMBEDDED_TRUTH, t_max=50.0, dt=0.025, i_amp=i_amp, i_delay=5.0, i_dur=40.0, seed=seed
    )


def _data_sweeps(args) -> list[tuple[Path, int | None]]:
    data, sweeps = args.data, getattr(args, "sweep", None) or []
    if not sweeps:
        return [(path, None) for path in data]
    if len(sweeps) == len(data):
        return list(zip(data, sweeps))
    return [(data[0], s) for s in sweeps]  # several sweeps of one .nwb file


def load_recordings(args, *, prepared: bool = True) -> list:
    """The recordings to fit (``--data`` files, ``--synthetic-steps`` or the embedded
    example), cut to ``--window`` and resampled to ``--dt`` (unless not `prepared`)."""
    from datasets.resample import prepare

    if args.synthetic_steps:
        recs = [synthetic_step(a, k) for k, a in enumerate(args.synthetic_steps)]
    elif not args.data:
        recs = [load_recording(None)]
    else:
        recs = [load_recording(path, sweep) for path, sweep in _data_sweeps(args)]
    if not prepared:
        return recs
    window, dt = getattr(args, "window", None), getattr(args, "dt", None)
    return [prepare(rec, window, dt) for rec in recs]


def _data_fields(rec) -> dict:
    return {"v_mV": np.asarray(rec.v_mV), "i_nA": np.asarray(rec.i_nA), "dt_ms": rec.dt_ms}


def run_fingerprint(args, rec, model) -> dict:
    """Everything that determines this run's result (compared on --resume).

    `rec` is one recording, or a list of them (a multi-sweep fit: every sweep's data
    is hashed, in order, so another set of sweeps is another run).
    """
    from inference.checkpoint import fingerprint

    data = [_data_fields(r) for r in rec] if isinstance(rec, (list, tuple)) else _data_fields(rec)
    return fingerprint(
        data=data,
        model=args.model,
        bayesian_model=model.describe(),
        window=list(args.window) if getattr(args, "window", None) else None,
        sim_dt=getattr(args, "dt", None),
        sweeps=getattr(args, "sweep", None),
        method=args.method,
        chains=args.chains,
        warmup=args.warmup,
        samples=args.samples,
        svi_steps=args.svi_steps,
        map_steps=args.map_steps,
        smc=None
        if args.method != "smc"
        else [args.particles, args.smc_moves, args.final_moves, args.max_stages, args.pp_draws],
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


def _resolve_method(args, raw) -> None:
    """Default --method/--likelihood: SMC on features for one real recording of a step."""
    real = any(r.truth is None for r in raw)
    step = all(r.stim_on_ms is not None and r.stim_off_ms is not None for r in raw)
    if args.method is None:
        auto = real and step and len(raw) == 1 and args.likelihood in (None, "features")
        args.method = "smc" if auto else "nuts"
        if auto:
            print(
                "real recording: fitting summary features with tempered SMC (--method smc "
                "--likelihood features); --method nuts fits the raw trace instead",
                file=sys.stderr,
            )
    if args.likelihood is None:
        args.likelihood = "features" if args.method == "smc" else "gaussian"


def _setup_features(parser, args, rec):
    """One recording fitted by SMC on features: (recs, model, problem, fingerprint)."""
    from experiments.cell_models import build_forward, default_priors
    from experiments.feature_fit import FeatureProblem
    from inference.model import BayesianModel

    kind = getattr(args, "model_kind", "hh")
    table = getattr(args, "prior_table", None) or default_priors(kind)
    swc = getattr(args, "swc_path", None)
    try:
        problem = FeatureProblem.of(rec, getattr(args, "window", None), getattr(args, "dt", None))
        forward = build_forward(kind, problem.fit, table, swc)
        model = BayesianModel(forward, obs_noise=1.0, likelihood=problem.likelihood())
    except ValueError as err:
        parser.error(f"--data/--model: {err}")
    args.model_spec = (kind, table, swc)
    return [rec], model, problem, run_fingerprint(args, rec, model)


def _setup(parser, args):
    """Recordings, model, observations and run fingerprint (one sweep or several)."""
    from datasets.resample import prepare

    try:
        raw = load_recordings(args, prepared=False)
        _resolve_method(args, raw)
        if args.method == "smc":
            return _setup_features(parser, args, raw[0])
        window, dt = getattr(args, "window", None), getattr(args, "dt", None)
        recs = [prepare(rec, window, dt) for rec in raw]
    except (ValueError, TypeError, KeyError) as err:
        parser.error(f"--data: {err}")
    real = any(r.truth is None for r in recs)
    infer = args.obs_std == 0 or (real and not getattr(args, "obs_std_given", True))
    kw = {
        "likelihood": args.likelihood,
        "obs_std": None if infer else args.obs_std,
        "process_std": args.process_std,
        "model": getattr(args, "model_kind", "hh"),
        "priors": getattr(args, "prior_table", None),
        "swc_path": getattr(args, "swc_path", None),
    }
    if len(recs) == 1:
        rec = recs[0]
        try:
            model = build_hh_model(rec, **kw)
        except ValueError as err:
            parser.error(f"--model {args.model}: {err}")
        y = model.check_observations(np.asarray(rec.v_mV)[None, :])
        return recs, model, y, run_fingerprint(args, rec, model)
    try:
        model = build_hh_multisweep(recs, **kw)
        y = model.check_observations([np.asarray(r.v_mV)[None, :] for r in recs])
    except ValueError as err:
        parser.error(f"--data: {err}")
    return recs, model, y, run_fingerprint(args, recs, model)


def _shared_truth(recs) -> dict | None:
    """The recordings' ground truth if they all have the same one, else None."""
    truths = [r.truth for r in recs]
    return truths[0] if all(t == truths[0] for t in truths) else None


def _describe_data(recs) -> str:
    if len(recs) == 1:
        return f"{len(recs[0])} samples (dt {recs[0].dt_ms} ms)"
    lengths = "+".join(str(len(r)) for r in recs)
    return f"{len(recs)} sweeps ({lengths} samples, dt {sorted({r.dt_ms for r in recs})} ms)"


def _report(args, recs, summary, wall, paths, fp) -> dict:
    """The contents of ``run.json``."""
    single = len(recs) == 1
    report = {
        "method": args.method,
        "likelihood": args.likelihood,
        "wall_time_s": wall,
        "num_samples": len(recs[0]) if single else [len(r) for r in recs],
        "dt_ms": recs[0].dt_ms if single else [r.dt_ms for r in recs],
        "truth": _shared_truth(recs),
        "max_r_hat": _max(summary, "r_hat"),
        "min_ess_bulk": _min(summary, "ess_bulk"),
        "divergent_fraction": summary.attrs.get("divergent_fraction"),
        "truth_in_hdi": None
        if "truth_in_hdi" not in summary
        else {k: bool(v) for k, v in summary["truth_in_hdi"].items()},
        "files": {k: str(v) for k, v in paths.items()},
        "fingerprint": fp,
    }
    if not single:
        report = {**report, "num_sweeps": len(recs)}
    return report


def main(argv: list[str] | None = None) -> dict:
    parser, args = parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    import matplotlib

    matplotlib.use("Agg")
    from experiments.fit_extras import laplace_idata, model_priors, predictive_check
    from inference.checkpoint import (
        CheckpointError,
        ResumeMismatchError,
        RunClock,
        atomic_write_text,
    )
    from inference.diagnostics import save_results, summarize, to_inference_data

    recs, model, y, fp = _setup(parser, args)
    single = len(recs) == 1
    args.out.mkdir(parents=True, exist_ok=True)
    clock = RunClock()
    print(f"fitting {_describe_data(recs)} with {args.method}/{args.likelihood}", file=sys.stderr)
    lap = check = smc_info = None
    t_ms = np.asarray(recs[0].t_ms) if single else None
    try:
        if args.resume:
            check_finished_run(args.out, fp)
        if args.method == "smc":
            from experiments.feature_fit import run_smc_fit

            idata, t_ms, check, smc_info = run_smc_fit(
                args, y, model, fingerprint=fp, model_spec=args.model_spec
            )
        else:
            result = run_method(args, model, y, fingerprint=fp, clock=clock)
    except (ResumeMismatchError, CheckpointError) as err:
        parser.exit(2, f"{parser.prog}: error: cannot --resume: {err}\n")
    wall = clock.elapsed()
    dt = recs[0].dt_ms if single else [r.dt_ms for r in recs]
    if args.method == "laplace":
        idata = laplace_idata(result, model, y, dt=dt, seed=args.seed, num=args.samples)
        if idata is None:
            parser.exit(2, f"{parser.prog}: error: --method laplace: no Laplace approximation\n")
        idata.attrs["runtime_s"] = float(wall)
    elif args.method != "smc":
        idata = to_inference_data(result, model, y, dt_ms=dt, seed=args.seed, runtime_s=wall)
    if args.method == "map":
        lap = laplace_idata(result, model, y, dt=dt, seed=args.seed)
    truth = _shared_truth(recs)
    summary = summarize(idata, truth=truth)
    paths = save_results(
        idata, args.out, truth=truth, t_ms=t_ms, priors=model_priors(model), laplace=lap
    )
    report = _report(args, recs, summary, wall, paths, fp)
    if smc_info is not None:
        report["smc"] = smc_info
        paths["predictive_check"] = args.out / "predictive_check.png"
        report["files"]["predictive_check"] = str(paths["predictive_check"])
    elif single:
        check = predictive_check(recs[0], lap if lap is not None else idata)
    if check is not None:
        report["predictive_check"] = check
    report["model"] = args.model
    report["obs_noise"] = idata.attrs.get("obs_noise")
    atomic_write_text(args.out / "run.json", json.dumps(report, indent=2, default=float))
    print(summary.to_string(), file=sys.stderr)
    shown = ("wall_time_s", "max_r_hat", "min_ess_bulk", "divergent_fraction", "truth_in_hdi")
    shown += ("predictive_check",) if "predictive_check" in report else ()
    print(json.dumps({k: report[k] for k in shown}, default=float), file=sys.stderr)
    return report


def _max(frame, col):
    return float(frame[col].max()) if col in frame and frame[col].notna().any() else None


def _min(frame, col):
    return float(frame[col].min()) if col in frame and frame[col].notna().any() else None


if __name__ == "__main__":
    main()
