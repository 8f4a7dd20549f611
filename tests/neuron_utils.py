"""Helpers to build, run and compare NEURON models against ``sim`` models.

Shared by the NEURON validation tests (``test_neuron_validation.py``) and the
morphology comparisons (SWC cells). Import lazily: NEURON is an optional test
dependency, so callers should ``pytest.importorskip("neuron")`` first.

Conventions (same as Jaxley):

* ``jx.Cell(branches, parents)`` attaches every child branch to the END (x=1) of
  its parent, i.e. ``child.connect(parent(1), 0)`` in NEURON;
* a branch with ``ncomp`` compartments is a section with ``nseg = ncomp``; sim's
  compartment ``k`` corresponds to the segment centred at ``x = (k + 0.5) / ncomp``;
* sections are built without 3-D points, so every segment is a cylinder with the
  compartment's radius (``seg.diam`` is set per segment) and the section length is
  the sum of the compartment lengths (which must be equal within a branch).

Time grid: ``sim.integrate`` returns ``n_steps + 1`` samples with
``n_steps = int(t_max // dt) + 1`` (the first sample is the initial state); the
NEURON runs here record at ``t = 0, dt, 2 dt, ...`` for exactly the same number of
steps, so the two traces align sample by sample.

NEURON's fixed step evaluates point-process currents at the midpoint ``t + dt / 2``
of a step, so an ``IClamp(del, dur)`` is on during the steps ``k`` with
``del <= (k + 1/2) dt < del + dur``. :func:`add_step_current` instead *plays* the
exact per-step current array used by sim (``jx.step_current``), with one value per
step, so both simulators see the same input regardless of rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "NeuronModel",
    "build_neuron_model",
    "mean_abs_error",
    "neuron_h",
    "reset_neuron",
    "run_neuron",
    "sim_n_steps",
    "spike_times",
]

# sim channel type name -> (NEURON mechanism, {sim param suffix: NEURON range name})
_HH_MAP = {"gNa": "gnabar_hh", "gK": "gkbar_hh", "gLeak": "gl_hh", "eLeak": "el_hh"}
_HH_ION = {"eNa": "ena", "eK": "ek"}
_LEAK_MAP = {"gLeak": "g_pas", "eLeak": "e_pas"}


def neuron_h():
    """NEURON's ``h`` with ``stdrun.hoc`` loaded."""
    from neuron import h

    h.load_file("stdrun.hoc")
    return h


def reset_neuron(
    dt: float = 0.025, celsius: float = 6.3, secondorder: int = 0, hh_tables: bool = False
):
    """Delete every section and set the global integration settings; return ``h``.

    ``secondorder = 0`` is NEURON's backward Euler (sim's ``bwd_euler``),
    ``secondorder = 2`` its Crank-Nicolson variant. ``hh_tables=False`` switches
    off ``hh.mod``'s 1-mV rate tables (``usetable_hh = 0``) so that the rates are
    evaluated exactly, like sim does.
    """
    h = neuron_h()
    for sec in list(h.allsec()):
        h.delete_section(sec=sec)
    h.cvode_active(0)
    h.dt = dt
    h.steps_per_ms = 1.0 / dt
    h.celsius = celsius
    h.secondorder = secondorder
    h.usetable_hh = 1 if hh_tables else 0
    return h


@dataclass
class NeuronModel:
    """NEURON sections mirroring the branches of a sim module."""

    h: object
    sections: list
    ncomp: list[int]
    _keep: list = field(default_factory=list)  # point processes / vectors to keep alive

    def seg(self, branch: int, comp: int):
        """The segment matching sim compartment ``comp`` of branch ``branch``."""
        n = self.ncomp[branch]
        if not 0 <= comp < n:
            raise IndexError(f"branch {branch} has {n} compartments, got comp {comp}.")
        return self.sections[branch]((comp + 0.5) / n)


def _branch_table(module):
    nodes = module.base.nodes
    return nodes.sort_values(["global_branch_index", "local_comp_index"])


def _uniform(values, what: str, branch: int) -> float:
    values = np.asarray(values, dtype=float)
    if not np.allclose(values, values[0], rtol=1e-12, atol=0.0):
        raise ValueError(
            f"{what} differs between the compartments of branch {branch}; NEURON "
            f"sections without 3-D points need one value per section: {values}."
        )
    return float(values[0])


def build_neuron_model(module, name: str = "b") -> NeuronModel:
    """Build NEURON sections with the topology, geometry and mechanisms of ``module``.

    Supports a single-cell ``Compartment``, ``Branch`` or ``Cell`` with the ``HH``
    channel (-> ``hh``) and/or ``Leak`` (-> ``pas``); every branch must have equal
    compartment lengths and one axial resistivity. Radius, capacitance and the
    channel parameters may vary per compartment. Call :func:`reset_neuron` first.
    """
    h = neuron_h()
    base = module.base
    nodes = _branch_table(module)
    if nodes["global_cell_index"].nunique() != 1:
        raise ValueError("build_neuron_model supports a single cell.")
    parents = np.asarray(base.branch_parents, dtype=int)
    parent_x = np.asarray(base.branch_parent_x, dtype=float)
    sections, ncomps = [], []
    channel_types = {ch.name: type(ch).__name__ for ch in base._channels}
    for b, rows in nodes.groupby("global_branch_index", sort=True):
        sec = h.Section(name=f"{name}{b}")
        n = len(rows)
        sec.nseg = n
        sec.L = float(rows["length"].sum())
        _uniform(rows["length"], "length", b)
        sec.Ra = _uniform(rows["axial_resistivity"], "axial_resistivity", b)
        for ch_name, kind in channel_types.items():
            present = rows[ch_name].to_numpy(dtype=bool)
            if present.any() and not present.all():
                raise ValueError(f"{ch_name} is inserted in part of branch {b} only.")
            if not present.any():
                continue
            if kind == "HH":
                sec.insert("hh")
            elif kind == "Leak":
                sec.insert("pas")
            else:
                raise NotImplementedError(f"No NEURON counterpart for channel {kind}.")
        for k, (_, row) in enumerate(rows.iterrows()):
            seg = sec((k + 0.5) / n)
            seg.diam = 2.0 * float(row["radius"])
            seg.cm = float(row["capacitance"])
            for ch_name, kind in channel_types.items():
                if not bool(row[ch_name]):
                    continue
                table = _HH_MAP if kind == "HH" else _LEAK_MAP
                for suffix, rng in table.items():
                    setattr(seg, rng, float(row[f"{ch_name}_{suffix}"]))
                if kind == "HH":
                    for suffix, ion in _HH_ION.items():
                        setattr(seg, ion, float(row[f"{ch_name}_{suffix}"]))
        sections.append(sec)
        ncomps.append(n)
    for b, p in enumerate(parents):
        if p >= 0:
            sections[b].connect(sections[p](float(parent_x[b])), 0)
    return NeuronModel(h=h, sections=sections, ncomp=ncomps)


def sim_n_steps(t_max: float, dt: float) -> int:
    """Number of steps ``sim.integrate`` takes for ``t_max`` (its output has one more sample)."""
    return int(t_max // dt + 1)


def run_neuron(
    model: NeuronModel,
    records: list[tuple[int, int]],
    n_steps: int,
    v_init,
    stimuli: list[tuple[int, int, np.ndarray]] = (),
):
    """Run ``n_steps`` fixed steps and return ``(t, v)``, ``v`` of shape ``(len(records), n+1)``.

    Args:
        model: From :func:`build_neuron_model`.
        records: ``(branch, comp)`` pairs to record the voltage of.
        n_steps: Number of steps (use :func:`sim_n_steps`).
        v_init: Initial voltage (mV), a number: ``finitialize(v_init)`` also sets
            every channel to its steady state (sim: ``init_states()``).
        stimuli: ``(branch, comp, current)`` with ``current[k]`` (nA) the current
            during step ``k`` (as passed to sim's ``stimulate``); it is played
            into an ``IClamp`` so that step ``k`` sees exactly ``current[k]``.
    """
    h = model.h
    dt = float(h.dt)
    keep = []
    for branch, comp, current in stimuli:
        clamp = h.IClamp(model.seg(branch, comp))
        clamp.delay = 0.0
        clamp.dur = 1e9
        # The IClamp is evaluated at t + dt/2 during step k; with piecewise-constant
        # play on the step boundaries it takes the value current[k] there.
        values = np.asarray(current, dtype=float)[:n_steps]
        values = np.concatenate([values, values[-1:]])
        vec = h.Vector(values)
        tvec = h.Vector(np.arange(len(values)) * dt)
        vec.play(clamp._ref_amp, tvec, 0)  # 0: step (sample-and-hold) interpolation
        keep += [clamp, vec, tvec]
    vecs = []
    for branch, comp in records:
        vec = h.Vector()
        vec.record(model.seg(branch, comp)._ref_v)
        vecs.append(vec)
    t = h.Vector()
    t.record(h._ref_t)
    h.finitialize(float(v_init))
    for _ in range(n_steps):
        h.fadvance()
    model._keep = keep
    return np.asarray(t), np.stack([np.asarray(v) for v in vecs])


def mean_abs_error(a, b) -> np.ndarray:
    """Mean over time of ``|a - b|`` for every row."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"Shapes differ: {a.shape} vs {b.shape}.")
    return np.mean(np.abs(a - b), axis=-1)


def spike_times(t, v, threshold: float = 0.0) -> np.ndarray:
    """Times of upward crossings of ``threshold`` (first sample at or above it)."""
    v = np.asarray(v)
    up = np.flatnonzero((v[:-1] < threshold) & (v[1:] >= threshold)) + 1
    return np.asarray(t)[up]
