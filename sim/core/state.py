"""The typed pytrees the step works on: states, parameters, inputs.

All per-compartment arrays are in the compiled model's *internal* order (see
:mod:`sim.core.compiled`); mechanism states are packed over the compartments
where they exist. The user-facing dictionaries of the seed API
(``all_states``, ``all_params``) are converted to and from these types in
:mod:`sim.core.convert`, outside the time loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax

__all__ = ["SimState", "CableParams", "IonCable", "StepParams", "Drive", "StepInputs"]


def _pytree(cls):
    return jax.tree_util.register_dataclass(cls)


@_pytree
@dataclass(frozen=True)
class SimState:
    """Dynamic state of a model between two steps.

    Attributes:
        v: Compartment voltages (mV), ``(ncomp,)``. Branch points are algebraic
            and not part of the state.
        states: One packed array per mechanism state key
            (``CompiledModule.state_slots``).
        edge_states: One array per synapse state key (``CompiledModule.edge_state_keys``),
            over the edges of its synapse type.
    """

    v: jax.Array
    states: tuple[jax.Array, ...]
    edge_states: tuple[jax.Array, ...] = ()


@_pytree
@dataclass(frozen=True)
class CableParams:
    """Coefficients of the cable equation, fixed during a simulation.

    Attributes:
        cap: Membrane capacitance of each compartment (nA·ms/mV), ``(ncomp,)``.
        area: Area factor turning mA/cm² into nA (``area_µm² * 1e-2``), ``(ncomp,)``.
        g_axial: Axial conductance (µS) from every node to its parent, 0 for roots,
            ``(nnodes,)``.
        g_sum: Sum of the axial conductances at every node, ``(nnodes,)``.
    """

    cap: jax.Array
    area: jax.Array
    g_axial: jax.Array
    g_sum: jax.Array


@_pytree
@dataclass(frozen=True)
class IonCable:
    """Coefficients of the diffusion of one ion on the tree.

    Attributes:
        volume: Compartment volumes ``pi r^2 L`` (µm³), ``(ncomp,)``.
        g_axial: Diffusive conductance (µm³/ms) to the parent, ``(nnodes,)``.
        g_sum: Sum of the conductances at every node, ``(nnodes,)``.
    """

    volume: jax.Array
    g_axial: jax.Array
    g_sum: jax.Array


@_pytree
@dataclass(frozen=True)
class StepParams:
    """Everything the step reads that does not change during a simulation.

    Attributes:
        cable: Cable-equation coefficients.
        mechanisms: Per mechanism, its parameters (and the compartment geometry
            ``radius``/``length``/``area``/``capacitance``/``axial_resistivity``)
            at its compartments, keyed as the kernel expects.
        edges: Per synapse type, its parameters over its edges.
        edge_sites: Per synapse type, the parameters of its presynaptic terms per
            presynaptic compartment when those terms are shared by the edges of a
            compartment (:mod:`sim.core.sites`), else None (a static choice).
        ions: Per ion of ``CompiledModule.ions``, its diffusion cable (None if the
            ion is only pumped).
        transition: Exponential-Euler transition matrix (internal order), or
            ``None`` for the other schemes.
    """

    cable: CableParams
    mechanisms: tuple[dict[str, jax.Array], ...]
    edges: tuple[dict[str, jax.Array], ...] = ()
    edge_sites: tuple[dict[str, jax.Array] | None, ...] = ()
    ions: tuple[IonCable | None, ...] = ()
    transition: jax.Array | None = None


@_pytree
@dataclass(frozen=True)
class Drive:
    """Where inputs act (fixed during a simulation; traced, so changing them never retraces).

    Attributes:
        stim_pos: Internal compartment positions of the injected currents.
        v_clamp_pos: Internal compartment positions of voltage clamps.
        state_clamp_pos: Per clamped mechanism state (``state_clamp_slots``),
            positions within its packed array.
        state_clamp_slots: Slots of the clamped mechanism states (static).
    """

    stim_pos: jax.Array
    v_clamp_pos: jax.Array
    state_clamp_pos: tuple[jax.Array, ...]
    state_clamp_slots: tuple[int, ...] = field(metadata=dict(static=True), default=())


@_pytree
@dataclass(frozen=True)
class StepInputs:
    """Input values of one time step (matching a :class:`Drive`).

    Attributes:
        stim: Injected currents (nA), one per stimulus.
        v_clamp: Clamped voltages (mV), one per voltage clamp.
        state_clamp: Clamped values, one array per clamped state key.
    """

    stim: jax.Array
    v_clamp: jax.Array
    state_clamp: tuple[jax.Array, ...]
