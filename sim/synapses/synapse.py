"""The ``Synapse`` base class: a mechanism living on an edge of a network."""

from __future__ import annotations

from sim.channels.channel import _check_table, _swap_prefix

__all__ = ["Synapse", "validate_synapse"]


class Synapse:
    """Base class of every synapse (a point process between two compartments).

    A synapse is inserted on *edges*: ``sim.connect(pre_view, post_view, MySynapse())``
    adds one edge per (pre, post) compartment pair to ``network.edges``, where the
    synapse's parameters and states are stored per edge and can be changed with
    ``set``, made trainable, recorded, and so on.

    **Units** (NEURON's point-process convention, as in Jaxley): conductances in
    µS, voltages in mV, time in ms, and the value returned by
    :meth:`compute_current` in **nA**, positive when the current leaves the
    postsynaptic cell (``g * (v_post - e_syn)``).

    **What a subclass defines** (in ``__init__``, after ``super().__init__(name)``):

    - ``self.synapse_params``: ``dict`` of parameter names to default values,
      prefixed by ``self.name`` (e.g. ``f"{self.name}_gS"``).
    - ``self.synapse_states``: ``dict`` of state names to initial values.
    - :meth:`update_states` and :meth:`compute_current`.

    **What the methods receive**, vectorised over all edges of this synapse:
    ``pre_voltage`` and ``post_voltage`` (mV, shape ``(n_edges,)``), ``states``
    and ``params`` (dicts of ``(n_edges,)`` arrays), ``delta_t`` (ms). Code must be
    traceable by JAX (``jax.numpy``, no Python ``if`` on values).

    **Order within a step**: :meth:`compute_current` is evaluated at the start of
    the step and linearised in the postsynaptic voltage (exactly, by ``jax.jvp``)
    for the implicit voltage solve; :meth:`update_states` then advances the
    states with the new voltages.

    The current is recorded as ``f"i_{name}"`` (one value per edge).

    **Optional, for speed** (:class:`sim.core.mechanism.PresynapticKernel`): when part
    of the update depends on the presynaptic voltage alone, define
    ``presynaptic_params`` (the parameter keys that part reads),
    ``presynaptic_terms(delta_t, pre_voltage, params)`` returning a tuple of arrays,
    and ``update_from_presynaptic(states, terms, delta_t, post_voltage, params)``,
    with ``update_states`` equal to their composition (see
    :class:`~sim.synapses.IonotropicSynapse`). The step then evaluates the terms once
    per presynaptic compartment wherever those parameters are equal on all of its
    edges (:mod:`sim.core.sites`); a subclass that overrides ``update_states`` alone
    is run as written.
    """

    _name: str = ""
    synapse_params = None
    synapse_states = None
    #: Valid ranges ``{key: (low, high)}`` of parameters and states, as for channels
    #: (see :attr:`sim.channels.Channel.param_bounds`).
    param_bounds: dict[str, tuple[float, float]] | None = None
    state_bounds: dict[str, tuple[float, float]] | None = None

    def __init__(self, name: str | None = None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Synapse name must be a str, got {type(name).__name__}.")
        self._name = name if name else type(self).__name__

    @property
    def name(self) -> str:
        """Name of the synapse, the prefix of its parameter and state keys."""
        return self._name

    @property
    def current_name(self) -> str:
        """Name under which the synaptic current (nA, per edge) is recorded."""
        return f"i_{self._name}"

    def change_name(self, new_name: str) -> Synapse:
        """Rename the synapse and every key carrying its prefix (chainable)."""
        if not isinstance(new_name, str) or not new_name:
            raise TypeError(f"new_name must be a non-empty str, got {new_name!r}.")
        old, new = f"{self._name}_", f"{new_name}_"
        self.synapse_params = {
            _swap_prefix(k, old, new): v for k, v in (self.synapse_params or {}).items()
        }
        self.synapse_states = {
            _swap_prefix(k, old, new): v for k, v in (self.synapse_states or {}).items()
        }
        for attr in ("param_bounds", "state_bounds"):
            table = getattr(self, attr)
            if table is not None:
                setattr(self, attr, {_swap_prefix(k, old, new): v for k, v in table.items()})
        self._name = new_name
        return self

    def update_states(self, states, delta_t, pre_voltage, post_voltage, params) -> dict:
        """Return the states after one step of ``delta_t`` ms (only keys that change)."""
        if self.synapse_states:
            raise NotImplementedError(
                f"{type(self).__name__} has states {sorted(self.synapse_states)} but does not "
                "implement update_states(self, states, delta_t, pre_voltage, post_voltage, "
                "params)."
            )
        return {}

    def compute_current(self, states, pre_voltage, post_voltage, params):
        """Return the current through every synapse in nA (positive: outward)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement compute_current(self, states, "
            "pre_voltage, post_voltage, params)."
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self._name!r}, params={self.synapse_params!r}, "
            f"states={self.synapse_states!r})"
        )


def validate_synapse(synapse) -> None:
    """Raise a clear error unless ``synapse`` has the ``Synapse`` interface (duck-typed)."""
    if isinstance(synapse, type):
        raise TypeError(
            f"Got the class {synapse.__name__}; connect an instance: {synapse.__name__}()."
        )
    cls = type(synapse).__name__
    for attr in ("synapse_params", "synapse_states"):
        if not hasattr(synapse, attr):
            raise TypeError(
                f"{cls} is not a synapse: it has no {attr}. Synapses subclass "
                "sim.synapses.Synapse (or provide its interface)."
            )
        _check_table(cls, attr, getattr(synapse, attr))
    name = getattr(synapse, "name", None) or getattr(synapse, "_name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls} has no name; call super().__init__(name) in {cls}.__init__.")
    for method in ("compute_current", "update_states"):
        if not callable(getattr(synapse, method, None)):
            raise TypeError(f"{cls} must implement {method}().")
    both = set(synapse.synapse_params) & set(synapse.synapse_states)
    if both:
        raise ValueError(f"{cls}: {sorted(both)} declared both as parameter and as state.")
