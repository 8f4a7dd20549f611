"""Differentiable multi-compartment neuron simulation with Jaxley's public API.

``import sim as jx`` is a drop-in replacement for ``import jaxley as jx``.
"""

from importlib import metadata as _metadata

# First, before anything can start JAX's backend (which reads the option once):
# importing sim.xla_tuning applies it, see there.
from sim import xla_tuning  # noqa: F401
from sim.config import SimulationError, SimulationWarning, config
from sim.connect import connect, connectivity_matrix_connect, fully_connect, sparse_connect
from sim.integrate import build_init_and_step_fn, integrate
from sim.modules.branch import Branch
from sim.modules.cell import Cell
from sim.modules.compartment import Compartment
from sim.modules.module import Module
from sim.modules.network import Network
from sim.modules.view import View
from sim.morphology.read import read_swc
from sim.optimize import ParamTransform
from sim.stimulus import datapoint_to_step_currents, step_current

try:
    __version__ = _metadata.version("neurofit")
except _metadata.PackageNotFoundError:  # pragma: no cover - a bare source tree
    __version__ = "0.0.0"

__all__ = [
    "Branch",
    "Cell",
    "Compartment",
    "Module",
    "Network",
    "ParamTransform",
    "SimulationError",
    "SimulationWarning",
    "View",
    "build_init_and_step_fn",
    "config",
    "connect",
    "connectivity_matrix_connect",
    "fully_connect",
    "sparse_connect",
    "datapoint_to_step_currents",
    "integrate",
    "read_swc",
    "step_current",
]
