"""Arithmetic floors of the vmap-256 HH case, timed beside Jaxley's whole simulation.

The speed benchmark's ``HH vmap256 200ms`` case (one HH compartment, 256 values of
gNa, 8000 steps of 0.025 ms, float64) asks for 1/3 of Jaxley 0.14's time. This
script measures, in one process and interleaved round by round, how much of that
budget pure arithmetic leaves:

* ``exp x4``: four float64 ``exp`` per lane and step, nothing else. Four is the
  fewest an exact-rate HH step can do: one shared base for the six rates (all of
  hh.mod's exponentials are powers of ``exp(-(v + 65) / 720)`` times constants)
  and one decay ``exp(-dt (alpha + beta))`` per gate (NEURON's ``cnexp``).
* ``exp x5 + div x6``: the exponentials and divisions of ``sim``'s HH step (two
  rate bases, three decays; the two ``vtrap`` quotients, ``beta_h`` and three
  ``alpha / (alpha + beta)``).
* ``sim HH kernel``: ``sim.channels.HH``'s own gate update and current, with a
  trivial explicit voltage update: no solve, stimulus, recording or checks.
* ``sim`` and ``jaxley``: the benchmark case itself.

Each floor runs as a ``lax.scan`` with the same shape as the simulation (256
lanes, 8000 steps), every operation feeding the carry so nothing is hoisted or
removed. Run ``python -m experiments.benchmarks.floor`` (Jaxley from the
``bench`` extra; ``--no-reference`` prints the floors and sim alone).
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax

from experiments.benchmarks.speed import DT, Case, prepare, time_once, vmap_case

LANES, STEPS = 256, 8000


def _scan(body: Callable) -> Callable:
    def run(x):
        return lax.scan(lambda c, _: (body(c), None), x, None, length=STEPS)[0]

    return jax.jit(run)


_EXP_RATES = (-0.011, -0.013, -0.017, -0.019, -0.023)


def _exps(x, n: int):
    """The sum of ``n`` independent float64 exponentials of ``x``."""
    return sum(jnp.exp(x * r) for r in _EXP_RATES[:n])


def _exp4(x):
    return 0.5 * x + 0.05 * _exps(x, 4)


def _exp5_div6(x):
    divisions = sum(1.0 / (x + c) for c in (2.0, 3.0, 4.0, 5.0, 6.0, 7.0))
    return 0.5 * x + 0.05 * _exps(x, 5) + 0.01 * divisions


def _hh_kernel_body():
    from sim.channels import HH

    hh = HH()
    params = {k: jnp.full(LANES, v) for k, v in hh.channel_params.items()}
    params["HH_gNa"] = jnp.linspace(0.05, 0.2, LANES)

    def body(carry):
        v, m, h, n = carry
        states = {"HH_m": m, "HH_h": h, "HH_n": n}
        i = hh.compute_current(states, v, params)
        new = hh.update_states(states, DT, v, params)
        v = v + DT * (0.02 - i)  # explicit membrane update, unit capacitance
        return v, new["HH_m"], new["HH_h"], new["HH_n"]

    return body


def floors() -> dict[str, tuple[Callable, tuple]]:
    """The floor kernels, each ``(jitted, args)`` timed like a benchmark case."""
    x = jnp.linspace(0.1, 0.9, LANES)
    gates = jnp.full(LANES, 0.3)
    hh_init = (jnp.full(LANES, -65.0), gates * 0.2, gates * 2.0, gates)
    return {
        "exp x4": (_scan(_exp4), (x,)),
        "exp x5 + div x6": (_scan(_exp5_div6), (x,)),
        "sim HH kernel": (_scan(_hh_kernel_body()), (hh_init,)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed repetitions of each")
    parser.add_argument("--no-reference", action="store_true", help="floors and sim alone")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    if not jax.config.jax_enable_x64:
        parser.error("the floors are for float64 (jax_enable_x64 is off)")
    case = Case("HH vmap256 200ms", vmap_case(n=LANES, t_max=STEPS * DT), 1 / 3)
    libs = ["sim"] if args.no_reference else ["sim", "jaxley"]
    if not args.no_reference:
        try:
            importlib.import_module("jaxley")
        except ImportError:
            parser.error("jaxley is not installed: pip install -e '.[bench]' or --no-reference")
    timed = dict(floors())
    for lib in libs:
        jitted, fargs, _ = prepare(case, lib)
        timed[lib] = (jitted, fargs)
    for jitted, fargs in timed.values():
        time_once(jitted, fargs)  # compile
    runs: dict[str, list[float]] = {name: [] for name in timed}
    for _ in range(args.rounds):  # interleaved: all see the same machine load
        for name, (jitted, fargs) in timed.items():
            runs[name].append(time_once(jitted, fargs))
    print(f"jax {jax.__version__}, {jax.devices()}, float64, {LANES} lanes x {STEPS} steps")
    ref = statistics.median(runs["jaxley"]) if "jaxley" in runs else None
    print(f"{'kernel':18s} {'median':>10s} {'ns/lane-step':>13s} {'of Jaxley':>10s}")
    for name, ts in runs.items():
        med = statistics.median(ts)
        frac = f"{med / ref:10.3f}" if ref else ""
        print(f"{name:18s} {med * 1e3:7.1f} ms {med / (LANES * STEPS) * 1e9:13.2f} {frac}")
    if ref:
        print(f"goal: sim <= {ref / 3 * 1e3:.1f} ms (1/3 of Jaxley)")
    return 0


if __name__ == "__main__":
    jax.config.update("jax_enable_x64", True)
    sys.exit(main())
