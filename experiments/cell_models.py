"""Cell models shared by the fitting CLIs (``fit_conductances --model``, ``allen_study``).

Every model is a table of priors, ``site -> (key, where, family, loc, scale)``: the
posterior variable ``site`` sets the ``data_set`` key ``key`` on the group ``where``
(None: the whole cell). ``family`` is ``"lognormal"`` (``loc`` = median, ``scale`` =
log-sd) or ``"normal"`` (``loc`` = mean, ``scale`` = sd), in the key's units.

``--model hh`` (default): one compartment (radius 1 µm, length 10 µm) with
``sim.channels.HH``; gNa, gK, gLeak LogNormal with medians 0.12, 0.036, 3e-4 S/cm² and
log-sd 0.7 (95% prior interval ×/÷ 4).

``--model pospischil``: one soma-sized cylinder (radius 35 µm, length 70 µm, side area
1.54e-4 cm²) with ``Na``, ``K``, ``Km``, ``Leak`` (Pospischil et al. 2008); priors
:data:`POSPISCHIL_PRIORS`: the four conductances (S/cm²), Km's ``taumax`` (ms), the
leak reversal ``Leak_eLeak`` (mV), the spike-threshold shift ``vt`` (mV) of Na and K,
and the specific ``capacitance`` (µF/cm²), which in one compartment is a membrane-area
scale (total capacitance = capacitance × 154 pF). Every simulation starts at the
model's own resting state (:func:`resting_state`).

``--model swc:PATH``: the SWC morphology (``sim.read_swc``, one compartment per
branch) with ``HH`` everywhere; per-group conductances (:data:`SWC_PRIORS`) for the
groups ``soma``, ``dendrite`` (basal + apical) and ``axon`` the morphology has; the
stimulus is injected and the voltage recorded at the soma (else branch 0).

``--priors FILE.json`` overrides entries: ``{"site": ["lognormal", median, log_sd]}``
(or ``["normal", mean, sd]``); unknown sites are an error.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from inference.fit_plots import param_unit

PRIOR_LOG_SD = 0.7
HH_PRIOR_MEDIANS = {"HH_gNa": 0.12, "HH_gK": 0.036, "HH_gLeak": 3e-4}
HH_PRIORS = {k: (k, None, "lognormal", m, PRIOR_LOG_SD) for k, m in HH_PRIOR_MEDIANS.items()}

POSPISCHIL_PRIORS = {
    "Na_gNa": ("Na_gNa", None, "lognormal", 0.05, 1.0),  # S/cm²; Pospischil default
    "K_gK": ("K_gK", None, "lognormal", 5e-3, 1.0),
    "Km_gKm": ("Km_gKm", None, "lognormal", 7e-5, 1.0),  # cortical fits (Gonçalves 2020)
    "Km_taumax": ("Km_taumax", None, "lognormal", 1000.0, 0.8),  # ms; 95% 210-4800 ms
    "Leak_gLeak": ("Leak_gLeak", None, "lognormal", 5e-5, 1.0),  # R_in ~ 130 MΩ at median
    "Leak_eLeak": ("Leak_eLeak", None, "normal", -70.0, 10.0),  # mV
    "vt": ("vt", None, "normal", -60.0, 8.0),  # mV, spike-threshold shift of Na and K
    "capacitance": ("capacitance", None, "lognormal", 1.0, 0.7),  # µF/cm² (area scale)
}

_SWC_GROUP_MEDIANS = {  # S/cm²: HH soma, a weakly active dendrite, a strongly active axon
    "soma": {"HH_gNa": 0.12, "HH_gK": 0.036, "HH_gLeak": 3e-4},
    "dendrite": {"HH_gNa": 0.012, "HH_gK": 0.0036, "HH_gLeak": 3e-4},
    "axon": {"HH_gNa": 0.24, "HH_gK": 0.036, "HH_gLeak": 3e-4},
}
SWC_PRIORS = {
    f"{key}_{group}": (key, group, "lognormal", median, PRIOR_LOG_SD)
    for group, table in _SWC_GROUP_MEDIANS.items()
    for key, median in table.items()
}


def parse_model(text: str) -> tuple[str, Path | None]:
    """``"hh"`` / ``"pospischil"`` / ``"swc:PATH"`` -> (kind, path); ValueError otherwise."""
    if text in ("hh", "pospischil"):
        return text, None
    if text.startswith("swc:"):
        path = Path(text[4:])
        if not path.is_file():
            raise ValueError(f"--model swc:{path}: no such SWC file")
        return "swc", path
    raise ValueError(f"--model must be hh, pospischil or swc:PATH, got {text!r}")


def default_priors(kind: str) -> dict:
    return {"hh": HH_PRIORS, "pospischil": POSPISCHIL_PRIORS, "swc": SWC_PRIORS}[kind]


def load_prior_overrides(path: Path | None, table: dict) -> dict:
    """`table` with the entries of the JSON file `path` replaced; ValueError if malformed."""
    if path is None:
        return dict(table)
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"--priors {path}: not a readable JSON file ({err})") from err
    if not isinstance(raw, dict):
        raise ValueError(f"--priors {path}: expected an object site -> [family, loc, scale]")
    out = dict(table)
    for site, spec in raw.items():
        if site not in table:
            raise ValueError(f"--priors {path}: unknown site {site!r}; sites: {sorted(table)}")
        ok = isinstance(spec, list) and len(spec) == 3 and spec[0] in ("lognormal", "normal")
        if not ok or not all(isinstance(x, (int, float)) for x in spec[1:]):
            raise ValueError(f"--priors {path}: {site!r} needs [family, loc, scale], got {spec!r}")
        if spec[2] <= 0 or (spec[0] == "lognormal" and spec[1] <= 0):
            raise ValueError(f"--priors {path}: {site!r} needs scale > 0 (and median > 0)")
        key, where = table[site][:2]
        out[site] = (key, where, spec[0], float(spec[1]), float(spec[2]))
    return out


def build_params(table: dict, groups=None) -> list:
    """``Param`` objects of a prior table (entries whose group the cell lacks are dropped)."""
    import numpyro.distributions as dist

    from inference.priors import Param

    make = {"lognormal": lambda m, s: dist.LogNormal(float(np.log(m)), s), "normal": dist.Normal}
    return [
        Param(key, make[fam](loc, scale), where=where, site=site)
        for site, (key, where, fam, loc, scale) in table.items()
        if where is None or groups is None or where in groups
    ]


def _steady_current(v, p):
    """Membrane current (mA/cm²) at `v` with every gate at its steady state."""
    from sim.channels import K, Km, Na

    ss = lambda rates: rates[0] / (rates[0] + rates[1])  # noqa: E731
    m, h, n = ss(Na.m_gate(v, p["vt"])), ss(Na.h_gate(v, p["vt"])), ss(K.n_gate(v, p["vt"]))
    p_inf = Km.p_gate(v, p["Km_taumax"])[0]
    return (
        p["Na_gNa"] * m**3 * h * (v - p["eNa"])
        + (p["K_gK"] * n**4 + p["Km_gKm"] * p_inf) * (v - p["eK"])
        + p["Leak_gLeak"] * (v - p["Leak_eLeak"])
    )


def resting_state(p: dict, lo: float = -120.0, hi: float = -30.0) -> dict:
    """Resting v (mV) of the Pospischil compartment and its gates at steady state.

    v is the (stable) root of the steady-state I-V curve in [lo, hi] by bisection (``hi``
    if there is none: the cell is depolarised); one implicit-function correction makes
    it differentiable in `p` (same value, gradient ``-dI/dp / dI/dv``).
    """
    import jax
    import jax.numpy as jnp

    from sim.channels import K, Km, Na

    def body(_, bounds):
        a, b = bounds
        mid = 0.5 * (a + b)
        outward = _steady_current(mid, p) > 0
        return jnp.where(outward, a, mid), jnp.where(outward, mid, b)

    a, b = jax.lax.fori_loop(0, 60, body, (jnp.asarray(lo), jnp.asarray(hi)))
    v0 = jax.lax.stop_gradient(0.5 * (a + b))
    current = _steady_current(v0, p)
    slope = jax.lax.stop_gradient(jax.grad(lambda v: _steady_current(v, p))(v0))
    slope = jnp.where(slope > 1e-9, slope, jnp.inf)  # no correction off a stable root
    v0 = v0 - (current - jax.lax.stop_gradient(current)) / slope
    states = {"v": v0}
    for ch in (Na(), K(), Km()):
        states.update(ch.init_state({}, v0, p, 0.025))
    return states


def pospischil_fixed(cell) -> dict:
    """The compartment's values of the non-inferred keys :func:`resting_state` needs."""
    node = cell.nodes.iloc[0]
    return {k: float(node[k]) for k in ("eNa", "eK", "Km_taumax", "capacitance")}


def _make_resting_forward():
    from inference.model import ForwardModel

    class RestingForwardModel(ForwardModel):
        """A Pospischil compartment that starts every simulation at its resting state."""

        def __init__(self, module, params, **kw):
            super().__init__(module, params, **kw)
            self.fixed = pospischil_fixed(module)

        def param_state(self, theta):
            pstate = super().param_state(theta)
            p = {**self.fixed, **{r.param.key: theta[r.param.name] for r in self.resolved}}
            for key, value in resting_state(p).items():
                pstate = self.module.data_set(key, value, pstate)
            return pstate

    return RestingForwardModel


def _stimulated(cell, recording, site=None):
    """Record v and inject the recording's current at `site` (default: the cell)."""
    where = cell if site is None else site
    where.record("v", verbose=False)
    # v has N samples; the N-1 steps between them use i[0..N-2] (see datasets.Recording).
    where.stimulate(np.asarray(recording.i_nA[:-1]), verbose=False)
    return cell


def _swc_cell(path: Path):
    import sim as jx
    from sim.channels import HH

    cell = jx.read_swc(path, ncomp=1)
    cell.insert(HH())
    dend = [g for g in ("basal", "apical") if g in cell.group_names]
    for g in dend:
        getattr(cell, g).add_to_group("dendrite")
    cell.init_states()
    site = cell.soma.branch(0).comp(0) if "soma" in cell.group_names else cell.branch(0).comp(0)
    return cell, site


def build_forward(kind: str, recording, table: dict, swc_path: Path | None = None):
    """The ForwardModel of `recording` (its current, its dt) for the model `kind`."""
    import sim as jx
    from datasets.synthetic import make_pospischil_cell
    from inference.model import ForwardModel
    from sim.channels import HH

    dt = recording.dt_ms
    if kind == "hh":
        cell = jx.Cell()
        cell.insert(HH())
        cell.init_states()
        return ForwardModel(_stimulated(cell, recording), build_params(table), delta_t=dt)
    if kind == "pospischil":
        cell = _stimulated(make_pospischil_cell(), recording)
        fwd = _make_resting_forward()
        return fwd(cell, build_params(table), delta_t=dt, voltage_solver="jaxley.thomas")
    if kind == "swc":
        cell, site = _swc_cell(swc_path)
        _stimulated(cell, recording, site)
        return ForwardModel(cell, build_params(table, cell.group_names), delta_t=dt)
    raise ValueError(f"unknown model kind {kind!r}")


def priors_help() -> str:
    """Every model's default priors, one line per site (for ``--help``)."""
    lines = []
    for kind in ("hh", "pospischil", "swc"):
        lines.append(f"  --model {kind if kind != 'swc' else 'swc:PATH'}:")
        for site, (_, _, fam, loc, scale) in default_priors(kind).items():
            what = (
                f"median {loc:g}, log-sd {scale:g}"
                if fam == "lognormal"
                else f"{loc:g} ± {scale:g}"
            )
            lines.append(f"    {site:<16} {fam:<9} {what} {param_unit(site)}")
    return "\n".join(lines)
