"""``TypeOptimizer``: one optax optimiser per parameter type (``jaxley.optimize``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["TypeOptimizer"]


class TypeOptimizer:
    """Different optimiser settings for different kinds of parameters.

    ``optimizer(optimizer_args[name])`` builds the optax optimiser of each entry
    ``{name: value}`` of ``opt_params`` (the list from ``get_parameters()``), e.g.
    ``TypeOptimizer(lambda lr: optax.adam(lr), {"HH_gNa": 0.01, "radius": 1.0},
    params)``. :meth:`init` and :meth:`update` work like optax's on the list.
    """

    def __init__(
        self,
        optimizer: Callable,
        optimizer_args: dict[str, Any],
        opt_params: list[dict],
    ):
        self.base_optimizer = optimizer
        self.optimizers = []
        for entry in opt_params:
            if not isinstance(entry, dict) or len(entry) != 1:
                raise ValueError(
                    f"Each entry of opt_params must be a one-key dict, got {entry!r}; pass "
                    "the list returned by get_parameters()."
                )
            (name,) = entry
            if name not in optimizer_args:
                raise ValueError(
                    f"optimizer_args has no entry for {name!r}; it has {sorted(optimizer_args)}."
                )
            self.optimizers.append({name: optimizer(optimizer_args[name])})

    def init(self, opt_params: list[dict]) -> list:
        return [opt[name].init(p) for p, opt in zip(opt_params, self.optimizers) for name in opt]

    def update(self, gradient: list, opt_state: list) -> tuple[list, list]:
        updates, states = [], []
        for grad, state, opt in zip(gradient, opt_state, self.optimizers):
            (name,) = opt
            upd, new = opt[name].update(grad, state)
            updates.append(upd)
            states.append(new)
        return updates, states
