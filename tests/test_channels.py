"""Channel base class, HH (vs. hh.mod and NEURON) and the Pospischil channels."""

import math
import re
import textwrap

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sim.channels import HH, CaL, CaT, Channel, K, Km, Leak, Na  # noqa: E402
from sim.channels.channel import validate_channel  # noqa: E402
from sim.channels.hh import vtrap  # noqa: E402
from sim.channels.pospischil import efun  # noqa: E402

ALL_CHANNELS = [HH, Na, K, Km, Leak, CaL, CaT]
GEOMETRY = {"radius": 1.0, "length": 10.0, "area": 62.83, "capacitance": 1.0}
VOLTAGES = [-100.0, -80.0, -65.0, -55.0, -40.0, -20.0, 0.0, 30.0]
# Voltages at (and next to) the removable singularities of x / (exp(x / y) - 1).
HH_SINGULAR = [-40.0, -55.0, -40.0 + 1e-7, -55.0 - 1e-7, -40.0 + 1e-3]


def _params(channel, n=1, **overrides):
    table = {**channel.channel_params, **GEOMETRY, **overrides}
    return {k: jnp.full((n,), float(x)) for k, x in table.items()}


def _states(channel, n=1, **overrides):
    table = {**channel.channel_states, **overrides}
    return {k: jnp.full((n,), float(x)) for k, x in table.items()}


def _fd(f, x, h=1e-4):
    return (f(x + h) - f(x - h)) / (2 * h)


# --------------------------------------------------------------------------------
# (a) HH against a plain transcription of NEURON's hh.mod and against NEURON.
# --------------------------------------------------------------------------------


def _np_vtrap(x, y):
    if abs(x / y) < 1e-6:
        return y * (1 - x / y / 2)
    return x / (math.exp(x / y) - 1)


def _np_hh_rates(v):
    """(alpha, beta) for m, h, n exactly as in hh.mod at celsius = 6.3."""
    return {
        "m": (0.1 * _np_vtrap(-(v + 40), 10), 4 * math.exp(-(v + 65) / 18)),
        "h": (0.07 * math.exp(-(v + 65) / 20), 1 / (math.exp(-(v + 35) / 10) + 1)),
        "n": (0.01 * _np_vtrap(-(v + 55), 10), 0.125 * math.exp(-(v + 65) / 80)),
    }


@pytest.mark.parametrize("v", VOLTAGES + HH_SINGULAR)
def test_hh_rates_match_hh_mod_transcription(v):
    ours = {"m": HH.m_gate(v), "h": HH.h_gate(v), "n": HH.n_gate(v)}
    for gate, (alpha, beta) in _np_hh_rates(v).items():
        # rel 1e-11: near the singularity hh.mod's exp(u) - 1 loses ~eps/|u|
        # digits, which our expm1 does not.
        assert float(ours[gate][0]) == pytest.approx(alpha, rel=1e-11, abs=1e-15)
        assert float(ours[gate][1]) == pytest.approx(beta, rel=1e-13, abs=1e-15)


@pytest.fixture(scope="module")
def neuron_hh():
    neuron = pytest.importorskip("neuron")
    h = neuron.h
    h.load_file("stdrun.hoc")
    sec = h.Section(name="hh_rates_probe")
    sec.insert("hh")
    seg = sec(0.5)
    h.setdata_hh(seg)
    # hh.mod tabulates its rates on a 1 mV grid and interpolates; compare against
    # the directly evaluated functions instead.
    h.usetable_hh = 0
    assert h.celsius == pytest.approx(6.3)

    def rates(v):
        h.rates_hh(v)
        mech = seg.hh
        return {g: (getattr(mech, f"{g}inf"), getattr(mech, f"{g}tau")) for g in "mhn"}

    rates.seg = seg
    return rates


@pytest.mark.neuron
@pytest.mark.parametrize("v", VOLTAGES + HH_SINGULAR)
def test_hh_steady_state_and_tau_match_neuron(neuron_hh, v):
    reference = neuron_hh(v)
    hh = HH()
    v_arr = jnp.asarray([v])
    steady = hh.init_state(_states(hh), v_arr, _params(hh), 0.025)
    for gate, (inf, tau) in reference.items():
        alpha, beta = getattr(HH, f"{gate}_gate")(v)
        assert float(steady[f"HH_{gate}"][0]) == pytest.approx(inf, rel=1e-10, abs=1e-12)
        assert float(1 / (alpha + beta)) == pytest.approx(tau, rel=1e-10, abs=1e-12)


@pytest.mark.neuron
def test_hh_defaults_match_neuron(neuron_hh):
    seg = neuron_hh.seg
    p = HH().channel_params
    assert p["HH_gNa"] == seg.hh.gnabar and p["HH_gK"] == seg.hh.gkbar
    assert p["HH_gLeak"] == seg.hh.gl and p["HH_eLeak"] == seg.hh.el
    assert p["HH_eNa"] == seg.ena and p["HH_eK"] == seg.ek


@pytest.mark.neuron
@pytest.mark.parametrize("v", [-65.0, -40.0, -55.0, 10.0])
def test_hh_update_is_neuron_cnexp(neuron_hh, v):
    """m += (1 - exp(-dt / mtau)) (minf - m), with NEURON's own minf and mtau."""
    reference, dt = neuron_hh(v), 0.025
    hh = HH()
    start = {"m": 0.05, "h": 0.6, "n": 0.32}
    states = _states(hh, **{f"HH_{g}": x for g, x in start.items()})
    new = hh.update_states(states, dt, jnp.asarray([v]), _params(hh))
    for gate, (inf, tau) in reference.items():
        expected = start[gate] + (1 - math.exp(-dt / tau)) * (inf - start[gate])
        assert float(new[f"HH_{gate}"][0]) == pytest.approx(expected, rel=1e-12)


def test_hh_current_formula_and_units():
    hh = HH()
    v, m, h, n = -30.0, 0.3, 0.4, 0.5
    states = _states(hh, HH_m=m, HH_h=h, HH_n=n)
    got = float(hh.compute_current(states, jnp.asarray([v]), _params(hh))[0])
    expected = 0.12 * m**3 * h * (v - 50) + 0.036 * n**4 * (v + 77) + 0.0003 * (v + 54.3)
    assert got == pytest.approx(expected, rel=1e-14)  # S/cm² * mV = mA/cm²


# --------------------------------------------------------------------------------
# (c) Singularities: finite values and gradients that match finite differences.
# --------------------------------------------------------------------------------


def test_vtrap_at_singularity_value_and_gradient():
    assert float(vtrap(0.0, 10.0)) == 10.0
    grad = jax.grad(vtrap)(0.0, 10.0)
    assert float(grad) == pytest.approx(-0.5, rel=1e-12)
    for x in [1e-7, -1e-7, 1e-3, -2.0, 5.0]:
        fd = _fd(lambda z: _np_vtrap(z, 10.0), x, h=1e-3)
        assert float(jax.grad(vtrap)(x, 10.0)) == pytest.approx(fd, rel=1e-6)
    # Gradient is continuous across the switch to the series expansion.
    inside, outside = jax.grad(vtrap)(0.9e-5, 10.0), jax.grad(vtrap)(1.1e-5, 10.0)
    assert float(inside) == pytest.approx(float(outside), rel=1e-6)


@pytest.mark.parametrize("v", HH_SINGULAR + [-65.0, 0.0])
def test_hh_current_gradient_finite_and_matches_fd(v):
    """d/dv of the HH current at the voltage's own steady state."""
    hh = HH()
    params = _params(hh)

    def current_at_rest(vv):
        v_arr = jnp.reshape(vv, (1,))
        states = hh.init_state(_states(hh), v_arr, params, 0.025)
        return hh.compute_current(states, v_arr, params)[0]

    grad = float(jax.grad(current_at_rest)(jnp.asarray(v)))
    assert np.isfinite(grad)
    fd = float(_fd(current_at_rest, jnp.asarray(v), h=1e-4))
    assert grad == pytest.approx(fd, rel=1e-6, abs=1e-12)


def test_hh_gradients_wrt_params_are_finite_at_singularity():
    hh = HH()
    v = jnp.asarray([-40.0])

    def loss(params):
        states = hh.update_states(_states(hh), 0.025, v, params)
        return jnp.sum(hh.compute_current(states, v, params))

    grads = jax.grad(loss)(_params(hh))
    assert all(np.all(np.isfinite(g)) for g in grads.values())


# --------------------------------------------------------------------------------
# (d) Pospischil channels vs. an independent transcription of the 2008 equations.
# --------------------------------------------------------------------------------


def _paper_rates(v, vt=-60.0, vx=2.0, taumax=4000.0):
    """Pospischil et al. (2008), appendix, written in the paper's form (ms, mV)."""
    a, b = v - vt - 13, v - vt - 40
    e = math.exp
    return {
        "Na_m": (-0.32 * a / (e(-a / 4) - 1), 0.28 * b / (e(b / 5) - 1)),
        "Na_h": (0.128 * e(-(v - vt - 17) / 18), 4 / (1 + e(-(v - vt - 40) / 5))),
        "K_n": (
            -0.032 * (v - vt - 15) / (e(-(v - vt - 15) / 5) - 1),
            0.5 * e(-(v - vt - 10) / 40),
        ),
        "CaL_q": (
            0.055 * (-27 - v) / (e((-27 - v) / 3.8) - 1),
            0.94 * e((-75 - v) / 17),
        ),
        "CaL_r": (0.000457 * e((-13 - v) / 50), 0.0065 / (e((-15 - v) / 28) + 1)),
        # (steady state, time constant) for the inf/tau gates
        "Km_p": (
            1 / (1 + e(-(v + 35) / 10)),
            taumax / (3.3 * e((v + 35) / 20) + e(-(v + 35) / 20)),
        ),
        "CaT_u": (
            1 / (1 + e((v + vx + 81) / 4)),
            (30.8 + 211.4 + e((v + vx + 113.2) / 5)) / (3.7 * (1 + e((v + vx + 84) / 3.2))),
        ),
    }


def _our_rates(v):
    return {
        "Na_m": Na.m_gate(v, -60.0),
        "Na_h": Na.h_gate(v, -60.0),
        "K_n": K.n_gate(v, -60.0),
        "CaL_q": CaL.q_gate(v),
        "CaL_r": CaL.r_gate(v),
        "Km_p": Km.p_gate(v, 4000.0),
        "CaT_u": CaT.u_gate(v, 2.0),
    }


@pytest.mark.parametrize("v", [-100.0, -83.0, -70.0, -52.3, -33.3, -23.0, -5.0, 25.0])
def test_pospischil_rates_match_paper(v):
    ours = _our_rates(v)
    for gate, pair in _paper_rates(v).items():
        if gate == "CaT_u" and v > -23.0:
            continue  # exponents above 20 are capped, see the next test
        for got, expected in zip(ours[gate], pair, strict=True):
            assert float(got) == pytest.approx(expected, rel=1e-12), gate


def test_cat_exponent_cap_like_jaxley():
    """Like Jaxley, every exp() is capped at exp(20) (save_exp). For CaT this bites
    above about -22 mV, where u_inf is ~0 anyway: tau_u then tends to 1/3.7 ms
    instead of the paper's vanishing value."""
    e20 = math.exp(20.0)
    u_inf, tau_u = CaT.u_gate(25.0, 2.0)
    assert float(u_inf) == pytest.approx(1 / (1 + e20), rel=1e-12)
    assert float(tau_u) == pytest.approx((242.2 + e20) / (3.7 * (1 + e20)), rel=1e-12)


@pytest.mark.parametrize(
    "fn, v, limit",
    [
        (lambda v: Na.m_gate(v, -60.0)[0], -47.0, 0.32 * 4),
        (lambda v: Na.m_gate(v, -60.0)[1], -20.0, 0.28 * 5),
        (lambda v: K.n_gate(v, -60.0)[0], -45.0, 0.032 * 5),
        (lambda v: CaL.q_gate(v)[0], -27.0, 0.055 * 3.8),
    ],
)
def test_pospischil_singularities_are_finite_and_smooth(fn, v, limit):
    assert float(fn(v)) == pytest.approx(limit, rel=1e-12)
    grad = float(jax.grad(fn)(v))
    assert np.isfinite(grad)
    assert grad == pytest.approx(float(_fd(fn, v, h=1e-3)), rel=1e-6)


def test_efun_limit():
    assert float(efun(0.0)) == 1.0
    assert float(jax.grad(efun)(0.0)) == pytest.approx(-0.5)
    assert float(efun(2.0)) == pytest.approx(2.0 / (math.exp(2.0) - 1.0))


@pytest.mark.parametrize("cls", ALL_CHANNELS)
def test_steady_states_in_unit_interval_and_fixed_points(cls):
    channel = cls()
    v = jnp.linspace(-120.0, 60.0, 361)
    n = v.shape[0]
    params = _params(channel, n)
    steady = channel.init_state(_states(channel, n), v, params, 0.025)
    assert set(steady) == set(channel.channel_states)
    for key, value in steady.items():
        assert np.all((value >= 0.0) & (value <= 1.0)), key
    # One exact step from the steady state stays there.
    after = channel.update_states({**_states(channel, n), **steady}, 0.025, v, params)
    for key, value in after.items():
        np.testing.assert_allclose(value, steady[key], rtol=1e-12, atol=1e-15)


def _rest_current(cls, v):
    channel = cls()
    v_arr = jnp.asarray([v])
    params = _params(channel)
    states = {**_states(channel), **channel.init_state({}, v_arr, params, 0.025)}
    return float(channel.compute_current(states, v_arr, params)[0])


@pytest.mark.parametrize("cls, sign", [(Na, -1), (K, 1), (Km, 1), (CaL, -1), (CaT, -1)])
def test_currents_have_documented_sign_at_rest(cls, sign):
    """Outward positive: K currents > 0, Na and Ca currents < 0 at -70 mV."""
    assert np.sign(_rest_current(cls, -70.0)) == sign


def test_leak_current_sign():
    assert _rest_current(Leak, -70.0) == 0.0
    assert _rest_current(Leak, -60.0) == pytest.approx(1e-4 * 10.0)
    assert _rest_current(Leak, -80.0) < 0.0


def test_jaxley_names_defaults_and_current_names():
    expected = {
        Leak: ({"Leak_gLeak": 1e-4, "Leak_eLeak": -70.0}, {}, "i_Leak"),
        Na: (
            {"Na_gNa": 0.05, "eNa": 50.0, "vt": -60.0},
            {"Na_m": 0.2, "Na_h": 0.2},
            "i_Na",
        ),
        K: ({"K_gK": 5e-3, "eK": -90.0, "vt": -60.0}, {"K_n": 0.2}, "i_K"),
        Km: ({"Km_gKm": 4e-6, "Km_taumax": 4000.0, "eK": -90.0}, {"Km_p": 0.2}, "i_K"),
        CaL: ({"CaL_gCaL": 1e-4, "eCa": 120.0}, {"CaL_q": 0.2, "CaL_r": 0.2}, "i_Ca"),
        CaT: ({"CaT_gCaT": 4e-5, "CaT_vx": 2.0, "eCa": 120.0}, {"CaT_u": 0.2}, "i_Ca"),
        HH: (
            {
                "HH_gNa": 0.12,
                "HH_gK": 0.036,
                "HH_gLeak": 0.0003,
                "HH_eNa": 50.0,
                "HH_eK": -77.0,
                "HH_eLeak": -54.3,
            },
            {"HH_m": 0.2, "HH_h": 0.2, "HH_n": 0.2},
            "i_HH",
        ),
    }
    for cls, (params, states, current_name) in expected.items():
        channel = cls()
        assert channel.name == cls.__name__
        assert channel.channel_params == pytest.approx(params)
        assert list(channel.channel_params) == list(params)
        assert channel.channel_states == pytest.approx(states)
        assert channel.current_name == current_name
        validate_channel(channel)


def test_channels_run_under_jit_and_vmap_shapes():
    v = jnp.linspace(-80.0, 20.0, 5)
    for cls in ALL_CHANNELS:
        channel = cls()
        params, states = _params(channel, 5), _states(channel, 5)
        step = jax.jit(lambda s, p, vv, c=channel: c.update_states(s, 0.025, vv, p))
        new = step(states, params, v)
        current = jax.jit(channel.compute_current)({**states, **new}, v, params)
        assert jnp.shape(current) == (5,)


# --------------------------------------------------------------------------------
# (e) Naming: prefixes, change_name, shared keys.
# --------------------------------------------------------------------------------

SHARED = {"eNa", "eK", "eCa", "vt"}


@pytest.mark.parametrize("cls", ALL_CHANNELS)
def test_keys_are_prefixed_or_shared(cls):
    channel = cls(name="Renamed")
    for key in [*channel.channel_params, *channel.channel_states]:
        assert key.startswith("Renamed_") or key in SHARED, key


def test_change_name_renames_prefixed_keys_only():
    na = Na()
    assert na.change_name("NaP") is na
    assert na.name == "NaP"
    assert set(na.channel_params) == {"NaP_gNa", "eNa", "vt"}
    assert set(na.channel_states) == {"NaP_m", "NaP_h"}
    assert na.current_name == "i_Na"
    # A key that merely begins with the same letters is not a prefix match.
    k = K().change_name("Kdr")
    assert set(k.channel_params) == {"Kdr_gK", "eK", "vt"}
    hh = HH().change_name("HH2").change_name("HH3")
    assert set(hh.channel_states) == {"HH3_m", "HH3_h", "HH3_n"}
    assert hh.channel_params["HH3_gNa"] == 0.12


def test_renamed_channel_uses_renamed_keys():
    hh = HH().change_name("NeuronHH")
    v = jnp.asarray([-65.0])
    params, states = _params(hh), _states(hh)
    new = hh.update_states(states, 0.025, v, params)
    assert set(new) == {"NeuronHH_m", "NeuronHH_h", "NeuronHH_n"}
    assert np.isfinite(float(hh.compute_current({**states, **new}, v, params)[0]))


def test_name_is_read_only_and_constructor_sets_it():
    k = K(name="KPospischil")
    assert k.name == "KPospischil" and "KPospischil_gK" in k.channel_params
    with pytest.raises(AttributeError):
        k.name = "Other"
    with pytest.raises(TypeError):
        K().change_name("")


def test_repr_shows_name_and_keys():
    text = repr(Km())
    assert text.startswith("Km(name='Km'") and "Km_taumax" in text and "i_K" in text


# --------------------------------------------------------------------------------
# Validation of user-defined channels.
# --------------------------------------------------------------------------------


class _Good(Channel):
    def __init__(self, name=None, params=None, states=None, current="i_Good"):
        self.current_is_in_mA_per_cm2 = True
        super().__init__(name)
        self.channel_params = {f"{self.name}_g": 1e-3} if params is None else params
        self.channel_states = {f"{self.name}_x": 0.1} if states is None else states
        self.current_name = current

    def update_states(self, states, dt, v, params):
        return {}

    def compute_current(self, states, v, params):
        return params[f"{self.name}_g"] * v


def test_validate_accepts_numpy_and_jax_scalars():
    validate_channel(_Good(params={"_Good_g": np.float32(1.0), "c": jnp.asarray(2.0)}))
    validate_channel(_Good(params={"_Good_g": 1}, states={}))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"params": {"_Good_g": "1.0"}}, TypeError, "must be a float"),
        ({"params": {"_Good_g": True}}, TypeError, "must be a float"),
        ({"params": {"_Good_g": [1.0]}}, TypeError, "must be a float"),
        ({"params": {"_Good_g": np.ones(2)}}, TypeError, "must be a float"),
        ({"params": {"_Good_g": float("nan")}}, ValueError, "NaN"),
        ({"params": {1: 1.0}}, TypeError, "keys must be non-empty str"),
        ({"current": None}, TypeError, "current_name must be a non-empty str"),
        ({"current": ""}, TypeError, "current_name must be a non-empty str"),
        ({"states": {"_Good_g": 0.0}}, ValueError, "both as parameter and as state"),
        ({"params": {"radius": 1.0}}, ValueError, "clash"),
        ({"states": {"i_Good": 0.0}}, ValueError, "clash"),
    ],
)
def test_validate_rejects_malformed_channels(kwargs, error, match):
    with pytest.raises(error, match=match):
        validate_channel(_Good(name="_Good", **kwargs))


def test_validate_rejects_non_dict_tables_and_missing_methods():
    bad = _Good()
    bad.channel_params = None
    with pytest.raises(TypeError, match="channel_params must be a dict"):
        validate_channel(bad)
    bad = _Good()
    bad.channel_states = [("x", 1.0)]
    with pytest.raises(TypeError, match="channel_states must be a dict"):
        validate_channel(bad)

    class NoCurrent(Channel):
        def __init__(self):
            super().__init__()
            self.channel_params, self.channel_states = {}, {}
            self.current_name = "i_X"

    with pytest.raises(TypeError, match="must implement compute_current"):
        validate_channel(NoCurrent())

    class NoUpdate(NoCurrent):
        def __init__(self):
            super().__init__()
            self.channel_states = {"NoUpdate_x": 0.0}

        def compute_current(self, states, v, params):
            return 0.0 * v

    with pytest.raises(TypeError, match="must implement update_states"):
        validate_channel(NoUpdate())
    with pytest.raises(NotImplementedError):
        NoUpdate().update_states({}, 0.025, jnp.zeros(1), {})


def test_validate_rejects_wrong_objects_and_forgotten_super():
    with pytest.raises(TypeError, match="insert an instance"):
        validate_channel(HH)
    with pytest.raises(TypeError, match="Expected a channel"):
        validate_channel("HH")

    class NoSuper(Channel):
        def __init__(self):
            self.channel_params, self.channel_states = {}, {}
            self.current_name = "i_NoSuper"

        def compute_current(self, states, v, params):
            return 0.0 * v

    with pytest.raises(TypeError, match=r"super\(\).__init__"):
        validate_channel(NoSuper())


def test_old_unit_flag_false_is_rejected():
    class MicroAmp(_Good):
        def __init__(self):
            self.current_is_in_mA_per_cm2 = False
            Channel.__init__(self)

    with pytest.raises(ValueError, match="mA/cm2"):
        MicroAmp()


def test_base_class_defaults():
    stateless = _Good(states={})
    assert Channel.update_states(stateless, {}, 0.025, jnp.zeros(1), {}) == {}
    assert stateless.init_state({}, jnp.zeros(1), {}, 0.025) == {}


# --------------------------------------------------------------------------------
# (f) The worked example in the Channel docstring runs and is correct.
# --------------------------------------------------------------------------------


def _docstring_example():
    blocks = re.findall(r"```python\n(.*?)```", Channel.__doc__, flags=re.S)
    assert len(blocks) == 1
    namespace = {}
    exec(textwrap.dedent(blocks[0]), namespace)  # noqa: S102
    return namespace["MyK"]


def test_docstring_example_channel_works():
    my_k = _docstring_example()()
    validate_channel(my_k)
    assert my_k.name == "MyK" and my_k.current_name == "i_K"
    v = jnp.asarray([-80.0, -65.0, -30.0])
    params = _params(my_k, 3)
    steady = my_k.init_state(_states(my_k, 3), v, params, 0.025)
    hh = HH()
    hh_steady = hh.init_state(_states(hh, 3), v, _params(hh, 3), 0.025)
    np.testing.assert_allclose(steady["MyK_n"], hh_steady["HH_n"], rtol=1e-13)
    states = {**_states(my_k, 3), **steady}
    new = my_k.update_states(states, 0.025, v, params)
    np.testing.assert_allclose(new["MyK_n"], steady["MyK_n"], rtol=1e-12)
    current = my_k.compute_current(states, v, params)
    np.testing.assert_allclose(current, 0.036 * steady["MyK_n"] ** 4 * (v + 77.0), rtol=1e-14)
    renamed = _docstring_example()().change_name("Kdr")
    assert set(renamed.channel_params) == {"Kdr_gK", "eK"}
