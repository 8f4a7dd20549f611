"""Mechanism kernels and where they live in a compiled model.

A *kernel* is the user's object that holds the equations: a channel or pump
(``Channel`` interface, one instance per compartment it is inserted in) or a
synapse (``Synapse`` interface, one instance per edge of the network). The
protocols below are what the step relies on; :class:`sim.channels.Channel` and
:class:`sim.synapses.Synapse` are documented base classes implementing them,
but any object with these attributes and methods works (duck typing, as in
Jaxley).

A *mechanism entry* binds a kernel to its location in a compiled model: the
compartments (internal positions) of a compartment mechanism, or the edges
(pre/post compartments) of an edge mechanism, and the state keys it reads and
writes. Entries are built once by :func:`sim.core.compiled.compile_module`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import jax
import numpy as np

from sim.core.index import Index

if TYPE_CHECKING:  # sim.core.sites imports this module
    from sim.core.sites import PresynapticSites

__all__ = [
    "Location",
    "CompartmentKernel",
    "EdgeKernel",
    "PresynapticKernel",
    "CompartmentMechanism",
    "EdgeMechanism",
]

Arrays = Mapping[str, jax.Array]


class Location(enum.Enum):
    """Where a mechanism lives: in compartments (channels, pumps) or on edges (synapses)."""

    COMPARTMENT = "compartment"
    EDGE = "edge"


@runtime_checkable
class CompartmentKernel(Protocol):
    """A membrane mechanism (channel or pump): Jaxley's ``Channel`` interface.

    ``compute_current`` returns mA/cm² (outward positive); ``update_states``
    returns the new values of the states it advances. Both are called with
    arrays over all compartments the mechanism is inserted in.
    """

    name: str
    current_name: str
    channel_params: dict[str, float]
    channel_states: dict[str, float]

    def update_states(self, states: Arrays, dt: Any, v: jax.Array, params: Arrays) -> Any: ...

    def compute_current(self, states: Arrays, v: jax.Array, params: Arrays) -> Any: ...

    def init_state(self, states: Arrays, v: jax.Array, params: Arrays, delta_t: Any) -> Any: ...


@runtime_checkable
class EdgeKernel(Protocol):
    """A synapse: Jaxley's ``Synapse`` interface (point process: µS, nA)."""

    name: str
    synapse_params: dict[str, float]
    synapse_states: dict[str, float]

    def update_states(
        self,
        states: Arrays,
        delta_t: Any,
        pre_voltage: jax.Array,
        post_voltage: jax.Array,
        params: Arrays,
    ) -> Any: ...

    def compute_current(
        self, states: Arrays, pre_voltage: jax.Array, post_voltage: jax.Array, params: Arrays
    ) -> Any: ...


@runtime_checkable
class PresynapticKernel(Protocol):
    """A synapse whose state update factors through terms of the presynaptic side alone.

    ``update_states(states, dt, v_pre, v_post, params)`` must equal
    ``update_from_presynaptic(states, presynaptic_terms(dt, v_pre, params), dt,
    v_post, params)``, where ``presynaptic_terms`` reads only ``v_pre`` and the
    parameters named in ``presynaptic_params``. The step then evaluates the terms
    once per presynaptic compartment instead of once per edge (see
    :mod:`sim.core.sites`); optional, for speed only.
    """

    presynaptic_params: tuple[str, ...]

    def presynaptic_terms(
        self, delta_t: Any, pre_voltage: jax.Array, params: Arrays
    ) -> tuple[jax.Array, ...]: ...

    def update_from_presynaptic(
        self,
        states: Arrays,
        terms: tuple[jax.Array, ...],
        delta_t: Any,
        post_voltage: jax.Array,
        params: Arrays,
    ) -> Any: ...


@dataclass(frozen=True, eq=False)
class StateView:
    """How a mechanism sees one state key: the key's slot and positions within it."""

    key: str
    slot: int  # index into CompiledModule.state_slots
    index: Index  # positions, within the slot's packed array, of the mechanism's sites


@dataclass(frozen=True, eq=False)
class CompartmentMechanism:
    """A compartment kernel bound to its compartments.

    Attributes:
        kernel: The channel or pump object.
        index: Internal compartment positions (over ``ncomp``), in increasing order.
        comps: The same compartments as global compartment indices (user order).
        param_keys: Parameters the kernel declares (its own and shared ones).
        owned: Views of the states it declares (advanced by ``update_states``).
        visible: Views of every other state present at all of its compartments
            (read-only inputs, e.g. a shared concentration).
        current_slot: Index of ``kernel.current_name`` in ``current_names``.
        ion: For pumps, the view of the concentration they change (``ion_name``)
            and its position in ``CompiledModule.ions``; None for channels.
    """

    location: ClassVar[Location] = Location.COMPARTMENT
    kernel: CompartmentKernel
    index: Index
    comps: np.ndarray
    param_keys: tuple[str, ...]
    owned: tuple[StateView, ...]
    visible: tuple[StateView, ...]
    current_slot: int
    ion: tuple[StateView, int] | None = None

    @property
    def is_pump(self) -> bool:
        return self.ion is not None

    @property
    def name(self) -> str:
        return self.kernel.name


@dataclass(frozen=True, eq=False)
class IonSpec:
    """An ion concentration changed by pumps and/or diffused along the cable.

    Attributes:
        key: The state key (e.g. ``"CaCon_i"``).
        slot: Its position in ``CompiledModule.state_slots``.
        diffused: Whether ``module.diffuse(key)`` was called (it then exists in every
            compartment and is solved on the tree, with ``axial_diffusion_<key>``).
    """

    key: str
    slot: int
    diffused: bool


@dataclass(frozen=True, eq=False)
class EdgeMechanism:
    """An edge kernel bound to its edges.

    Attributes:
        kernel: The synapse object.
        edges: Global edge indices (rows of the edges table), in within-type order.
        pre: Internal compartment positions of the presynaptic sites.
        post: Internal compartment positions of the postsynaptic sites.
        param_keys / state_keys: The kernel's parameters and states (per edge).
        state_slots: Position of each state key in ``SimState.edge_states``.
        sites: The edges grouped by presynaptic compartment when the kernel's
            presynaptic terms can be shared (:mod:`sim.core.sites`), else None.
    """

    location: ClassVar[Location] = Location.EDGE
    kernel: EdgeKernel
    edges: np.ndarray
    pre: Index
    post: Index
    param_keys: tuple[str, ...]
    state_keys: tuple[str, ...]
    state_slots: tuple[int, ...]
    sites: PresynapticSites | None = None

    @property
    def current_name(self) -> str:
        return f"i_{self.kernel.name}"

    @property
    def name(self) -> str:
        return self.kernel.name
