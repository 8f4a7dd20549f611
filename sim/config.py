"""Run-time checks of simulations (settable: ``import sim; sim.config.max_voltage_mV = 1000``).

Attributes of :data:`config`:

* ``max_voltage_mV`` (500): a recorded voltage, or any final compartment
  voltage, beyond ``±max_voltage_mV`` means the simulation blew up (time step too
  large for the solver, a parameter far out of range, ...): ``integrate`` warns,
  naming the recording (or compartment) and the first step. NaN/inf always warn.
* ``check_simulations`` (True): run these checks (and the check of traced
  ``data_set`` values against the mechanisms' declared ranges) inside every
  ``integrate``; they also work under ``jax.jit``, ``vmap`` and ``grad``
  (``jax.debug.callback``), at the cost of one host callback per call.
* ``step_order`` (``"neuron"``): NEURON's fixed-step order (voltage with the
  mechanism states frozen, then the states with the new voltage). ``"jaxley"``
  reproduces Jaxley 0.14 (states first with the old voltage, then the voltage);
  traces differ by up to a few mV during fast transients or when a simulation
  starts away from steady state, and converge as ``dt -> 0``.
* ``on_problem`` (``"warn"``): ``"warn"`` emits a :class:`SimulationWarning`;
  ``"raise"`` raises :class:`SimulationError` (from eager calls; inside ``jit`` the
  error surfaces when the result is used).

The step itself is unchanged by these settings; they are read when ``integrate``
is traced, so change them before the first call of a (jitted) function.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["config", "SimulationWarning", "SimulationError"]


class SimulationWarning(RuntimeWarning):
    """A simulation produced non-physical or non-finite values."""


class SimulationError(RuntimeError):
    """A simulation produced non-physical or non-finite values (``on_problem="raise"``)."""


@dataclass
class _Config:
    max_voltage_mV: float = 500.0
    check_simulations: bool = True
    on_problem: str = "warn"
    step_order: str = "neuron"

    def key(self) -> tuple:
        if self.on_problem not in ("warn", "raise"):
            raise ValueError(
                f"sim.config.on_problem must be 'warn' or 'raise', got {self.on_problem!r}"
            )
        if not self.max_voltage_mV > 0:
            raise ValueError(f"sim.config.max_voltage_mV must be > 0, got {self.max_voltage_mV!r}")
        return (float(self.max_voltage_mV), bool(self.check_simulations), self.on_problem)


config = _Config()
