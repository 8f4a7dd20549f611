"""Linear solvers for the tree-structured systems of cable equations."""

from sim.solvers.names import SOLVER_NAMES, solver_from_name
from sim.solvers.segments import SegmentTreeSolver, segment_layout
from sim.solvers.tree import (
    DenseTreeSolver,
    LevelTreeSolver,
    SequentialTreeSolver,
    TreeOrder,
    TreeSolver,
    tree_order,
)

__all__ = [
    "SOLVER_NAMES",
    "DenseTreeSolver",
    "LevelTreeSolver",
    "SegmentTreeSolver",
    "SequentialTreeSolver",
    "TreeOrder",
    "TreeSolver",
    "segment_layout",
    "solver_from_name",
    "tree_order",
]
