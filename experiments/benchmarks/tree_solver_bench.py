"""Micro-benchmark of the tree solvers in :mod:`sim.solvers.tree`.

Times one jitted solve (after warm-up) per solver on three 1000-node trees:
a random recursive tree (shallow, wide levels), an unbranched chain (one node
per level) and a dendrite-like tree built from 3-compartment sections (deep,
narrow levels, as for a pyramidal-cell morphology).

Run with ``python -m experiments.benchmarks.tree_solver_bench``.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from sim.solvers.tree import (
    DenseTreeSolver,
    LevelTreeSolver,
    SequentialTreeSolver,
    TreeSolver,
)


def random_tree(*, num_nodes: int, rng: np.random.Generator) -> np.ndarray:
    """Random recursive tree: node ``i`` attaches to a uniform earlier node."""
    parent = np.full(num_nodes, -1, dtype=np.int64)
    for i in range(1, num_nodes):
        parent[i] = rng.integers(0, i)
    return parent


def chain(*, num_nodes: int) -> np.ndarray:
    """Unbranched chain ``0 <- 1 <- 2 <- ...``."""
    return np.arange(-1, num_nodes - 1, dtype=np.int64)


def dendrite_tree(
    *, num_nodes: int, rng: np.random.Generator, comps_per_section: int = 3
) -> np.ndarray:
    """Sections of ``comps_per_section`` nodes attached to recent section ends.

    Attaching preferentially to recently created sections gives long paths
    (depth of order 100 for 1000 nodes) with levels that are 1-20 wide.
    """
    parent = [-1]
    ends = [0]
    while len(parent) < num_nodes:
        back = min(len(ends), 1 + int(rng.geometric(0.15)))
        attach = ends[-back]
        for _ in range(comps_per_section):
            if len(parent) == num_nodes:
                break
            parent.append(attach)
            attach = len(parent) - 1
        ends.append(attach)
    return np.asarray(parent, dtype=np.int64)


def time_solver(solver: TreeSolver, *, repeats: int, rng: np.random.Generator) -> float:
    """Return microseconds per jitted solve, measured after a warm-up call."""
    n = solver.num_nodes
    diag = jnp.asarray(4.0 + rng.random(n))
    lower = jnp.asarray(rng.uniform(-1.0, 0.0, n))
    upper = jnp.asarray(rng.uniform(-1.0, 0.0, n))
    rhs = jnp.asarray(rng.normal(size=n))
    fn = jax.jit(solver.solve)
    fn(diag, lower, upper, rhs).block_until_ready()
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            out = fn(diag, lower, upper, rhs)
        out.block_until_ready()
        best = min(best, (time.perf_counter() - start) / repeats)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-nodes", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--x64", action="store_true", help="use float64")
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", args.x64)
    rng = np.random.default_rng(0)
    n = args.num_nodes
    trees = {
        "random": random_tree(num_nodes=n, rng=rng),
        "chain": chain(num_nodes=n),
        "dendrite": dendrite_tree(num_nodes=n, rng=rng),
    }
    variants = {
        "levels": LevelTreeSolver,
        "levels(scan)": lambda p: LevelTreeSolver(p, max_unrolled_levels=0),
        "hines": SequentialTreeSolver,
        "dense": DenseTreeSolver,
    }
    print(f"backend={jax.default_backend()} N={n} x64={args.x64}")
    for tree_name, parent in trees.items():
        depth_info = LevelTreeSolver(parent)
        print(f"{tree_name}: levels={depth_info.num_levels} max_width={depth_info.max_width}")
        for name, make in variants.items():
            us = time_solver(make(parent), repeats=args.repeats, rng=rng)
            print(f"  {name:>13s}: {us:10.1f} us/solve")


if __name__ == "__main__":
    main()
