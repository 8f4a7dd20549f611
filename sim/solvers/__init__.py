"""Linear solvers for the tree-structured systems of cable equations."""

from sim.solvers.tree import (
    DenseTreeSolver,
    LevelTreeSolver,
    SequentialTreeSolver,
    TreeOrder,
    TreeSolver,
    solver_from_name,
    tree_order,
)

__all__ = [
    "DenseTreeSolver",
    "LevelTreeSolver",
    "SequentialTreeSolver",
    "TreeOrder",
    "TreeSolver",
    "solver_from_name",
    "tree_order",
]
