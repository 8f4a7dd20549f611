"""Channels of Pospischil et al. (2008), Biol. Cybern. 99:427-441.

Minimal Hodgkin-Huxley-type models of cortical and thalamic neurons: a fast sodium
current (:class:`Na`), a delayed-rectifier potassium current (:class:`K`), a slow
non-inactivating potassium current (:class:`Km`), L- and T-type calcium currents
(:class:`CaL`, :class:`CaT`) and a leak (:class:`Leak`). Names, defaults and units
follow Jaxley's ``jaxley.channels.pospischil``; conductances are in S/cm²,
potentials in mV, rates in 1/ms, currents in mA/cm².

Shared (unprefixed) keys: ``eNa`` (Na), ``eK`` (K and Km), ``eCa`` (CaL and CaT)
and the spike threshold ``vt`` (Na and K). Channels inserted into the same
compartment that declare one of these keys use one common value.
"""

import math

from sim.channels.channel import Channel
from sim.channels.hh import vtrap
from sim.solver_gate import (
    save_exp,
    solve_gate_exponential,
    solve_inf_gate_exponential,
)

__all__ = ["Leak", "Na", "K", "Km", "CaL", "CaT", "efun"]


def efun(x):
    """``x / (exp(x) - 1)``, equal to 1 (with slope -1/2) at ``x = 0``.

    Finite and differentiable everywhere, including the removable singularity.
    """
    return vtrap(x, 1.0)


def _steady(alpha, beta):
    return alpha / (alpha + beta)


class Leak(Channel):
    """Passive leak, ``gLeak (v - eLeak)``.

    Parameters: ``Leak_gLeak`` 1e-4 S/cm², ``Leak_eLeak`` -70 mV. No states.
    Current name: ``i_Leak`` (``i_<name>``, fixed at construction).
    """

    def __init__(self, name: str | None = None):
        self.current_is_in_mA_per_cm2 = True
        super().__init__(name)
        p = self._name
        self.channel_params = {f"{p}_gLeak": 1e-4, f"{p}_eLeak": -70.0}
        self.channel_states = {}
        self.current_name = f"i_{p}"
        self.param_bounds = {f"{p}_gLeak": (0.0, math.inf)}

    def update_states(self, states, dt, v, params):
        """Stateless: returns ``{}``."""
        return {}

    def compute_current(self, states, v, params):
        """Leak current in mA/cm²."""
        p = self._name
        return params[f"{p}_gLeak"] * (v - params[f"{p}_eLeak"])

    def init_state(self, states, v, params, delta_t):
        """Stateless: returns ``{}``."""
        return {}


class Na(Channel):
    """Fast sodium current ``gNa m³ h (v - eNa)``; rates shifted by threshold ``vt``.

    Parameters: ``Na_gNa`` 0.05 S/cm², shared ``eNa`` 50 mV and ``vt`` -60 mV.
    States: ``Na_m``, ``Na_h`` (0.2). Current name: ``i_Na``.
    """

    def __init__(self, name: str | None = None):
        self.current_is_in_mA_per_cm2 = True
        super().__init__(name)
        p = self._name
        self.channel_params = {f"{p}_gNa": 50e-3, "eNa": 50.0, "vt": -60.0}
        self.channel_states = {f"{p}_m": 0.2, f"{p}_h": 0.2}
        self.current_name = "i_Na"
        self.param_bounds = {f"{p}_gNa": (0.0, math.inf)}
        self.state_bounds = {f"{p}_m": (0.0, 1.0), f"{p}_h": (0.0, 1.0)}

    def update_states(self, states, dt, v, params):
        """Exact exponential update of ``m`` and ``h``."""
        p, vt = self._name, params["vt"]
        m = solve_gate_exponential(states[f"{p}_m"], dt, *self.m_gate(v, vt))
        h = solve_gate_exponential(states[f"{p}_h"], dt, *self.h_gate(v, vt))
        return {f"{p}_m": m, f"{p}_h": h}

    def compute_current(self, states, v, params):
        """Sodium current in mA/cm² (inward, i.e. negative, below ``eNa``)."""
        p = self._name
        g = params[f"{p}_gNa"] * states[f"{p}_m"] ** 3 * states[f"{p}_h"]
        return g * (v - params["eNa"])

    def init_state(self, states, v, params, delta_t):
        """Steady state of ``m`` and ``h`` at ``v``."""
        p, vt = self._name, params["vt"]
        return {
            f"{p}_m": _steady(*self.m_gate(v, vt)),
            f"{p}_h": _steady(*self.h_gate(v, vt)),
        }

    @staticmethod
    def m_gate(v, vt):
        """Rates (1/ms) of the activation gate ``m``."""
        v_alpha = v - vt - 13.0
        alpha = 0.32 * efun(-0.25 * v_alpha) / 0.25
        v_beta = v - vt - 40.0
        beta = 0.28 * efun(0.2 * v_beta) / 0.2
        return alpha, beta

    @staticmethod
    def h_gate(v, vt):
        """Rates (1/ms) of the inactivation gate ``h``."""
        alpha = 0.128 * save_exp(-(v - vt - 17.0) / 18.0)
        beta = 4.0 / (save_exp(-(v - vt - 40.0) / 5.0) + 1.0)
        return alpha, beta


class K(Channel):
    """Delayed-rectifier potassium current ``gK n⁴ (v - eK)``.

    Parameters: ``K_gK`` 5e-3 S/cm², shared ``eK`` -90 mV and ``vt`` -60 mV.
    State: ``K_n`` (0.2). Current name: ``i_K``.
    """

    def __init__(self, name: str | None = None):
        self.current_is_in_mA_per_cm2 = True
        super().__init__(name)
        p = self._name
        self.channel_params = {f"{p}_gK": 5e-3, "eK": -90.0, "vt": -60.0}
        self.channel_states = {f"{p}_n": 0.2}
        self.current_name = "i_K"
        self.param_bounds = {f"{p}_gK": (0.0, math.inf)}
        self.state_bounds = {f"{p}_n": (0.0, 1.0)}

    def update_states(self, states, dt, v, params):
        """Exact exponential update of ``n``."""
        p = self._name
        n = solve_gate_exponential(states[f"{p}_n"], dt, *self.n_gate(v, params["vt"]))
        return {f"{p}_n": n}

    def compute_current(self, states, v, params):
        """Potassium current in mA/cm²."""
        p = self._name
        return params[f"{p}_gK"] * states[f"{p}_n"] ** 4 * (v - params["eK"])

    def init_state(self, states, v, params, delta_t):
        """Steady state of ``n`` at ``v``."""
        return {f"{self._name}_n": _steady(*self.n_gate(v, params["vt"]))}

    @staticmethod
    def n_gate(v, vt):
        """Rates (1/ms) of the activation gate ``n``."""
        v_alpha = v - vt - 15.0
        alpha = 0.032 * efun(-0.2 * v_alpha) / 0.2
        beta = 0.5 * save_exp(-(v - vt - 10.0) / 40.0)
        return alpha, beta


class Km(Channel):
    """Slow non-inactivating (M-type) potassium current ``gKm p (v - eK)``.

    Parameters: ``Km_gKm`` 4e-6 S/cm², ``Km_taumax`` 4000 ms, shared ``eK`` -90 mV.
    State: ``Km_p`` (0.2). Current name: ``i_K`` (shared with :class:`K`).
    """

    def __init__(self, name: str | None = None):
        self.current_is_in_mA_per_cm2 = True
        super().__init__(name)
        p = self._name
        self.channel_params = {f"{p}_gKm": 0.004e-3, f"{p}_taumax": 4000.0, "eK": -90.0}
        self.channel_states = {f"{p}_p": 0.2}
        self.current_name = "i_K"
        self.param_bounds = {f"{p}_gKm": (0.0, math.inf), f"{p}_taumax": (0.0, math.inf)}
        self.state_bounds = {f"{p}_p": (0.0, 1.0)}

    def update_states(self, states, dt, v, params):
        """Exact exponential update of ``p``."""
        p = self._name
        p_inf, tau_p = self.p_gate(v, params[f"{p}_taumax"])
        new_p = solve_inf_gate_exponential(states[f"{p}_p"], dt, p_inf, tau_p)
        return {f"{p}_p": new_p}

    def compute_current(self, states, v, params):
        """M-current in mA/cm²."""
        p = self._name
        return params[f"{p}_gKm"] * states[f"{p}_p"] * (v - params["eK"])

    def init_state(self, states, v, params, delta_t):
        """Steady state ``p_inf(v)``.

        Note: Jaxley returns ``p_inf / (p_inf + tau_p)`` here, which is not a fixed
        point of the gate dynamics; this implementation returns the fixed point.
        """
        p_inf, _ = self.p_gate(v, params[f"{self._name}_taumax"])
        return {f"{self._name}_p": p_inf}

    @staticmethod
    def p_gate(v, taumax):
        """Steady state and time constant (ms) of the gate ``p``."""
        v_p = v + 35.0
        p_inf = 1.0 / (1.0 + save_exp(-0.1 * v_p))
        tau_p = taumax / (3.3 * save_exp(0.05 * v_p) + save_exp(-0.05 * v_p))
        return p_inf, tau_p


class CaL(Channel):
    """High-threshold L-type calcium current ``gCaL q² r (v - eCa)``.

    Parameters: ``CaL_gCaL`` 1e-4 S/cm², shared ``eCa`` 120 mV. States: ``CaL_q``,
    ``CaL_r`` (0.2). Current name: ``i_Ca``.
    """

    def __init__(self, name: str | None = None):
        self.current_is_in_mA_per_cm2 = True
        super().__init__(name)
        p = self._name
        self.channel_params = {f"{p}_gCaL": 0.1e-3, "eCa": 120.0}
        self.channel_states = {f"{p}_q": 0.2, f"{p}_r": 0.2}
        self.current_name = "i_Ca"
        self.param_bounds = {f"{p}_gCaL": (0.0, math.inf)}
        self.state_bounds = {f"{p}_q": (0.0, 1.0), f"{p}_r": (0.0, 1.0)}

    def update_states(self, states, dt, v, params):
        """Exact exponential update of ``q`` and ``r``."""
        p = self._name
        q = solve_gate_exponential(states[f"{p}_q"], dt, *self.q_gate(v))
        r = solve_gate_exponential(states[f"{p}_r"], dt, *self.r_gate(v))
        return {f"{p}_q": q, f"{p}_r": r}

    def compute_current(self, states, v, params):
        """L-type calcium current in mA/cm²."""
        p = self._name
        g = params[f"{p}_gCaL"] * states[f"{p}_q"] ** 2 * states[f"{p}_r"]
        return g * (v - params["eCa"])

    def init_state(self, states, v, params, delta_t):
        """Steady state of ``q`` and ``r`` at ``v``."""
        p = self._name
        return {f"{p}_q": _steady(*self.q_gate(v)), f"{p}_r": _steady(*self.r_gate(v))}

    @staticmethod
    def q_gate(v):
        """Rates (1/ms) of the activation gate ``q``."""
        alpha = 0.055 * efun((-v - 27.0) / 3.8) * 3.8
        beta = 0.94 * save_exp((-v - 75.0) / 17.0)
        return alpha, beta

    @staticmethod
    def r_gate(v):
        """Rates (1/ms) of the inactivation gate ``r``."""
        alpha = 0.000457 * save_exp((-v - 13.0) / 50.0)
        beta = 0.0065 / (save_exp((-v - 15.0) / 28.0) + 1.0)
        return alpha, beta


class CaT(Channel):
    """Low-threshold T-type calcium current ``gCaT s_inf(v)² u (v - eCa)``.

    Activation ``s`` is instantaneous; inactivation ``u`` has a voltage-dependent
    time constant. ``vx`` shifts both along the voltage axis.

    Parameters: ``CaT_gCaT`` 4e-5 S/cm², ``CaT_vx`` 2 mV, shared ``eCa`` 120 mV.
    State: ``CaT_u`` (0.2). Current name: ``i_Ca`` (shared with :class:`CaL`).
    """

    def __init__(self, name: str | None = None):
        self.current_is_in_mA_per_cm2 = True
        super().__init__(name)
        p = self._name
        self.channel_params = {f"{p}_gCaT": 0.4e-4, f"{p}_vx": 2.0, "eCa": 120.0}
        self.channel_states = {f"{p}_u": 0.2}
        self.current_name = "i_Ca"
        self.param_bounds = {f"{p}_gCaT": (0.0, math.inf)}
        self.state_bounds = {f"{p}_u": (0.0, 1.0)}

    def update_states(self, states, dt, v, params):
        """Exact exponential update of ``u``."""
        p = self._name
        u_inf, tau_u = self.u_gate(v, params[f"{p}_vx"])
        new_u = solve_inf_gate_exponential(states[f"{p}_u"], dt, u_inf, tau_u)
        return {f"{p}_u": new_u}

    def compute_current(self, states, v, params):
        """T-type calcium current in mA/cm²."""
        p = self._name
        s_inf = 1.0 / (1.0 + save_exp(-(v + params[f"{p}_vx"] + 57.0) / 6.2))
        g = params[f"{p}_gCaT"] * s_inf**2 * states[f"{p}_u"]
        return g * (v - params["eCa"])

    def init_state(self, states, v, params, delta_t):
        """Steady state ``u_inf(v)``.

        Note: Jaxley returns ``u_inf / (u_inf + tau_u)`` here, which is not a fixed
        point of the gate dynamics; this implementation returns the fixed point.
        """
        u_inf, _ = self.u_gate(v, params[f"{self._name}_vx"])
        return {f"{self._name}_u": u_inf}

    @staticmethod
    def u_gate(v, vx):
        """Steady state and time constant (ms) of the inactivation gate ``u``.

        ``tau_u`` is written as printed in Pospischil et al. (2008) and as in
        Jaxley: ``(30.8 + 211.4 + exp((v+vx+113.2)/5)) / (3.7 (1 +
        exp((v+vx+84)/3.2)))``.
        """
        u_inf = 1.0 / (1.0 + save_exp((v + vx + 81.0) / 4.0))
        tau_u = (30.8 + (211.4 + save_exp((v + vx + 113.2) / 5.0))) / (
            3.7 * (1.0 + save_exp((v + vx + 84.0) / 3.2))
        )
        return u_inf, tau_u
