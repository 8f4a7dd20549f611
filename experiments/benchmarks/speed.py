"""Speed benchmark: the same model code on ``sim`` and on Jaxley 0.14, side by side.

Every model below is built by one function that receives the library as ``jx``
(``import sim as jx`` or ``import jaxley as jx``) and its ``HH`` channel, so both
libraries run identical user code. Both are timed in this one process, in
interleaved rounds (the machine is shared and noisy: only ratios measured side by
side count). Per model and library the table gives

* build: time of the builder code (``Cell``, ``read_swc``, ``insert``, ...),
* compile: first call of the jitted function minus one steady-state call,
* run: median steady-state time of the jitted function (forward or gradient),
* mem: for gradients, XLA's compiled memory footprint (arguments + outputs +
  temporaries) of the jitted function,
* ratio: sim / Jaxley (goal in brackets).

Run ``python -m experiments.benchmarks.speed`` (needs the ``bench`` extra:
``pip install -e ".[bench]"``). ``--only NAME`` runs one model, ``--no-reference``
times ``sim`` alone, ``--out DIR`` writes the table as CSV and JSON.

What the profiles showed (2-core CPU, float64), and so where the remaining time goes:

* On these model sizes XLA-CPU's fixed cost per operation ("thunk") dominates: a
  step that does a few microseconds of arithmetic pays for tens of separately
  launched kernels, so fusing mechanisms of one type into one kernel and computing
  each current once per step (stage 1 feeds solve, updates and recordings) was the
  largest win.
* The HH gates cost 13-20 ns per compartment per step, set by float64 ``exp``
  (five per compartment and step: two shared rate exponentials, one decay per
  gate; XLA's f64 ``exp`` is ~1.6 ns per element here). One division per gate
  instead of two cut the vmap-256 case by ~20%. The vmap-256 case is at that floor
  in both libraries: sim's loop body is 7 fusions with 5 ``exp`` and Jaxley's 6
  fusions with 9, and what is left besides the exponentials is writing and
  checking the 256 x 8001 recorded values (a third of the run without checks).
* ``integrate`` checks each simulation for NaN/blow-ups. Its host callback used
  to run on every call (~0.55 ms: more than a 50 ms one-compartment simulation);
  it now runs only when a check fails. Ratios of one-compartment ``jacfwd``/``grad``
  to forward measured before that divided by an inflated forward time.
* One-compartment ``jacfwd`` (3 tangents) runs 36 kernels per step against the
  forward's 8: every expensive primal intermediate (``exp``, division) that the
  tangents reuse becomes its own kernel, and each costs ~30 ns of launch overhead
  on tiny buffers. A custom JVP for the gates (tangent = decay x dx + dx'/dv x dv)
  did not reduce the kernel count, since XLA materialises the coefficients anyway.
* The level-parallel tree solver is slow on deep trees on CPU (one launch per
  level); the default CPU solver eliminates unbranched runs as segments and solves
  the junctions sequentially. Unrolling ``lax.scan`` made compile time explode with
  no run-time gain.
* Reverse mode: rematerialising each step's linearisation (``jax.checkpoint``) keeps
  the L5PC gradient at 1.26 GiB peak RSS where Jaxley needs 6.05 GiB. Saving the
  exponentials instead of recomputing them (checkpoint policies) was slower, and no
  rematerialisation at all 3.4x slower on the tree.
* XLA's dump of the tree gradient showed the HH adjoint (299 ops, 19 divisions per
  compartment) fused into the pad of the tree solve's cotangent to all nodes and
  emitted as scalar code (no ``<4 x double>`` ops): padding kills vectorisation,
  and ``lax.optimization_barrier`` does not stop XLA-CPU from fusing across it. On
  branched cells the time loop now runs rotated by half a step (update, currents,
  record, solve), so the adjoint accumulates into the carried voltage cotangent:
  tree gradient -19%, CA1 -11% side by side, forwards unchanged. Splitting the
  solve into compartment/branch-point parts instead moved the same expression into
  the per-round slices and made CA1 slower.
* The thunk profile of ``jax.profiler`` adds ~1 us per kernel and misattributes
  time on these loops; ablations timed side by side (HH vs Leak vs no channel, one
  change at a time) and the LLVM IR are what the notes above rest on.
* How far the vmap-256 goal is from pure arithmetic: ``experiments/benchmarks/floor.py``
  times, beside both libraries, four float64 ``exp`` per lane-step (the fewest an
  exact-rate HH step can do) at 0.24-0.28 of Jaxley's whole simulation, the five
  ``exp`` and six divisions of sim's HH step at 0.30-0.37, and sim's HH kernel alone
  (no solve, recording or checks) at 0.56-0.73 (two runs, 2026-12-08). A one-``exp`` rate variant
  (``exp(-(v + 40) / 10) = e^2.5 w^72``) measured no faster than the two-``exp`` one.
* The 64-cell network (412 IonotropicSynapse edges from 64 presynaptic compartments)
  paid ~8.5 ns per edge and step (0 to 1231 edges: 19 to 62 ms), 6-7 of them in the
  synapse update (two ``exp`` and four divisions per edge). Its ``s_inf`` and decay
  depend on the presynaptic voltage alone, so they are now evaluated once per
  presynaptic compartment and gathered to the edges (``sim.core.sites``): 35.8 ->
  27.7 ms side by side. Gathering each per-site term separately measured no faster:
  XLA fused the per-site ``exp`` into the per-edge kernel, recomputing it per edge;
  stacking the terms first materialises them once. One scatter of (current, slope)
  pairs for all synapse types instead of two per type: 27.6-28.4 -> 27.0-27.8 ms.
* Per-kernel dispatch is what the network's solve costs: 64 x 4, 128 x 2 and 256 x 1
  HH compartments (no synapses) took 19.2, 18.0 and 16.6 ms, ~0.6 ms per elimination
  round (one kernel each way). Unbranched cells are now eliminated from their middle
  compartment (half the rounds: 32 x 8 comps 23.7 -> 19.1 ms, one 100-comp cable
  13.3 -> 9.8 ms), and the solver's static gathers became slices and column sums that
  fuse (net64 26.1 -> 24.8 ms), 23 kernels per step in all.
* What the network's remaining ~25 ms are (ablations, side by side): HH 14 ms
  (13.7 ns per compartment and step), synapses ~7 ms, of which the scatter ~2.3 ms,
  solve/stimulus/recording the rest; checks of the recordings ~0.7 ms.
  Tried, no gain: the half-step rotated loop; one fused kernel for the two HH
  exponentials or for the three gates; XLA-CPU's multi-output fusion (2.3x slower);
  merging HH divisions into one reciprocal (slower). Without any scatter the loop
  compiles as one function at a 256-512 KiB small-loop budget (21.6 ms with the
  synaptic sums left out), but every scatter-free form of the sums tried cost more
  than it saved (padded per-compartment gathers 3x slower, through an XNNPACK
  reduction; a segmented prefix sum +8 ms), and CA1's loops would hoist at 1 MiB.
* ``import sim`` raises XLA-CPU's per-iteration byte budget for compiling a loop as
  one function (``sim.xla_tuning``; 1 KiB -> 64 KiB) unless the user set backend
  options. The one-compartment ``jacfwd`` and ``grad`` loops (38 and more kernels per
  step on arrays of one element) then run without a dispatch per kernel: 5.9x ->
  1.6x and 4.7x -> 2.0x their forward (same code, same numbers to 1e-12); the
  flagship NUTS fit 59.7 s -> 30.0 s side by side. The option is process-wide, so
  the benchmark's Jaxley runs under it too. A budget large enough to hoist every
  time loop (1e8 bytes; two processes side by side, twice) made the tree and CA1
  forwards 9-14% faster but the CA1 gradient 16-38% slower, and cannot hoist loops
  with a scatter (the network's synapses); 64 KiB stays the default.
* ``XLA_FLAGS=--xla_cpu_prefer_vector_width=512`` (AVX-512 CPUs) makes f64 ``exp``
  1.75 -> 1.05 ns per element. In one run with it, tree forward took 141 ms and
  vmap-256 36 ms (152-170 and 39-53 ms in runs without); Jaxley gains as much, so
  the ratios stay (0.40, 1.09). A user's speed-up, not a lever on the ratios.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

# Imported before JAX starts, as in a user's script: ``import sim`` sets XLA-CPU's
# small-loop budget (sim.xla_tuning), for the whole process, so Jaxley runs under it too.
import sim  # noqa: F401

if "--float32" not in sys.argv:
    jax.config.update("jax_enable_x64", True)

DT = 0.025
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "morphologies"


# ----------------------------------------------------------------------------- models
def binary_tree(jx, HH, *, depth: int = 7, ncomp: int = 8):
    """A binary tree of ``2**depth - 1`` branches with ``ncomp`` compartments each."""
    nbranches = 2**depth - 1
    parents = [-1] + [(b - 1) // 2 for b in range(1, nbranches)]
    comp = jx.Compartment()
    branch = jx.Branch(comp, ncomp=ncomp)
    cell = jx.Cell(branch, parents=parents)
    cell.insert(HH())
    return cell


def swc_cell(jx, HH, *, name: str, ncomp: int = 4):
    cell = jx.read_swc(str(DATA / name), ncomp=ncomp)
    cell.insert(HH())
    return cell


def hh_network(jx, HH, *, ncell: int = 64, p: float = 0.1, seed: int = 0):
    """64 four-compartment HH cells, ~10% random IonotropicSynapse connections."""
    syn = importlib.import_module(f"{jx.__name__}.synapses").IonotropicSynapse
    np.random.seed(seed)  # both libraries draw the edges from NumPy's global state
    cell = jx.Cell(jx.Branch(jx.Compartment(), ncomp=4), parents=[-1])
    net = jx.Network([cell for _ in range(ncell)])
    net.insert(HH())
    jx.sparse_connect(net.cell("all"), net.cell("all"), syn(), p=p)
    net.set("IonotropicSynapse_gS", 0.01)
    return net


def network_case(*, t_max: float):
    def setup(jx, HH):
        t0 = time.perf_counter()
        net = hh_network(jx, HH)
        net.init_states()
        for k in range(0, 64, 4):
            current = jx.step_current(5.0, 60.0, 0.3, DT, t_max)
            net.cell(k).branch(0).comp(0).stimulate(current, verbose=False)
        net.cell("all").branch(0).comp(0).record("v", verbose=False)
        build_s = time.perf_counter() - t0

        def fn(params):
            return jx.integrate(net, params=params, delta_t=DT)

        return fn, ([],), build_s

    return setup


def single_compartment(jx, HH):
    comp = jx.Compartment()
    comp.insert(HH())
    return comp


def _stimulate_and_record(jx, cell, *, t_max: float, amp: float):
    cell.delete_stimuli()
    cell.delete_recordings()
    current = jx.step_current(i_delay=1.0, i_dur=t_max - 2.0, i_amp=amp, delta_t=DT, t_max=t_max)
    if isinstance(cell, jx.Compartment):
        cell.stimulate(current, verbose=False)
        cell.record("v", verbose=False)
    else:
        cell.branch(0).comp(0).stimulate(current, verbose=False)
        cell.branch(0).comp(0).record("v", verbose=False)
    cell.init_states()


# ----------------------------------------------------------------------------- cases
@dataclass
class Case:
    """One benchmark: ``setup(jx, HH) -> (fn, args)``; ``fn`` is jitted and timed."""

    name: str
    setup: Callable
    goal: float | None  # wanted sim/Jaxley ratio (None: sim only, see own_goal)
    kind: str = "forward"
    own_goal: tuple[str, float] | None = None  # (baseline case, ratio) within sim
    reference: bool = True


def forward_case(build: Callable, *, t_max: float, amp: float):
    def setup(jx, HH):
        t0 = time.perf_counter()
        cell = build(jx, HH)
        _stimulate_and_record(jx, cell, t_max=t_max, amp=amp)
        build_s = time.perf_counter() - t0

        def fn(params):
            return jx.integrate(cell, params=params, delta_t=DT)

        return fn, ([],), build_s

    return setup


def _branch_trainable_loss(jx, cell, t_max):
    def loss(params):
        v = jx.integrate(cell, params=params, delta_t=DT, t_max=t_max)
        return jnp.mean((v + 60.0) ** 2)

    return loss


def grad_case(build: Callable, *, t_max: float, amp: float, per_branch: bool):
    def setup(jx, HH):
        t0 = time.perf_counter()
        cell = build(jx, HH)
        _stimulate_and_record(jx, cell, t_max=t_max, amp=amp)
        view = cell.branch("all") if per_branch else cell
        view.make_trainable("HH_gNa", verbose=False)
        view.make_trainable("HH_gK", verbose=False)
        params = cell.get_parameters()
        build_s = time.perf_counter() - t0
        return jax.value_and_grad(_branch_trainable_loss(jx, cell, t_max)), (params,), build_s

    return setup


def vmap_case(*, n: int, t_max: float):
    def setup(jx, HH):
        t0 = time.perf_counter()
        comp = single_compartment(jx, HH)
        _stimulate_and_record(jx, comp, t_max=t_max, amp=0.02)
        build_s = time.perf_counter() - t0
        values = jnp.linspace(0.05, 0.2, n)

        def one(g):
            ps = comp.data_set("HH_gNa", g, None)
            return jx.integrate(comp, param_state=ps, delta_t=DT)[0, -1]

        return jax.vmap(one), (values,), build_s

    return setup


def hh_loss_case(*, mode: str, t_max: float = 50.0):
    """1 HH compartment: forward, jacfwd or reverse-mode grad of a loss in (gNa, gK, gLeak)."""

    def setup(jx, HH):
        t0 = time.perf_counter()
        comp = single_compartment(jx, HH)
        _stimulate_and_record(jx, comp, t_max=t_max, amp=0.02)
        build_s = time.perf_counter() - t0

        def loss(theta):
            ps = comp.data_set("HH_gNa", theta[0], None)
            ps = comp.data_set("HH_gK", theta[1], ps)
            ps = comp.data_set("HH_gLeak", theta[2], ps)
            v = jx.integrate(comp, param_state=ps, delta_t=DT)
            return jnp.mean((v + 60.0) ** 2)

        theta = jnp.asarray([0.12, 0.036, 0.0003])
        fn = {"forward": loss, "jacfwd": jax.jacfwd(loss), "grad": jax.grad(loss)}[mode]
        return fn, (theta,), build_s

    return setup


def _tree(jx, HH):
    return binary_tree(jx, HH)


def _ca1(jx, HH):
    return swc_cell(jx, HH, name="morph_ca1_n120.swc")


def _l5pc(jx, HH):
    return swc_cell(jx, HH, name="morph_l5pc_with_axon.swc")


CASES = [
    Case("tree fwd 200ms", forward_case(_tree, t_max=200.0, amp=0.5), 1 / 3),
    Case("CA1 fwd 50ms", forward_case(_ca1, t_max=50.0, amp=0.5), 1 / 3),
    Case("L5PC fwd 50ms", forward_case(_l5pc, t_max=50.0, amp=0.5), 1 / 3),
    Case(
        "tree grad 200ms",
        grad_case(_tree, t_max=200.0, amp=0.5, per_branch=True),
        1 / 4,
        kind="grad",
    ),
    Case(
        "CA1 grad 50ms", grad_case(_ca1, t_max=50.0, amp=0.5, per_branch=True), 1 / 4, kind="grad"
    ),
    Case("HH vmap256 200ms", vmap_case(n=256, t_max=200.0), 1 / 3),
    Case("net64 fwd 100ms", network_case(t_max=100.0), 1 / 3),
    Case("HH fwd 50ms", hh_loss_case(mode="forward"), None, reference=False),
    Case(
        "HH jacfwd 50ms",
        hh_loss_case(mode="jacfwd"),
        None,
        kind="grad",
        own_goal=("HH fwd 50ms", 4.0),
        reference=False,
    ),
    Case(
        "HH grad 50ms",
        hh_loss_case(mode="grad"),
        None,
        kind="grad",
        own_goal=("HH fwd 50ms", 10.0),
        reference=False,
    ),
]


# ----------------------------------------------------------------------------- timing
@dataclass
class Timing:
    build_s: float
    compile_s: float
    run_s: list[float] = field(default_factory=list)
    mem_mb: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.run_s)


def _block(x):
    return jax.tree_util.tree_map(lambda a: a.block_until_ready(), x)


def _memory_mb(jitted, args) -> float | None:
    try:
        stats = jitted.lower(*args).compile().memory_analysis()
    except Exception:  # noqa: BLE001 - not every backend reports it
        return None
    if stats is None:
        return None
    total = (
        stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes
    ) - stats.alias_size_in_bytes
    return total / 2**20


def prepare(case: Case, lib: str) -> tuple[Callable, tuple, Timing]:
    jx = importlib.import_module(lib)
    HH = importlib.import_module(f"{lib}.channels").HH
    fn, args, build_s = case.setup(jx, HH)
    jitted = jax.jit(fn)
    t0 = time.perf_counter()
    _block(jitted(*args))
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    _block(jitted(*args))
    steady = time.perf_counter() - t0
    mem = _memory_mb(jitted, args) if case.kind == "grad" else None
    return jitted, args, Timing(build_s, max(first - steady, 0.0), [steady], mem)


def time_once(jitted, args) -> float:
    t0 = time.perf_counter()
    _block(jitted(*args))
    return time.perf_counter() - t0


#: Key of the sim baseline timed alongside a case with an ``own_goal``.
BASELINE = "baseline"


def run_case(
    case: Case, libs: list[str], rounds: int, baseline: Case | None = None
) -> dict[str, Timing]:
    """Time ``case`` on ``libs`` (and ``baseline`` on sim), interleaved round by round.

    A case whose goal is a ratio to another sim case (``own_goal``) is timed in the
    same rounds as that baseline, so both see the same machine load: ratios of
    timings taken minutes apart on a shared box are noise.
    """
    prepared = {lib: prepare(case, lib) for lib in libs}
    if baseline is not None:
        prepared[BASELINE] = prepare(baseline, "sim")
    budget = max(t.median for _, _, t in prepared.values())
    reps = rounds if budget < 2.0 else max(3, rounds // 3)
    if baseline is not None:
        reps = max(reps, 3 * rounds)  # tiny runs: more rounds for a stable median ratio
    for _ in range(reps):  # interleaved: all see the same machine load
        for jitted, args, timing in prepared.values():
            timing.run_s.append(time_once(jitted, args))
    return {lib: t for lib, (_, _, t) in prepared.items()}


def l5pc_gradient_memory(lib: str, *, t_max: float = 200.0) -> dict:
    """Peak resident memory of the L5PC gradient over ``t_max`` ms (run in a child process).

    The child builds the L5PC cell (HH everywhere, gNa and gK trainable per branch),
    takes ``value_and_grad`` of a loss of the somatic voltage once (compile + run)
    and reports its peak RSS.
    """
    code = (
        "import time, jax, jax.numpy as jnp;"
        "jax.config.update('jax_enable_x64', True);"
        "from experiments.benchmarks.speed import grad_case, _l5pc;"
        f"import importlib; jx = importlib.import_module({lib!r});"
        f"HH = importlib.import_module('{lib}.channels').HH;"
        f"fn, args, _ = grad_case(_l5pc, t_max={t_max}, amp=0.5, per_branch=True)(jx, HH);"
        "t0 = time.perf_counter(); jax.block_until_ready(jax.jit(fn)(*args));"
        # VmHWM (peak RSS since exec): ru_maxrss would include the forked parent.
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0];"
        "print('RESULT', int(hwm.split()[1]) / 2**20, time.perf_counter() - t0)"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=3600
    )
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT")]
    if not line:
        return {"lib": lib, "error": out.stderr[-1500:]}
    _, gib, secs = line[0].split()
    return {"lib": lib, "peak_rss_gib": float(gib), "wall_s": float(secs)}


def _fmt_s(x: float) -> str:
    return f"{x * 1e3:9.1f} ms" if x < 10 else f"{x:9.2f} s "


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="run only cases whose name contains this")
    parser.add_argument("--no-reference", action="store_true", help="time sim alone")
    parser.add_argument("--rounds", type=int, default=7, help="timed repetitions per library")
    parser.add_argument("--out", type=Path, default=None, help="write results.csv/json here")
    parser.add_argument(
        "--memory", action="store_true", help="also measure the L5PC 200 ms gradient's peak RSS"
    )
    parser.add_argument(
        "--float32", action="store_true", help="run in float32 (jax_enable_x64 off) for both"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")

    have_ref = not args.no_reference
    if have_ref:
        try:
            importlib.import_module("jaxley")
        except ImportError:
            parser.error("jaxley is not installed: pip install -e '.[bench]' or --no-reference")
    cases = [c for c in CASES if not args.only or any(s in c.name for s in args.only)]
    by_name = {c.name: c for c in CASES}
    dtype = "float64" if jax.config.jax_enable_x64 else "float32"
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, {jax.devices()}, {dtype}")
    rows = []
    results: dict[str, dict[str, Timing]] = {}
    header = (
        f"{'model':18s} {'lib':7s} {'build':>12s} {'compile':>12s} {'run':>12s} "
        f"{'mem':>9s} {'ratio':>7s} {'goal':>6s}"
    )
    print(header)
    print("-" * len(header))
    for case in cases:
        libs = ["sim"] + (["jaxley"] if have_ref and case.reference else [])
        baseline = by_name[case.own_goal[0]] if case.own_goal else None
        timings = run_case(case, libs, args.rounds, baseline)
        results[case.name] = timings
        for lib in libs:
            t = timings[lib]
            ratio, goal = None, None
            if lib == "sim" and "jaxley" in timings:
                ratio, goal = t.median / timings["jaxley"].median, case.goal
            elif lib == "sim" and case.own_goal:
                ratio = t.median / timings[BASELINE].median
                goal = case.own_goal[1]
            mem = f"{t.mem_mb:7.0f}MB" if t.mem_mb is not None else " " * 9
            ratio_s = f"{ratio:7.3f}" if ratio is not None else " " * 7
            goal_s = f"{goal:6.3f}" if goal is not None else ""
            ok = "" if ratio is None or goal is None else ("  ok" if ratio <= goal else "  MISS")
            print(
                f"{case.name:18s} {lib:7s} {_fmt_s(t.build_s):>12s} {_fmt_s(t.compile_s):>12s} "
                f"{_fmt_s(t.median):>12s} {mem} {ratio_s} {goal_s}{ok}",
                flush=True,
            )
            rows.append(
                {
                    "model": case.name,
                    "lib": lib,
                    **{k: v for k, v in asdict(t).items() if k != "run_s"},
                    "run_median_s": t.median,
                    "ratio": ratio,
                    "goal": goal,
                }
            )
    if args.memory:
        for lib in ["sim"] + (["jaxley"] if have_ref else []):
            mem = l5pc_gradient_memory(lib)
            rows.append({"model": "L5PC grad 200ms peak RSS", **mem})
            print(f"L5PC grad 200ms peak RSS {lib:7s}: {mem}", flush=True)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "speed.json").write_text(json.dumps(rows, indent=2))
        keys = sorted({k for r in rows for k in r})
        lines = [",".join(keys)] + [",".join(str(r.get(k, "")) for k in keys) for r in rows]
        (args.out / "speed.csv").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
