"""Compartment geometry (area, axial resistance) and the d_lambda rule vs NEURON."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from sim.morphology import (
    arc_lengths,
    compartment_geometry,
    cylinder_geometry,
    d_lambda_ncomp,
    lambda_f,
    neuron_ri,
)

# Runs in a fresh interpreter: builds one section per spec (3-D points or a plain
# cylinder), sets nseg / Ra / cm, and reports seg.area(), seg.ri(), seg.diam, sec.L,
# stdlib's lambda_f(100) and the fixnseg.hoc d_lambda rule (d_lambda = 0.1).
NEURON_GEOM = r"""
import json, sys
from neuron import h
h.load_file("stdlib.hoc")
h('proc geom_nseg_fix() { nseg = int((L/(0.1*lambda_f(100))+.9)/2)*2 + 1 }')
specs = json.load(open(sys.argv[1]))
out = []
for spec in specs:
    sec = h.Section(name="s")
    if spec["pts"] is not None:
        for x, y, z, d in spec["pts"]:
            h.pt3dadd(x, y, z, d, sec=sec)
    else:
        sec.L, sec.diam = spec["L"], spec["diam"]
    sec.Ra, sec.cm = spec["Ra"], spec["cm"]
    sec.nseg = spec["nseg"]
    res = {"area": [seg.area() for seg in sec], "ri": [seg.ri() for seg in sec],
           "diam": [seg.diam for seg in sec],
           "L": sec.arc3d(sec.n3d() - 1) if sec.n3d() else sec.L}  # (sec.L >= 1e-9)
    if res["L"] > 0:  # lambda_f divides by the section's electrotonic length
        res["lambda"] = h.lambda_f(100, sec=sec)
        h.geom_nseg_fix(sec=sec)
        res["dlambda_nseg"] = sec.nseg
    out.append(res)
    h.delete_section(sec=sec)
json.dump(out, open(sys.argv[2], "w"))
"""


def run_neuron(specs: list) -> list:
    pytest.importorskip("neuron")
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.json", Path(tmp) / "out.json"
        src.write_text(json.dumps(specs))
        cmd = [sys.executable, "-c", NEURON_GEOM, str(src), str(dst)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(dst.read_text())


def random_section(rng: np.random.Generator) -> np.ndarray:
    """(n, 4) x, y, z, diam with duplicates, jumps and very short pieces."""
    n = int(rng.integers(2, 25))
    steps = rng.normal(0, 1, (n, 3)) * rng.choice([0.0, 1e-6, 0.3, 5.0, 40.0], (n, 1))
    xyz = np.cumsum(steps, axis=0) + rng.normal(0, 100, 3)
    diam = rng.choice([0.3, 1.0, 2.5, 17.0], n) * rng.uniform(0.5, 1.5, n)
    return np.column_stack([xyz, diam])


# ------------------------------------------------------------------- pure geometry


def test_straight_constant_radius_section_equals_cylinder():
    xyz = np.array([[0.0, 0, 0], [7.5, 0, 0], [10.0, 0, 0], [30.0, 0, 0]])
    for ncomp in (1, 2, 3, 7):
        g3d = compartment_geometry(xyz, np.full(4, 1.25), ncomp)
        cyl = cylinder_geometry(1.25, 30.0, ncomp)
        for key in ("length", "radius", "area", "res_lower", "res_upper", "xyz"):
            np.testing.assert_allclose(g3d[key], cyl[key], rtol=1e-13, atol=1e-12)


def test_frustum_matches_closed_forms():
    r1, r2, length = 2.0, 0.5, 40.0
    xyz = np.array([[0.0, 0, 0], [0, length, 0]])
    g = compartment_geometry(xyz, [r1, r2], 1)
    side = math.pi * (r1 + r2) * math.sqrt(length**2 + (r2 - r1) ** 2)
    np.testing.assert_allclose(g["area"], side, rtol=1e-12)
    total = g["res_lower"] + g["res_upper"]  # integral of dx / (pi r(x)^2)
    np.testing.assert_allclose(total, length / (math.pi * r1 * r2), rtol=1e-12)
    np.testing.assert_allclose(g["radius"], (r1 + r2) / 2, rtol=1e-12)
    np.testing.assert_allclose(g["xyz"], [[0, 20, 0]])


def test_compartments_add_up_and_bad_input_is_rejected():
    rng = np.random.default_rng(0)
    pts = random_section(rng)
    one = compartment_geometry(pts[:, :3], pts[:, 3] / 2, 1)
    many = compartment_geometry(pts[:, :3], pts[:, 3] / 2, 5)
    np.testing.assert_allclose(many["area"].sum(), one["area"][0], rtol=1e-9)
    np.testing.assert_allclose(many["length"].sum(), arc_lengths(pts[:, :3])[-1])
    with pytest.raises(ValueError):
        compartment_geometry(pts[:1, :3], pts[:1, 3], 1)
    with pytest.raises(ValueError):
        cylinder_geometry(0.0, 10.0, 1)


def test_d_lambda_rule_basic_properties():
    short = d_lambda_ncomp(10.0, 1.0, 100.0, 1.0)
    long = d_lambda_ncomp(5000.0, 0.5, 100.0, 1.0)
    assert short == 1 and long > 1 and long % 2 == 1
    assert d_lambda_ncomp(500.0, 1.0, 100.0, 0.0) == 1  # cm = 0: infinite lambda
    lam = lambda_f(100.0, 1.0, 100.0, 1.0)
    arc = np.array([0.0, 40.0, 100.0])
    lam3d = lambda_f(100.0, [1.0, 1.0, 1.0], 100.0, 1.0, arc=arc)
    np.testing.assert_allclose(lam3d, lam)


# ------------------------------------------------------------------ NEURON comparisons


@pytest.mark.neuron
def test_3d_sections_match_neuron_area_ri_diam():
    rng = np.random.default_rng(42)
    sections = [random_section(rng) for _ in range(150)]
    specs = [
        {"pts": s.tolist(), "nseg": int(rng.integers(1, 10)), "Ra": 100.0, "cm": 1.0}
        for s in sections
    ]
    ref = run_neuron(specs)
    for pts, spec, r in zip(sections, specs, ref):
        g = compartment_geometry(pts[:, :3], pts[:, 3] / 2, spec["nseg"])
        np.testing.assert_allclose(g["length"] * spec["nseg"], r["L"], rtol=1e-12)
        np.testing.assert_allclose(g["area"], r["area"], rtol=1e-9)
        np.testing.assert_allclose(neuron_ri(g, spec["Ra"]), r["ri"], rtol=1e-9)
        if r["L"] > 0:
            np.testing.assert_allclose(2 * g["radius"], r["diam"], rtol=1e-9)


@pytest.mark.neuron
def test_cylinders_and_d_lambda_match_neuron():
    rng = np.random.default_rng(7)
    specs = []
    for _ in range(60):
        specs.append(
            {
                "pts": None,
                "L": float(rng.choice([0.5, 20.0, 300.0, 2000.0]) * rng.uniform(0.5, 2)),
                "diam": float(rng.uniform(0.2, 20.0)),
                "Ra": float(rng.choice([35.4, 100.0, 250.0])),
                "cm": float(rng.choice([0.5, 1.0, 2.0])),
                "nseg": int(rng.integers(1, 8)),
            }
        )
    for pts in (random_section(rng) for _ in range(60)):
        pts[:, :3] *= rng.choice([1.0, 20.0])
        specs.append({"pts": pts.tolist(), "Ra": 120.0, "cm": 1.0, "nseg": 1})
    ref = run_neuron(specs)
    for spec, r in zip(specs, ref):
        if r["L"] == 0:
            continue
        if spec["pts"] is None:
            g = cylinder_geometry(spec["diam"] / 2, spec["L"], spec["nseg"])
            np.testing.assert_allclose(g["area"], r["area"], rtol=1e-12)
            np.testing.assert_allclose(neuron_ri(g, spec["Ra"]), r["ri"], rtol=1e-12)
            args = dict(length=spec["L"], radius=spec["diam"] / 2, arc=None)
        else:
            pts = np.array(spec["pts"])
            radius = pts[:, 3].astype(np.float32).astype(float) / 2
            arc = arc_lengths(pts[:, :3])
            args = dict(length=arc[-1], radius=radius, arc=arc)
        cable = dict(axial_resistivity=spec["Ra"], capacitance=spec["cm"])
        lam = lambda_f(**args, **cable)
        np.testing.assert_allclose(lam, r["lambda"], rtol=1e-12)
        nseg = d_lambda_ncomp(**args, **cable)
        assert nseg == r["dlambda_nseg"]
