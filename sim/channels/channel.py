"""The ``Channel`` base class: how a membrane mechanism is described."""

import math
import numbers

import numpy as np

__all__ = ["Channel", "check_definition", "validate_channel", "RESERVED_KEYS"]

#: Names the simulator already uses for every compartment. A channel may *read* them
#: (``v`` is passed separately; the geometry keys are in ``params``) but must not
#: declare a parameter or state with one of these names.
RESERVED_KEYS = frozenset({"v", "radius", "length", "area", "capacitance", "axial_resistivity"})


class Channel:
    """Base class of every membrane mechanism (ion channel, leak, pump, ...).

    A channel contributes a transmembrane current density and may carry its own
    state variables (gates, concentrations). Channels are inserted into
    compartments with ``module.insert(MyChannel())``; the simulator then stores the
    channel's parameters and states per compartment, where they can be changed with
    ``set``, made trainable, recorded, and so on.

    **Units.** Voltage ``v`` in mV, time step ``dt`` in ms, conductances in S/cm²,
    and the value returned by :meth:`compute_current` in **mA/cm²** (S/cm² × mV).
    The sign convention is NEURON's: positive current leaves the cell (outward), so
    ``g * (v - e_rev)`` is the usual form. Jaxley channels written for versions
    >= 0.5 set ``self.current_is_in_mA_per_cm2 = True`` in ``__init__``; that line
    is accepted and has no effect, because mA/cm² is the only unit used here.

    **What a subclass defines** (normally all in ``__init__``, after calling
    ``super().__init__(name)``):

    - ``self.channel_params``: ``dict`` mapping parameter names to default values
      (plain floats).
    - ``self.channel_states``: ``dict`` mapping state names to initial values
      (plain floats); ``{}`` if the channel is stateless.
    - ``self.current_name``: name under which the channel's current is stored,
      e.g. ``"i_K"``. Several channels may share a current name (for instance two
      potassium channels both writing ``"i_K"``); their currents are then summed
      under that name, and all of them still enter the membrane equation.
    - :meth:`update_states`, :meth:`compute_current` and, optionally,
      :meth:`init_state`.

    **Naming.** ``self.name`` defaults to the class name and is used as a prefix:
    every key that belongs to this channel alone must be spelled
    ``f"{self.name}_<key>"`` (e.g. ``"HH_gNa"``). Only keys meant to be *shared*
    between channels in the same compartment are written without prefix, e.g. the
    reversal potentials ``"eK"``/``"eNa"``/``"eCa"``, the threshold ``"vt"`` of the
    Pospischil channels, or a concentration ``"CaCon_i"`` that one channel updates
    and another reads. Two channels declaring the same shared key read and write a
    single value per compartment. :meth:`change_name` relies on this convention:
    it renames exactly the keys that start with the old prefix, which is what lets
    two copies of one channel class (e.g. ``HH()`` and
    ``HH().change_name("HH2")``) live side by side. The names in
    :data:`RESERVED_KEYS` must not be used for parameters or states.

    **What the methods receive.** Every method is called once per time step for all
    compartments that have the channel, in vectorised form:

    - ``v``: array of shape ``(n,)``, the voltages (mV) of those ``n``
      compartments.
    - ``params``: ``dict`` of arrays of shape ``(n,)`` holding the channel's own
      ``channel_params`` (with the values set by the user, shared keys included)
      and the compartment geometry and cable properties ``"radius"`` (µm),
      ``"length"`` (µm), ``"area"`` (µm²), ``"capacitance"`` (µF/cm²) and
      ``"axial_resistivity"`` (Ω·cm).
    - ``states``: ``dict`` of arrays of shape ``(n,)`` holding the channel's own
      ``channel_states``, every other state present in those compartments (e.g. a
      shared ``"eCa"`` or ``"CaCon_i"``) and the currents of the previous step,
      keyed by their ``current_name`` (e.g. ``"i_Ca"``; mA/cm²).
    - ``dt``: the time step in ms (a scalar).

    Read your own keys with the prefix, e.g. ``states[f"{self.name}_n"]``. All code
    must be traceable by JAX: use ``jax.numpy``, no Python ``if`` on array values
    (use ``jnp.where``), no in-place mutation. Return new arrays instead.

    **Order within a step** (NEURON's fixed step): :meth:`compute_current` is
    evaluated with the states and voltage at the start of the step and linearised
    in ``v`` (its exact derivative is taken with ``jax.jvp``) to advance the voltage
    implicitly; then :meth:`update_states` advances the states using the *new*
    voltage.

    **Worked example.** A delayed-rectifier potassium channel with one gate ``n``
    (rates in 1/ms, as in NEURON's ``hh.mod``), sharing the reversal ``eK`` with
    other potassium channels:

    ```python
    from sim.channels import Channel
    from sim.channels.hh import vtrap
    from sim.solver_gate import save_exp, solve_gate_exponential


    class MyK(Channel):
        def __init__(self, name=None):
            self.current_is_in_mA_per_cm2 = True  # optional, Jaxley style
            super().__init__(name)
            prefix = self.name
            self.channel_params = {f"{prefix}_gK": 0.036, "eK": -77.0}
            self.channel_states = {f"{prefix}_n": 0.3}
            self.current_name = "i_K"

        @staticmethod
        def n_rates(v):
            # vtrap(x, y) = x / (exp(x / y) - 1), safe at x = 0 (v = -55 mV);
            # save_exp caps the exponent so extreme voltages cannot overflow.
            alpha = 0.01 * vtrap(-(v + 55.0), 10.0)  # 1/ms
            beta = 0.125 * save_exp(-(v + 65.0) / 80.0)  # 1/ms
            return alpha, beta

        def update_states(self, states, dt, v, params):
            n = states[f"{self.name}_n"]
            n_new = solve_gate_exponential(n, dt, *self.n_rates(v))
            return {f"{self.name}_n": n_new}

        def compute_current(self, states, v, params):
            g = params[f"{self.name}_gK"] * states[f"{self.name}_n"] ** 4  # S/cm²
            return g * (v - params["eK"])  # mA/cm²

        def init_state(self, states, v, params, delta_t):
            alpha, beta = self.n_rates(v)
            return {f"{self.name}_n": alpha / (alpha + beta)}
    ```

    Used as ``cell.insert(MyK())`` and tuned with ``cell.set("MyK_gK", 0.05)``.
    Write rate expressions of the form ``x / (exp(x) - 1)`` with
    :func:`sim.channels.hh.vtrap` (or ``sim.channels.pospischil.efun``): the naive
    quotient is 0/0 at one voltage and its gradient is NaN there.

    Args:
        name: Name of this channel instance and prefix of its keys; defaults to
            the class name.
    """

    _name: str = ""
    channel_params = None
    channel_states = None
    current_name = None
    #: Valid ranges of parameters and states, ``{key: (low, high)}`` (inclusive; use
    #: ``math.inf`` for unbounded ends). ``set``, ``data_set`` (with concrete values)
    #: and ``make_trainable`` reject values outside them, simulations warn about
    #: traced values outside them, and inference uses them as the support of priors
    #: and of the parameter transforms. Keys without an entry are unbounded.
    param_bounds: dict[str, tuple[float, float]] | None = None
    state_bounds: dict[str, tuple[float, float]] | None = None

    def __init__(self, name: str | None = None):
        if getattr(self, "current_is_in_mA_per_cm2", True) is False:
            raise ValueError(
                f"{type(self).__name__} sets current_is_in_mA_per_cm2 = False, i.e. "
                "compute_current returns uA/cm2. This simulator expects mA/cm2: "
                "divide the returned current by 1000 and set "
                "current_is_in_mA_per_cm2 = True (or remove the attribute)."
            )
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Channel name must be a str, got {type(name).__name__}.")
        self._name = name if name else type(self).__name__

    @property
    def name(self) -> str:
        """Name of the channel, the prefix of its own parameter and state keys."""
        return self._name

    def change_name(self, new_name: str) -> "Channel":
        """Rename the channel and every key carrying its prefix.

        Keys of the form ``f"{old_name}_..."`` become ``f"{new_name}_..."``;
        shared keys without the prefix (e.g. ``"eK"``, ``"vt"``) and
        ``current_name`` are left unchanged.

        Args:
            new_name: The new name.

        Returns:
            The channel itself, so calls can be chained: ``HH().change_name("HH2")``.
        """
        if not isinstance(new_name, str) or not new_name:
            raise TypeError(f"new_name must be a non-empty str, got {new_name!r}.")
        old_prefix, new_prefix = f"{self._name}_", f"{new_name}_"

        def rename(table):
            return {
                _swap_prefix(key, old_prefix, new_prefix): value
                for key, value in (table or {}).items()
            }

        self.channel_params = rename(self.channel_params)
        self.channel_states = rename(self.channel_states)
        if self.param_bounds is not None:
            self.param_bounds = rename(self.param_bounds)
        if self.state_bounds is not None:
            self.state_bounds = rename(self.state_bounds)
        self._name = new_name
        return self

    def update_states(self, states, dt, v, params) -> dict:
        """Advance the channel's states by one time step ``dt`` (ms).

        Args:
            states: Dict of arrays, see the class docstring.
            dt: Time step in ms.
            v: Voltages in mV, shape ``(n,)``.
            params: Dict of arrays, see the class docstring.

        Returns:
            Dict of the updated states (only the keys that change). The base
            implementation serves stateless channels and returns ``{}``.
        """
        if self.channel_states:
            raise NotImplementedError(
                f"{type(self).__name__} has states {sorted(self.channel_states)} "
                "but does not implement update_states(self, states, dt, v, params)."
            )
        return {}

    def compute_current(self, states, v, params):
        """Return the channel's current density in mA/cm² (outward positive).

        Args:
            states: Dict of arrays (already updated for this step).
            v: Voltages in mV, shape ``(n,)``.
            params: Dict of arrays; conductances in S/cm².

        Returns:
            Array broadcastable to ``v.shape``, in mA/cm².
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement compute_current(self, states, v, params)."
        )

    def init_state(self, states, v, params, delta_t) -> dict:
        """Return states to start from, given voltage ``v`` (used by init_states).

        Typically the steady state of each gate at ``v``. Keys that are not
        returned keep their current values; the default returns ``{}``.

        Args:
            states: Dict of arrays, see the class docstring.
            v: Voltages in mV, shape ``(n,)``.
            params: Dict of arrays, see the class docstring.
            delta_t: The time step (ms) the simulation will use.
        """
        return {}

    def _check_definition(self) -> None:
        """Raise ``TypeError``/``ValueError`` if this channel is malformed."""
        check_definition(self)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self._name!r}, "
            f"current_name={self.current_name!r}, params={self.channel_params!r}, "
            f"states={self.channel_states!r})"
        )


def check_definition(channel) -> None:
    """Raise ``TypeError``/``ValueError`` if a channel (any object with the interface) is
    malformed."""
    cls = type(channel).__name__
    name = getattr(channel, "_name", None) or getattr(channel, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(
            f"{cls} has no name. Call super().__init__(name) at the start of {cls}.__init__."
        )
    for attr in ("channel_params", "channel_states"):
        _check_table(cls, attr, getattr(channel, attr))
    if not isinstance(channel.current_name, str) or not channel.current_name:
        raise TypeError(
            f"{cls}.current_name must be a non-empty str such as "
            f"'i_{name}', got {channel.current_name!r}. Set it in __init__."
        )
    both = set(channel.channel_params) & set(channel.channel_states)
    if both:
        raise ValueError(
            f"{cls}: {sorted(both)} declared both as parameter and as state; rename one of them."
        )
    own = set(channel.channel_params) | set(channel.channel_states)
    clash = own & (RESERVED_KEYS | {channel.current_name})
    if clash:
        raise ValueError(
            f"{cls}: keys {sorted(clash)} clash with names the simulator uses "
            f"(compartment properties or the current '{channel.current_name}'); "
            f"prefix them, e.g. '{name}_{sorted(clash)[0]}'."
        )
    if getattr(type(channel), "compute_current", None) in (None, Channel.compute_current):
        raise TypeError(f"{cls} must implement compute_current().")
    update = getattr(type(channel), "update_states", None)
    if channel.channel_states and update in (None, Channel.update_states):
        raise TypeError(f"{cls} has states and must implement update_states().")


def _swap_prefix(key: str, old: str, new: str) -> str:
    """Replace the leading ``old`` of ``key`` by ``new``; other keys are unchanged."""
    return new + key[len(old) :] if key.startswith(old) else key


def _check_table(cls: str, attr: str, table) -> None:
    """Check that ``table`` is a dict of non-empty str keys to finite-or-inf reals."""
    if not isinstance(table, dict):
        raise TypeError(
            f"{cls}.{attr} must be a dict of name -> float (use {{}} if empty), got "
            f"{type(table).__name__}. Set self.{attr} in __init__."
        )
    for key, value in table.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"{cls}.{attr}: keys must be non-empty str, got {key!r}.")
        # Booleans are accepted for states (stored as 0/1): Jaxley's spike flags use them.
        if not _is_real_scalar(value, allow_bool=attr == "channel_states"):
            raise TypeError(
                f"{cls}.{attr}[{key!r}] must be a float, got {value!r} ({type(value).__name__})."
            )
        if math.isnan(float(value)):
            raise ValueError(f"{cls}.{attr}[{key!r}] is NaN; give a default value.")


def _is_real_scalar(value, allow_bool: bool = False) -> bool:
    if isinstance(value, bool | np.bool_):
        return allow_bool
    if isinstance(value, numbers.Real):
        return True
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    return (
        shape == ()
        and dtype is not None
        and np.issubdtype(dtype, np.number)
        and not np.issubdtype(dtype, np.complexfloating)
    )


def validate_channel(channel) -> None:
    """Raise a clear error unless ``channel`` is a well-formed :class:`Channel`.

    Meant to be called by ``insert``. Checks the type, the name, that
    ``channel_params``/``channel_states`` are dicts of str -> float, that
    ``current_name`` is set, that no key is both a parameter and a state or uses a
    reserved name, and that the required methods are implemented.
    """
    if isinstance(channel, type):
        raise TypeError(
            f"Got the class {channel.__name__}; insert an instance: {channel.__name__}()."
        )
    missing = [
        attr
        for attr in ("channel_params", "channel_states", "current_name", "compute_current")
        if not hasattr(channel, attr)
    ]
    if missing:
        raise TypeError(
            f"Expected a channel (an object with the interface of sim.channels.Channel, "
            f"e.g. a Jaxley channel), got {type(channel).__name__} without {missing}."
        )
    if getattr(channel, "current_is_in_mA_per_cm2", True) is False:
        raise ValueError(
            f"{type(channel).__name__} sets current_is_in_mA_per_cm2 = False (currents in "
            "uA/cm2); this simulator expects mA/cm2: divide its current by 1000."
        )
    check_definition(channel)
