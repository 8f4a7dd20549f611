"""SWC parsing/validation and NEURON Import3d-compatible sections (sim.morphology)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.morphology import (
    SwcError,
    arc_lengths,
    build_sections,
    compartment_geometry,
    d_lambda_ncomp,
    neuron_ri,
    parse_swc,
)

MORPH_DIR = Path(__file__).parents[2] / "shared" / "data" / "morphologies"
SWC_FILES = sorted(MORPH_DIR.glob("*.swc"))
needs_data = pytest.mark.skipif(not SWC_FILES, reason=f"no SWC files in {MORPH_DIR}")

# Runs in a fresh interpreter (NEURON state is global and a rejected file can crash
# it): instantiates each file with Import3d and dumps sections, 3-D points and
# per-segment area / ri (Ra = 100) for nseg 1 and 3.
NEURON_DUMP = r"""
import json, sys
from neuron import h
h.load_file("stdlib.hoc")
h.load_file("import3d.hoc")
out = {}
for path in sys.argv[2:]:
    for sec in list(h.allsec()):
        h.delete_section(sec=sec)
    reader = h.Import3d_SWC_read()
    reader.quiet = 1
    reader.input(path)
    h.Import3d_GUI(reader, False).instantiate(None)
    secs = []
    for sec in h.allsec():
        sec.Ra = 100.0
        ps = sec.parentseg()
        d = {"name": sec.name(), "orientation": h.section_orientation(sec=sec),
             "parent": None if ps is None else ps.sec.name(),
             "parent_x": None if ps is None else ps.x,
             "pts": [[sec.x3d(i), sec.y3d(i), sec.z3d(i), sec.diam3d(i)]
                     for i in range(sec.n3d())]}
        for nseg in (1, 3):
            sec.nseg = nseg
            d[f"area{nseg}"] = [seg.area() for seg in sec]
            d[f"ri{nseg}"] = [seg.ri() for seg in sec]
            d[f"diam{nseg}"] = [seg.diam for seg in sec]
        if sec.arc3d(sec.n3d() - 1) > 0:  # fixnseg.hoc's d_lambda rule, cm = 1
            sec.nseg = int((sec.L / (0.1 * h.lambda_f(100, sec=sec)) + .9) / 2) * 2 + 1
            d["dlambda_nseg"] = sec.nseg
        secs.append(d)
    out[path] = secs
with open(sys.argv[1], "w") as f:
    json.dump(out, f)
"""


def neuron_sections(paths: list) -> dict | None:
    """NEURON's view of the files; None if NEURON fails on them."""
    pytest.importorskip("neuron")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        cmd = [sys.executable, "-c", NEURON_DUMP, str(out), *map(str, paths)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0 or not out.exists():
            return None
        return json.loads(out.read_text())


@pytest.fixture(scope="module")
def neuron_ref() -> dict:
    """File name -> NEURON sections, or None where NEURON rejects the file."""
    return {p.name: (neuron_sections([p]) or {}).get(str(p)) for p in SWC_FILES}


def our_sections(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_sections(parse_swc(path))


def assert_same_as_neuron(secs: list, ref: list, geometry: bool = True) -> None:
    assert len(secs) == len(ref)
    by_name = {s.name: s for s in secs}
    assert len(by_name) == len(secs)
    for r in ref:
        s = by_name[r["name"]]
        parent = secs[s.parent].name if s.parent >= 0 else None
        assert (parent, s.orientation) == (r["parent"], r["orientation"]), s.name
        if parent is not None:
            assert s.parent_x == r["parent_x"], s.name
        pts = np.column_stack([s.xyz, 2.0 * s.radius])
        np.testing.assert_array_equal(pts, np.array(r["pts"]), err_msg=s.name)
        if not geometry:
            continue
        if "dlambda_nseg" in r:
            arc = arc_lengths(s.xyz)
            n = d_lambda_ncomp(arc[-1], s.radius, 100.0, 1.0, arc=arc)
            assert n == r["dlambda_nseg"], s.name
        for nseg in (1, 3):
            g = compartment_geometry(s.xyz, s.radius, nseg)
            np.testing.assert_allclose(g["area"], r[f"area{nseg}"], rtol=1e-9)
            np.testing.assert_allclose(neuron_ri(g, 100.0), r[f"ri{nseg}"], rtol=1e-9)
            if s.length > 0:  # NEURON leaves diam at its default 500 µm if L == 0
                np.testing.assert_allclose(2 * g["radius"], r[f"diam{nseg}"], rtol=1e-9)


# ------------------------------------------------------------------ NEURON comparisons


@pytest.mark.neuron
@needs_data
@pytest.mark.parametrize("path", SWC_FILES, ids=lambda p: p.stem)
def test_sections_match_neuron_import3d(path, neuron_ref):
    ref = neuron_ref[path.name]
    if ref is None:  # NEURON crashes on it (duplicate id 3): we reject it clearly
        with pytest.raises(SwcError, match="duplicate id"):
            parse_swc(path)
        return
    assert_same_as_neuron(our_sections(path), ref)


@pytest.mark.neuron
@needs_data
@pytest.mark.parametrize("stem", ["morph_ca1_n120", "morph_l5pc_with_axon"])
def test_section_order_is_neuron_allsec_order(stem, neuron_ref):
    ref = neuron_ref[f"{stem}.swc"]
    secs = our_sections(MORPH_DIR / f"{stem}.swc")
    assert [s.name for s in secs] == [r["name"] for r in ref]
    assert len(secs) == {"morph_ca1_n120": 156, "morph_l5pc_with_axon": 324}[stem]


def random_tree(rng: np.random.Generator) -> str:
    """Random SWC tree stressing Import3d's soma and branching rules."""
    rows = []
    for i in range(int(rng.integers(1, 7))):  # soma points, possibly branched
        par = -1 if i == 0 else int(rng.integers(1, i + 1))
        rad = 3.0 if rng.random() < 0.3 else round(float(rng.uniform(2, 8)), 3)
        rows.append([i + 1, 1, *np.round(rng.normal(0, 3, 3), 2), rad, par])
    nsoma = len(rows)
    for _ in range(int(rng.integers(1, 30))):
        nid, u = len(rows) + 1, rng.random()
        hi = nsoma if u < 0.7 else nid - 1
        par = nid - 1 if u < 0.5 else int(rng.integers(1, hi + 1))
        ptype = rows[par - 1][1]
        typ = int(rng.choice([1, 2, 3, 4, 7]))
        if ptype != 1 and rng.random() < 0.8:
            typ = ptype
        xyz = np.array(rows[par - 1][2:5], float)
        if rng.random() > 0.15:  # else a duplicate point
            xyz = xyz + rng.normal(0, 4, 3)
        rad = rows[par - 1][5] if rng.random() < 0.3 else float(rng.uniform(0.1, 3))
        rows.append([nid, typ, *xyz, rad, par])
    if rng.random() < 0.15:  # an extra root
        nid = len(rows) + 1
        rows += [[nid, 3, 40.0, 0, 0, 1.0, -1], [nid + 1, 3, 41.0, 0, 0, 1.0, nid]]
    return "".join(" ".join(str(v) for v in r) + "\n" for r in rows)


@pytest.mark.neuron
def test_random_trees_match_neuron(tmp_path):
    rng = np.random.default_rng(1234)
    paths = []
    for k in range(80):
        paths.append(tmp_path / f"t{k}.swc")
        paths[-1].write_text(random_tree(rng))
    ref = neuron_sections(paths)
    assert ref is not None
    for path in paths:
        assert_same_as_neuron(our_sections(path), ref[str(path)])


# ---------------------------------------------------------------- Import3d behaviours


def write(tmp_path, text: str, name: str = "m.swc") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_one_point_soma_becomes_cylinder_children_at_half(tmp_path):
    text = "1 1 0 0 0 2 -1\n2 3 3 0 0 1 1\n3 3 5 0 0 1 2\n4 2 0 -3 0 .5 1\n"
    soma, axon, dend = our_sections(write(tmp_path, text))
    np.testing.assert_array_equal(soma.xyz[:, 0], [-2, 0, 2])
    np.testing.assert_array_equal(soma.radius, [2, 2, 2])
    assert (dend.parent, dend.parent_x, len(dend.xyz)) == (0, 0.5, 2)  # wire
    assert (axon.parent, axon.parent_x, len(axon.xyz)) == (0, 0.5, 2)  # + copy
    np.testing.assert_array_equal(axon.xyz[0], [0, 0, 0])
    assert axon.radius[0] == 0.5  # copied soma point takes the child's radius


def test_three_point_soma_is_a_sphere(tmp_path):
    text = "1 1 0 0 0 5 -1\n2 1 0 5 0 5 1\n3 1 0 -5 0 5 1\n4 3 0 5 0 1 2\n"
    text = text.replace("4 3 0 5 0 1 2", "4 3 7 0 0 1 1\n5 3 9 0 0 1 4")
    soma, dend = our_sections(write(tmp_path, text))
    np.testing.assert_array_equal(soma.xyz[:, 0], [-5, 0, 5])
    assert dend.parent_x == 0.5


def test_sections_split_at_type_changes_and_branches(tmp_path):
    text = "1 1 0 0 0 5 -1\n2 1 0 5 0 5 1\n3 3 0 9 0 1 2\n"
    text += "4 4 0 12 0 1 3\n5 4 0 14 0 1 4\n"
    secs = our_sections(write(tmp_path, text))
    assert [s.name for s in secs] == ["soma[0]", "dend[0]", "apic[0]"]
    assert [s.parent for s in secs] == [-1, 0, 1]
    np.testing.assert_array_equal(secs[2].xyz[:, 1], [9, 12, 14])
    assert list(secs[2].swc_ids) == [3, 4, 5]


def test_degenerate_section_is_removed_and_children_reattached(tmp_path):
    text = "1 3 0 0 0 1 -1\n2 3 5 0 0 1 1\n3 3 5 0 0 1 2\n4 3 6 0 0 1 2\n"
    text += "5 3 9 0 0 1 3\n6 3 9 2 0 1 3\n"
    secs = our_sections(write(tmp_path, text))
    assert len(secs) == 4  # the zero-length section 2 -> 3 is gone ...
    assert [(s.parent, s.parent_x) for s in secs[1:]] == [(0, 1.0)] * 3  # ... children
    np.testing.assert_array_equal(secs[2].xyz[:, 0], [5, 9])  # keep their points


def test_multiple_roots_attach_to_root_section_with_warning(tmp_path):
    text = "1 1 0 0 0 1 -1\n2 1 1 0 0 1 1\n3 3 4 0 0 1 -1\n4 3 5 0 0 1 3\n"
    with pytest.warns(UserWarning, match="2 roots"):
        secs = build_sections(parse_swc(write(tmp_path, text)))
    assert [(s.parent, s.parent_x) for s in secs] == [(-1, 0.0), (0, 0.5)]


def test_unsorted_ids_are_ordered_parents_first(tmp_path):
    text = "5 3 2 0 0 1 9\n9 1 0 0 0 3 -1\n7 3 4 0 0 1 5\n"
    pts = parse_swc(write(tmp_path, text))
    assert list(pts.ids) == [9, 5, 7] and list(pts.line_numbers) == [2, 1, 3]
    assert [s.name for s in build_sections(pts)] == ["soma[0]", "dend[0]"]


def test_max_branch_len_splits_into_equal_pieces(tmp_path):
    text = "1 1 0 0 0 5 -1\n2 1 10 0 0 5 1\n3 3 10 0 0 1 2\n4 3 110 0 0 2 3\n"
    text += "5 3 110 20 0 1 4\n6 3 120 0 0 1 4\n"
    whole = our_sections(write(tmp_path, text))
    with warnings.catch_warnings():
        split = build_sections(parse_swc(write(tmp_path, text)), max_branch_len=30.0)
    assert len(split) == len(whole) + 3  # dend[0] (100 µm) -> 4 pieces
    pieces = [s for s in split if s.name.startswith("dend[0]:")]
    np.testing.assert_allclose([p.length for p in pieces], 25.0)
    assert all(split[k].parent < k for k in range(len(split)))
    last = split.index(pieces[-1])
    assert sorted(s.parent for s in split if s.name.startswith("dend[1]")) == [last]
    area = sum(compartment_geometry(p.xyz, p.radius, 1)["area"][0] for p in pieces)
    ref = compartment_geometry(whole[1].xyz, whole[1].radius, 4)["area"].sum()
    np.testing.assert_allclose(area, ref, rtol=1e-6)
    with pytest.raises(SwcError):
        build_sections(parse_swc(write(tmp_path, text)), max_branch_len=-1)


# ------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "no data lines"),
        ("# only a comment\n\n", "no data lines"),
        ("1 1 0 0 0 1\n", "line 1: expected 7 columns"),
        ("1 1 0 0 0 1 -1 7\n", "expected 7 columns"),
        ("1 1 0 0 zero 1 -1\n", "line 1: z 'zero' is not a number"),
        ("1 1 0 0 0 1 -1\n2 3 nan 0 0 1 1\n", "line 2: x 'nan'"),
        ("1 1.5 0 0 0 1 -1\n", "type '1.5' must be an integer"),
        ("1 1 0 0 0 1 -1\n1 3 1 0 0 1 1\n", "duplicate id 1 on lines 1 and 2"),
        ("1 1 0 0 0 1 -1\n2 3 1 0 0 1 7\n", "line 2: parent id 7 of point 2 does not"),
        ("1 1 0 0 0 1 2\n2 1 1 0 0 1 1\n", "no root"),
        ("1 1 0 0 0 1 -1\n2 3 0 0 0 1 3\n3 3 0 0 0 1 2\n", "cycle"),
        ("1 1 0 0 0 1 -1\n2 3 0 0 0 1 2\n", "cycle"),
        ("1 1 0 0 0 0 -1\n", "line 1: radius 0 of point 1 is not positive"),
        ("1 1 0 0 0 -2 -1\n", "min_radius"),
        ("-3 1 0 0 0 1 -1\n", "negative"),
        ("1 1 1e99 0 0 1 -1\n", "out of range"),
    ],
)
def test_invalid_files_raise_clear_swc_error(tmp_path, text, match):
    with pytest.raises(SwcError, match=match):
        parse_swc(write(tmp_path, text))


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.swc"
    with pytest.raises(FileNotFoundError, match="nope.swc"):
        parse_swc(missing)
    with pytest.raises(SwcError):
        parse_swc(tmp_path)  # a directory


def test_min_radius_clips_and_comments_are_ignored(tmp_path):
    text = "# header\n1 1 0 0 0 0 -1  # root\r\n\n  2 3 0 0 5 0.2 1\n"
    pts = parse_swc(write(tmp_path, text), min_radius=0.5)
    np.testing.assert_array_equal(pts.radius, [0.5, 0.5])
    assert list(pts.line_numbers) == [2, 4]
    with pytest.raises(SwcError, match="min_radius"):
        parse_swc(write(tmp_path, text), min_radius=0.0)


# ------------------------------------------------------------------------------ fuzz

_TOKENS = [
    "1",
    "-1",
    "0",
    "2",
    "3",
    "4",
    "1.5",
    "1e3",
    "-0.0",
    "abc",
    "nan",
    "#",
    "",
    "1e400",
    "0x1",
    "7",
    "\t",
    "9999999999999999999999",
    "- 1",
]


@st.composite
def swc_text(draw):
    """Valid trees, mutated trees and junk."""
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.binary(max_size=300)).decode("latin-1")
    if kind == 1:
        line = st.lists(st.sampled_from(_TOKENS), max_size=9)
        lines = draw(st.lists(line, max_size=8))
        return "\n".join(" ".join(t) for t in lines)
    n = draw(st.integers(1, 12))
    rows = []
    for i in range(1, n + 1):
        parent = -1 if i == 1 else draw(st.integers(1, i - 1))
        typ = draw(st.integers(0, 5))
        coord = st.sampled_from([0.0, 1.0, -2.5, 3.25, 1e29])
        xyz = draw(st.lists(coord, min_size=3, max_size=3))
        rad = draw(st.sampled_from([0.5, 1.0, 2.0, 0.0, 1e-50]))
        rows.append([i, typ, *xyz, rad, parent])
    if kind == 3:  # unknown parent, cycle, duplicate id, missing columns, extra root
        k = draw(st.integers(0, n - 1))
        how = draw(st.integers(0, 4))
        if how == 0:
            rows[k][6] = n + 5
        elif how == 1:
            rows[0][6] = n
        elif how == 2:
            rows[k][0] = rows[0][0]
        elif how == 3:
            rows[k] = rows[k][:5]
        else:
            rows[k][6] = -1
        rows = draw(st.permutations(rows))
    return "".join(" ".join(str(v) for v in r) + "\n" for r in rows)


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    text=swc_text(),
    min_radius=st.sampled_from([None, 0.1]),
    max_len=st.sampled_from([None, 0.7, 5.0]),
)
def test_fuzz_only_swc_error(text, min_radius, max_len):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.swc"
        path.write_text(text, encoding="latin-1")
        try:
            pts = parse_swc(path, min_radius=min_radius)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                secs = build_sections(pts, max_branch_len=max_len)
        except SwcError:
            return
    assert secs and secs[0].parent == -1
    for k, sec in enumerate(secs):
        assert -1 <= sec.parent < k and 0.0 <= sec.parent_x <= 1.0
        assert len(sec.xyz) >= 2 and sec.xyz.shape == (len(sec.radius), 3)
        g = compartment_geometry(sec.xyz, sec.radius, 3)
        assert np.all(np.isfinite(g["area"])) and np.all(g["res_lower"] > 0)
        if np.all(sec.radius > 0):
            arc = arc_lengths(sec.xyz)
            assert d_lambda_ncomp(arc[-1], sec.radius, 100.0, 1.0, arc=arc) % 2 == 1
