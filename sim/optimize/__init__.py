"""Optimisation helpers with Jaxley's API: transforms, ``ParamTransform``, ``TypeOptimizer``."""

from sim.optimize import transforms, utils
from sim.optimize.optimizer import TypeOptimizer
from sim.optimize.param_transform import ParamTransform

__all__ = ["ParamTransform", "TypeOptimizer", "transforms", "utils"]
