"""Bookkeeping of inserted mechanisms (channels, pumps) in the ``nodes`` table.

Each mechanism gets a boolean column named after it, and one column per parameter
and state (NaN in compartments without any mechanism that defines the key). Keys
not prefixed by the mechanism name (e.g. ``eK``, ``eCa``) are *shared*: several
mechanisms may define them and they hold one value per compartment.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from sim.channels.channel import validate_channel
from sim.modules.fields import ModuleFields
from sim.modules.parameters import MORPHOLOGY_PARAMS


class MechanismTableMixin(ModuleFields):
    """Methods of the base module that maintain mechanism columns in ``nodes``."""

    # ----------------------------------------------------------------- key tables
    def settable_keys(self) -> set[str]:
        keys = set(MORPHOLOGY_PARAMS) | {"v"} | set(self.diffusion_params())
        for ch in self._channels:
            keys |= set(ch.channel_params) | set(ch.channel_states)
        return keys

    @property
    def diffusion_states(self) -> list[str]:
        """States diffused along the cable (``diffuse``), in the order they were added."""
        return list(self.base._diffusion_states)

    def diffusion_params(self) -> list[str]:
        """The axial diffusion constant of each diffused state (µm²/ms, per compartment)."""
        return [f"axial_diffusion_{k}" for k in self.diffusion_states]

    @property
    def pumps(self) -> list:
        """Inserted mechanisms that change an ion concentration (``ion_name``)."""
        return [ch for ch in self.base._channels if getattr(ch, "ion_name", None)]

    @property
    def pumped_ions(self) -> list[str]:
        return list(dict.fromkeys(ch.ion_name for ch in self.pumps))

    @property
    def membrane_current_names(self) -> list[str]:
        """Current names of the channels (not pumps), as in Jaxley."""
        chans = [ch for ch in self.base._channels if not getattr(ch, "ion_name", None)]
        return list(dict.fromkeys(ch.current_name for ch in chans))

    def diffuse(self, state: str) -> None:
        """Diffuse ``state`` (e.g. ``"CaCon_i"``) along the whole module (Fick's law).

        The state is solved implicitly on the same tree as the voltage, with
        compartment volumes ``pi r^2 L`` as capacities and conductances from
        ``axial_diffusion_<state>`` (µm²/ms, default 1 in every compartment; set it
        like any parameter). Compartments where no mechanism declares the state
        get it with value 0.
        """
        from sim.modules.view import View

        if isinstance(self, View):
            raise TypeError("diffuse() acts on the whole module; call it on the module.")
        if not isinstance(state, str) or state == "v" or state not in self.state_keys():
            raise ValueError(
                f"Cannot diffuse {state!r}: it is not a mechanism state of this module "
                f"(states: {self.state_keys()[1:]}); insert the mechanism that defines it."
            )
        base = self.base
        if state not in self.diffusion_states:
            base._diffusion_states.append(state)
        base.nodes[f"axial_diffusion_{state}"] = 1.0
        base.nodes[state] = base.nodes[state].fillna(0.0)
        base._touch()

    def delete_diffusion(self, state: str) -> None:
        """Stop diffusing ``state``."""
        base = self.base
        if state not in self.diffusion_states:
            raise ValueError(f"{state!r} is not diffused; diffused: {self.diffusion_states}.")
        base._diffusion_states.remove(state)
        base.nodes = base.nodes.drop(columns=[f"axial_diffusion_{state}"])
        base._touch()

    def state_keys(self) -> list[str]:
        keys = ["v"]
        for ch in self._channels:
            keys += [k for k in ch.channel_states if k not in keys]
        return keys

    def param_keys(self) -> list[str]:
        keys = list(MORPHOLOGY_PARAMS) + self.diffusion_params()
        for ch in self._channels:
            keys += [k for k in ch.channel_params if k not in keys]
        return keys

    def current_names(self) -> list[str]:
        return list(dict.fromkeys(ch.current_name for ch in self._channels))

    def key_owners(self, key: str) -> list[str]:
        return [
            ch.name
            for ch in self._channels
            if key in ch.channel_params or key in ch.channel_states or key == ch.current_name
        ]

    def key_bounds(self, key: str) -> tuple[float, float] | None:
        """The valid range of a parameter or state declared by its mechanisms (or None).

        Geometry must be > 0 (checked separately); channels and synapses declare
        ranges in ``param_bounds`` / ``state_bounds``. Several owners: intersection.
        """
        if key in self.diffusion_params():
            return (0.0, math.inf)
        low, high, found = -math.inf, math.inf, False
        for mech in [*self._channels, *self._synapses]:
            for table in (getattr(mech, "param_bounds", None), getattr(mech, "state_bounds", None)):
                if table and key in table:
                    low, high = max(low, float(table[key][0])), min(high, float(table[key][1]))
                    found = True
        return (low, high) if found else None

    def key_present(self, key: str, sel: np.ndarray) -> np.ndarray:
        """Mask over `sel`: does `key` exist in these compartments?"""
        if key in MORPHOLOGY_PARAMS or key == "v" or key in self.diffusion_states:
            return np.ones(len(sel), dtype=bool)
        if key in self.diffusion_params():
            return np.ones(len(sel), dtype=bool)
        mask = np.zeros(len(sel), dtype=bool)
        for name in self.key_owners(key):
            mask |= self.nodes.loc[sel, name].to_numpy(dtype=bool)
        return mask

    def check_is_state(self, key: str) -> None:
        if key not in self.state_keys():
            raise ValueError(
                f"{key!r} is a parameter, not a state; only states can be clamped "
                f"({self.state_keys()})."
            )

    def recordable_comps(self, state: str, sel: np.ndarray) -> np.ndarray:
        valid = self.state_keys() + self.current_names()
        valid += self.synapse_state_names + self.synapse_current_names
        if not isinstance(state, str) or state not in valid:
            raise ValueError(f"Cannot record {state!r}; recordable here: {valid}.")
        present = self.key_present(state, sel)
        if not present.any():
            raise ValueError(
                f"{state!r} does not exist in the selected compartments; insert "
                f"{self.key_owners(state)} there first."
            )
        return sel[present]

    # ----------------------------------------------------------------- insert / delete
    def insert_mechanism(self, channel, sel: np.ndarray) -> None:
        validate_channel(channel)
        existing = {ch.name: ch for ch in self._channels}
        if channel.name in existing and type(existing[channel.name]) is not type(channel):
            raise ValueError(
                f"A different mechanism named {channel.name!r} is already inserted; "
                "rename one of them with change_name()."
            )
        nodes = self.nodes
        if channel.name not in existing:
            self._channels.append(channel)
            nodes[channel.name] = False
        newly = sel[~nodes.loc[sel, channel.name].to_numpy(dtype=bool)]
        nodes.loc[sel, channel.name] = True
        table = {**channel.channel_params, **channel.channel_states}
        for key, default in table.items():
            if key not in nodes:
                nodes[key] = np.nan
            unset = newly[np.isnan(nodes.loc[newly, key].to_numpy(dtype=float))]
            nodes.loc[unset, key] = float(default)
        self._touch()

    def delete_mechanism(self, channel, sel: np.ndarray) -> None:
        name = channel if isinstance(channel, str) else getattr(channel, "name", None)
        names = [ch.name for ch in self._channels]
        if name not in names:
            raise ValueError(f"Mechanism {name!r} is not inserted; inserted: {names}.")
        ch = self._channels[names.index(name)]
        nodes = self.nodes
        nodes.loc[sel, name] = False
        for key in {**ch.channel_params, **ch.channel_states}:
            still_used = self.key_present(key, sel)
            nodes.loc[sel[~still_used], key] = np.nan
        if not nodes[name].any():
            self._channels.remove(ch)
            others = self.settable_keys()
            drop = [k for k in {**ch.channel_params, **ch.channel_states} if k not in others]
            self.nodes = nodes.drop(columns=[name, *drop])
        self._touch()

    # ----------------------------------------------------------------- initialisation
    def _mechanism_inputs(self, ch, comps: np.ndarray):
        nodes = self.nodes.loc[comps]
        states = {k: jnp.asarray(nodes[k].to_numpy(dtype=float)) for k in self.state_keys()}
        params = {k: jnp.asarray(nodes[k].to_numpy(dtype=float)) for k in self.param_keys()}
        params["area"] = (
            2
            * np.pi
            * params["radius"]
            * params["length"]
            * jnp.asarray(nodes["area_factor"].to_numpy(dtype=float))
        )
        return states, params

    def init_mechanism_states(self, sel: np.ndarray, delta_t: float) -> None:
        for ch in self._channels:
            comps = sel[self.nodes.loc[sel, ch.name].to_numpy(dtype=bool)]
            if len(comps) == 0:
                continue
            states, params = self._mechanism_inputs(ch, comps)
            new = ch.init_state(states, states["v"], params, delta_t) or {}
            for key, val in new.items():
                self.nodes.loc[comps, key] = np.asarray(val, dtype=float)
        self._touch()

    def init_mechanism_params(self, sel: np.ndarray) -> None:
        for ch in self._channels:
            if not hasattr(ch, "init_params"):
                continue
            comps = sel[self.nodes.loc[sel, ch.name].to_numpy(dtype=bool)]
            if len(comps) == 0:
                continue
            states, params = self._mechanism_inputs(ch, comps)
            new = ch.init_params(states, params) or {}
            for key, val in new.items():
                self.nodes.loc[comps, key] = np.asarray(val, dtype=float)
        self._touch()
