"""The ``Pump`` base class: a mechanism that changes an ion concentration."""

from __future__ import annotations

from sim.channels.channel import _swap_prefix

__all__ = ["Pump"]


class Pump:
    """Base class of mechanisms that change an intracellular ion concentration.

    Like a :class:`~sim.channels.Channel` a pump is inserted into compartments and
    declares ``channel_params``, ``channel_states`` and a ``current_name``; in
    addition ``ion_name`` names the concentration state it acts on (e.g.
    ``"CaCon_i"``, mM). :meth:`compute_current` receives that concentration and
    returns ``-dC/dt`` (mM/ms; positive removes ions), the "current" of the ion.
    The simulator linearises it in the concentration (exactly, by ``jax.jvp``)
    and advances the concentration implicitly, together with its diffusion when
    ``module.diffuse(ion_name)`` is set. ``update_states`` may update other
    states (e.g. a reversal potential), with the new voltage.

    Keys the pump reads from other mechanisms (e.g. the calcium current
    ``"i_Ca"`` of CaL/CaT) are declared in ``channel_states``: the simulator passes
    the present value (for currents: the current of the step's start).
    """

    _name: str = ""
    channel_params = None
    channel_states = None
    current_name = None
    ion_name = None
    param_bounds: dict[str, tuple[float, float]] | None = None
    state_bounds: dict[str, tuple[float, float]] | None = None

    def __init__(self, name: str | None = None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Pump name must be a str, got {type(name).__name__}.")
        self._name = name if name else type(self).__name__

    @property
    def name(self) -> str:
        return self._name

    def change_name(self, new_name: str) -> Pump:
        """Rename the pump and every key carrying its prefix (chainable)."""
        if not isinstance(new_name, str) or not new_name:
            raise TypeError(f"new_name must be a non-empty str, got {new_name!r}.")
        old, new = f"{self._name}_", f"{new_name}_"
        for attr in ("channel_params", "channel_states", "param_bounds", "state_bounds"):
            table = getattr(self, attr)
            if table is not None:
                setattr(self, attr, {_swap_prefix(k, old, new): v for k, v in table.items()})
        self._name = new_name
        return self

    def update_states(self, states, dt, v, params) -> dict:
        """Update states other than the pumped concentration (default: none)."""
        return {}

    def compute_current(self, states, modified_state, params):
        """``-dC/dt`` (mM/ms) of the ion ``ion_name`` at concentration ``modified_state``."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement compute_current(self, states, "
            "modified_state, params)."
        )

    def init_state(self, states, v, params, delta_t) -> dict:
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self._name!r}, ion={self.ion_name!r})"
