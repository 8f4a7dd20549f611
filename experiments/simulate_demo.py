"""Simulation demo: a branched HH cell driven by a current step; writes a voltage plot.

python -m experiments.simulate_demo --out results/demo
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from inference.checkpoint import atomic_path


def build_cell():
    import sim as jx
    from sim.channels import HH

    comp = jx.Compartment()
    branch = jx.Branch(comp, ncomp=4)
    cell = jx.Cell(branch, parents=[-1, 0, 0, 1, 1])
    cell.branch(0).set("radius", 2.0)
    cell.insert(HH())
    cell.init_states()
    for b in (0, 2, 4):
        cell.branch(b).loc(0.5).record("v", verbose=False)
    cell.branch(0).loc(0.0).stimulate(jx.step_current(2.0, 20.0, 0.2, 0.025, 30.0), verbose=False)
    return cell


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/demo"))
    parser.add_argument("--t-max", type=float, default=30.0)
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import sim as jx

    args.out.mkdir(parents=True, exist_ok=True)
    cell = build_cell()
    start = time.perf_counter()
    v = np.asarray(jx.integrate(cell, t_max=args.t_max, delta_t=0.025))
    print(
        f"simulated {v.shape[1] - 1} steps of a {cell.shape} cell in "
        f"{time.perf_counter() - start:.2f} s"
    )
    t = np.arange(v.shape[1]) * 0.025
    with atomic_path(args.out / "voltages.npz") as tmp:
        np.savez(tmp, t_ms=t, v_mV=v)
    fig, ax = plt.subplots(figsize=(7, 3))
    for row, b in zip(v, (0, 2, 4)):
        ax.plot(t, row, label=f"branch {b}")
    ax.set(xlabel="time (ms)", ylabel="v (mV)")
    ax.legend()
    fig.tight_layout()
    with atomic_path(args.out / "voltages.png") as tmp:
        fig.savefig(tmp, dpi=120)
    print(f"wrote {args.out / 'voltages.npz'} and {args.out / 'voltages.png'}")
    return args.out


if __name__ == "__main__":
    main()
