"""SWC reading and NEURON ``Import3d``-compatible section building.

* :func:`parse_swc` reads and validates a file into :class:`SwcPoints`; any problem
  with the content raises :class:`SwcError` (a ``ValueError``) naming the line, the
  value and the fix, a missing file ``FileNotFoundError``; nothing else escapes.
* :func:`build_sections` groups the points into :class:`Section` objects exactly as
  NEURON 9's ``Import3d_SWC_read`` + ``Import3d_GUI.instantiate`` do, so that
  :mod:`sim.morphology.geometry` reproduces ``seg.area()`` / ``seg.ri()``.

Import3d rules reproduced here (verified empirically against NEURON 9):

* A section is a maximal run of consecutive points (in id order) of one SWC type in
  which every point is the only child of the previous one. Type changes end sections.
  Consecutive soma points stay in one section unless a soma point other than the
  first has more than one soma child ("somatic branch point").
* A non-root section starts with a copy of its parent point; if the parent section is
  a soma and the child is not, that copy takes the diameter of the child's first own
  point. The root section has no such copy.
* Children attach at ``x=1`` of the parent section, except: children of the root's
  first point attach at ``x=0``; non-soma children of a one-point soma attach at
  ``x=0.5``; any child of an interior point of a soma section attaches at ``x=0.5``;
  a dendrite hanging off the first point of a wire-connected dendrite attaches at
  ``x=0`` ("connect2prox").
* "Wires": a non-soma section of more than one own point attached to a one-point
  soma, to the interior of a soma, or to a soma point with several soma children,
  drops the copied parent point (NEURON's ``pt3dstyle`` logical connection).
* A one-point root section (one-point soma) becomes a 3-point cylinder along x with
  length = diameter, centred on the point. A neuromorpho.org "3-point soma" (root in
  the middle, two children at +-r with equal diameters) is treated the same way.
* Non-root sections left with a single 3-D point, or two identical 3-D points, are
  removed and their children re-attached to the removed section's parent location.
* 3-D points are passed to NEURON as ``%.8g`` text and stored in single precision;
  the coordinates and radii of a :class:`Section` are rounded identically.
* Several roots (``parent == -1``): NEURON warns and attaches every extra root's
  section to the root section (as if its parent were the very first point); this is
  reproduced, with a ``UserWarning``.

Deliberate differences from NEURON (which misbehaves on these files): points need not
be sorted by id nor have ``parent < id``; they are put in a parent-before-child order
that keeps the id order whenever possible (identical to NEURON whenever NEURON
accepts the file). Duplicate ids, unknown parents, cycles, non-numeric values and
non-positive radii are errors.
"""

from __future__ import annotations

import heapq
import math
import re
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from sim.morphology.geometry import arc_lengths

__all__ = ["SwcError", "SwcPoints", "Section", "parse_swc", "build_sections"]

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_LINE = re.compile(rf"{_NUMBER.pattern}(?:\s+{_NUMBER.pattern}){{6}}", re.ASCII)
_MAX_ID = 2**53
_MAX_ABS = 1e30  # NEURON stores single precision; keep far from its range
_MAX_PIECES = 100_000
_SOMA = 1


class SwcError(ValueError):
    """Invalid SWC content (message names the file, line, value and the fix)."""


@dataclass(frozen=True, eq=False)
class SwcPoints:
    """Validated SWC points, ordered so that every parent precedes its children.

    The order is the id order whenever every parent id is smaller than its child's id
    (the SWC convention); otherwise the smallest available id comes first.
    """

    ids: np.ndarray  # (n,) int64, unique, >= 0
    types: np.ndarray  # (n,) int64 SWC structure identifier
    xyz: np.ndarray  # (n, 3) float64, µm
    radius: np.ndarray  # (n,) float64, µm, > 0
    parent_ids: np.ndarray  # (n,) int64, -1 for roots
    line_numbers: np.ndarray  # (n,) int64, 1-based line in the file

    def __len__(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True, eq=False)
class Section:
    """One unbranched NEURON section as Import3d instantiates it.

    ``xyz``/``radius`` are the section's 3-D points (NEURON's ``x3d..z3d`` and
    ``diam3d/2``, single-precision values). ``parent`` is the index of the parent
    section in the list returned by :func:`build_sections` (-1 for the root, whose
    ``parent_x`` is 0), ``parent_x`` the location on the parent (``parentseg().x``);
    ``orientation`` is the section's own end that connects (``section_orientation``,
    always 0 for Import3d). ``name`` is NEURON's section name (``"dend[3]"``) and
    ``swc_ids`` the SWC ids of the points (a copied parent point carries the parent's
    id).
    """

    xyz: np.ndarray
    radius: np.ndarray
    swc_type: int
    parent: int
    parent_x: float
    orientation: float = 0.0
    name: str = ""
    swc_ids: np.ndarray | None = None

    @property
    def length(self) -> float:
        """Arc length in µm (NEURON's ``sec.L``)."""
        return float(arc_lengths(self.xyz)[-1])


# ----------------------------------------------------------------------------- parsing


def _read_text(fname) -> tuple[str, str]:
    try:
        path = Path(fname)
        label = str(path)
    except TypeError as err:
        raise SwcError(f"SWC file name must be a str or Path, got {fname!r}") from err
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise FileNotFoundError(2, "SWC file not found", label) from err
    except (OSError, ValueError) as err:
        raise SwcError(f"cannot read SWC file {label}: {err}") from err
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return text, label


def _number(tok: str, label: str, lineno: int, what: str) -> float:
    if _NUMBER.fullmatch(tok) is None:
        raise SwcError(
            f"{label}, line {lineno}: {what} {tok!r} is not a number; SWC data lines"
            " are 7 numbers 'id type x y z radius parent' (comments start with '#')"
        )
    value = float(tok)
    if not abs(value) <= _MAX_ABS:
        raise SwcError(
            f"{label}, line {lineno}: {what} {tok!r} is out of range (|value| must"
            f" be <= {_MAX_ABS:g})"
        )
    return value


def _integer(tok: str, label: str, lineno: int, what: str) -> int:
    value = _number(tok, label, lineno, what)
    if not value.is_integer() or abs(value) > _MAX_ID:
        raise SwcError(
            f"{label}, line {lineno}: {what} {tok!r} must be an integer of magnitude <= 2**53"
        )
    return int(value)


def _parse_line(line: str, label: str, lineno: int) -> tuple | None:
    line = line.split("#", 1)[0].strip()
    if not line:
        return None
    toks = line.split()
    if len(toks) != 7:
        raise SwcError(
            f"{label}, line {lineno}: expected 7 columns 'id type x y z radius parent'"
            f" but found {len(toks)}: {line[:80]!r}"
        )
    if _LINE.fullmatch(line):  # fast path: 7 plain numbers
        vals = [float(t) for t in toks]
        if all(abs(v) <= _MAX_ABS for v in vals) and all(
            vals[k].is_integer() and abs(vals[k]) <= _MAX_ID for k in (0, 1, 6)
        ):
            ident, swc_type, parent = int(vals[0]), int(vals[1]), int(vals[6])
            if ident >= 0:
                return ident, swc_type, *vals[2:6], max(parent, -1), lineno
    ident = _integer(toks[0], label, lineno, "id")
    if ident < 0:
        raise SwcError(f"{label}, line {lineno}: id {ident} is negative; use ids >= 0")
    swc_type = _integer(toks[1], label, lineno, "type")
    xyz = [_number(t, label, lineno, c) for t, c in zip(toks[2:5], "xyz")]
    rad = _number(toks[5], label, lineno, "radius")
    parent = _integer(toks[6], label, lineno, "parent id")
    return ident, swc_type, *xyz, rad, max(parent, -1), lineno


def _check_radius(rows: list, label: str, min_radius: float | None) -> np.ndarray:
    radius = np.array([r[5] for r in rows], dtype=float)
    if min_radius is not None:
        if not (isinstance(min_radius, int | float) and min_radius > 0.0):
            raise SwcError(f"min_radius must be a positive number, got {min_radius!r}")
        return np.maximum(radius, float(min_radius))
    bad = np.flatnonzero(radius <= 0.0)
    if bad.size:
        row = rows[int(bad[0])]
        raise SwcError(
            f"{label}, line {row[7]}: radius {row[5]:g} of point {row[0]} is not"
            f" positive ({bad.size} such point(s)); fix the file or pass"
            " min_radius=<µm> to clip radii from below"
        )
    return radius


def _topological_order(ids: list, parents: list, lines: list, label: str) -> list:
    """Parent-before-child order, smallest ready id first (= id order if pid < id)."""
    index_of: dict[int, int] = {}
    for i, pid in enumerate(ids):
        if pid in index_of:
            raise SwcError(
                f"{label}: duplicate id {pid} on lines {lines[index_of[pid]]} and"
                f" {lines[i]}; every point needs a unique id"
            )
        index_of[pid] = i
    children: dict[int, list] = {}
    ready = []
    for i, par in enumerate(parents):
        if par < 0:
            ready.append((ids[i], i))
        elif par not in index_of:
            raise SwcError(
                f"{label}, line {lines[i]}: parent id {par} of point {ids[i]} does not"
                " exist; use -1 for a root or fix the parent column"
            )
        else:
            children.setdefault(index_of[par], []).append(i)
    if not ready:
        raise SwcError(f"{label}: no root point; the soma root needs parent id -1")
    heapq.heapify(ready)
    order = []
    while ready:
        _, i = heapq.heappop(ready)
        order.append(i)
        for c in children.get(i, ()):
            heapq.heappush(ready, (ids[c], c))
    if len(order) != len(ids):
        placed = set(order)
        stuck = [i for i in range(len(ids)) if i not in placed][:8]
        where = ", ".join(f"id {ids[i]} (line {lines[i]})" for i in stuck)
        raise SwcError(
            f"{label}: the parent links form a cycle; points not connected to a root:"
            f" {where}; every point must descend from a point with parent -1"
        )
    return order


def parse_swc(fname, min_radius: float | None = None) -> SwcPoints:
    """Read and validate an SWC file (columns ``id type x y z radius parent``).

    Blank lines and ``#`` comments (also trailing ones) are ignored; ids, types and
    parents must be integers, ids unique and >= 0, any negative parent means root.
    Radii must be positive unless ``min_radius`` (µm) is given, which clips every
    radius from below. Raises ``FileNotFoundError`` for a missing file and
    :class:`SwcError` for anything wrong with the content.
    """
    text, label = _read_text(fname)
    rows = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        row = _parse_line(line, label, lineno)
        if row is not None:
            rows.append(row)
    if not rows:
        raise SwcError(f"{label}: no data lines; an SWC file needs at least one point")
    radius = _check_radius(rows, label, min_radius)
    ids = [r[0] for r in rows]
    parents = [r[6] for r in rows]
    lines = [r[7] for r in rows]
    order = np.array(_topological_order(ids, parents, lines, label), dtype=np.int64)
    return SwcPoints(
        ids=np.array(ids, dtype=np.int64)[order],
        types=np.array([r[1] for r in rows], dtype=np.int64)[order],
        xyz=np.array([r[2:5] for r in rows], dtype=float)[order],
        radius=radius[order],
        parent_ids=np.array(parents, dtype=np.int64)[order],
        line_numbers=np.array(lines, dtype=np.int64)[order],
    )


# ---------------------------------------------------------- Import3d section building


@dataclass(eq=False)
class _RawSec:
    """Import3d's section record: point indices (parent copy first if any)."""

    points: list
    swc_type: int
    parent: _RawSec | None = None
    parent_x: float = 1.0
    first: int = 0  # 1: drop the copied parent point ("wire")
    soma_diam_fix: bool = False  # copied point takes the child's first diameter


def _mark_branch(pix: list, types: list, merge_interruptions: bool = False) -> tuple[list, list]:
    """Child counts (+0.01 for non-contiguous children and type changes)."""
    nchild = [0.0] * len(pix)
    to_prox = [False] * len(pix)
    for i, p in enumerate(pix):
        if p < 0:
            continue
        nchild[p] += 1
        if p != i - 1 and not merge_interruptions:
            nchild[p] += 0.01
            grand = types[max(pix[p], 0)]
            if (p > 1 and types[p] != _SOMA and grand == _SOMA) or (p == 0 and types[0] != _SOMA):
                to_prox[i] = True
                nchild[p] = 1.0
        if types[p] != types[i]:
            nchild[p] += 0.01
    return nchild, to_prox


def _three_point_soma(pix: list, nchild: list, xyz: np.ndarray, diam: list) -> bool:
    """neuromorpho.org 3-point soma: root in the middle, two children at +-r."""
    if not (pix[1] == 0 and pix[2] == 0 and nchild[1] == 0 and nchild[2] == 0):
        return False
    if not (diam[1] == diam[0] and diam[2] == diam[0] and diam[0] > 0):
        return False
    length = sum(math.sqrt(float(np.sum((xyz[i] - xyz[0]) ** 2))) for i in (1, 2))
    return abs(length / diam[0] - 1.0) < 0.01


def _sectionify(
    pix: list, types: list, xyz: np.ndarray, diam: list | np.ndarray, merge: bool = False
):
    """Last point of every section, soma-child counts and the 3-point-soma flag."""
    n = len(pix)
    nchild, to_prox = _mark_branch(pix, types, merge)
    nchild_soma = [0] * n
    for i in range(1, n):
        if types[i] == _SOMA and pix[i] >= 0 and types[pix[i]] == _SOMA:
            nchild_soma[pix[i]] += 1
    soma3 = types.count(_SOMA) == 3 and _three_point_soma(pix, nchild, xyz, diam)
    if soma3:
        pix[2] = 1
    for i in range(n - 1):
        if types[i] == _SOMA and types[i + 1] == _SOMA and pix[i + 1] == i:
            if not (i != 0 and nchild_soma[i] > 1):
                nchild[i] = 1.0
    ends = [i for i in range(n) if nchild[i] != 1]
    return ends, nchild_soma, to_prox, soma3


def _attach(sec: _RawSec, p: int, psec: _RawSec, is_root: bool, nown: int, ctx):
    """Import3d's rules for parent location and wire (first=1) of a new section."""
    types, nchild_soma, psec_id = ctx
    con_soma = psec.swc_type == _SOMA
    den_con_soma = con_soma and sec.swc_type != _SOMA
    handled = is_root
    if is_root:
        if den_con_soma and len(psec.points) == 1:
            sec.parent_x, sec.first = 0.5, int(nown > 1)
        elif p == psec_id:
            sec.parent_x = 0.0
            sec.first = int(sec.swc_type != _SOMA and nchild_soma[p] > 1)
        else:
            handled = False
    if not handled and con_soma:
        offset = -1 if psec_id == 0 else -2
        if p < psec_id + len(psec.points) + offset:
            sec.parent_x = 0.5
            sec.first = int(den_con_soma and nown > 1)
        elif nown > 1 and nchild_soma[max(p, 0)] > 1 and sec.swc_type != _SOMA:
            sec.first = 1


def _import3d_sections(
    pts: SwcPoints, xyz: np.ndarray, diam: np.ndarray, merge: bool = False
) -> list:
    types = pts.types.tolist()
    diam = diam.tolist()
    index_of = {pid: i for i, pid in enumerate(pts.ids.tolist())}
    pix = [index_of[q] if q >= 0 else -1 for q in pts.parent_ids.tolist()]
    ends, nchild_soma, to_prox, soma3 = _sectionify(pix, types, xyz, diam, merge)
    point2sec = np.repeat(np.arange(len(ends)), np.diff([-1, *ends])).tolist()
    secs, firsts = [], []
    for s, end in enumerate(ends):
        first = ends[s - 1] + 1 if s else 0
        if s == 0:
            secs.append(_RawSec(list(range(1 if soma3 else end + 1)), types[0]))
            firsts.append(0)
            continue
        p = pix[first]
        ps = point2sec[max(p, 0)]
        psec = secs[ps]
        sec = _RawSec([max(p, 0), *range(first, end + 1)], types[first], psec)
        ctx = (types, nchild_soma, firsts[ps])
        _attach(sec, p, psec, ps == 0, end + 1 - first, ctx)
        sec.soma_diam_fix = psec.swc_type == _SOMA and sec.swc_type != _SOMA
        if to_prox[first]:
            sec.parent_x = 0.0
        secs.append(sec)
        firsts.append(first)
    return secs


def _drop_degenerate(secs: list, xyz: np.ndarray) -> list:
    """Remove non-root sections with one 3-D point or two identical ones."""
    for i in range(len(secs) - 1, -1, -1):
        sec = secs[i]
        if sec.parent is None:
            continue
        own = sec.points[sec.first :]
        if len(own) <= 1 or (len(own) == 2 and np.all(xyz[own[0]] == xyz[own[1]])):
            del secs[i]
            for child in secs[i:]:
                if child.parent is sec:
                    child.parent, child.parent_x = sec.parent, sec.parent_x
    return secs


def _as_neuron_float(values: np.ndarray) -> np.ndarray:
    """What NEURON stores after ``pt3dadd`` of a ``%.8g`` string (single precision)."""
    text = [float(f"{v:.8g}") for v in np.asarray(values, dtype=float).ravel()]
    out = np.array(text, dtype=np.float32).astype(np.float64)
    return out.reshape(np.shape(values))


def _points_3d(sec: _RawSec, xyz: np.ndarray, diam: np.ndarray) -> tuple:
    idx = list(sec.points)
    xyz, diam = xyz[idx], diam[idx]
    if sec.soma_diam_fix:
        diam[0] = diam[1]
    xyz, diam, idx = xyz[sec.first :], diam[sec.first :], idx[sec.first :]
    if len(idx) == 1:  # one-point soma -> cylinder along x with L = diam
        xyz = np.repeat(xyz, 3, axis=0)
        xyz[:, 0] += np.array([-0.5, 0.0, 0.5]) * diam[0]
        diam = np.repeat(diam, 3)
        idx = idx * 3
    return _as_neuron_float(xyz), _as_neuron_float(diam) / 2.0, idx


def _neuron_names(secs: list) -> list:
    count: dict[int, int] = {}
    names = []
    for sec in secs:
        t = sec.swc_type
        base = {1: "soma", 2: "axon", 3: "dend", 4: "apic"}.get(t)
        if base is None:
            base = f"minus_{-t}" if t < 0 else f"dend_{t}"
        names.append(f"{base}[{count.get(t, 0)}]")
        count[t] = count.get(t, 0) + 1
    return names


def _output_order(secs: list) -> list:
    """NEURON's h.allsec() order (by type, then Import3d order) if it lists parents
    before children, else Import3d's own order (which always does)."""
    order = sorted(range(len(secs)), key=lambda i: (secs[i].swc_type, i))
    pos = {id(secs[i]): k for k, i in enumerate(order)}
    ok = all(secs[i].parent is None or pos[id(secs[i].parent)] < k for k, i in enumerate(order))
    return order if ok else list(range(len(secs)))


def _split(sec: Section, max_len: float) -> list:
    """Cut a section into ceil(L / max_len) pieces of equal arc length."""
    arc = arc_lengths(sec.xyz)
    n = math.ceil(arc[-1] / max_len) if arc[-1] > max_len else 1
    if n > _MAX_PIECES:
        raise SwcError(
            f"max_branch_len={max_len} would cut section {sec.name} (L={arc[-1]:.6g}"
            f" µm) into {n} pieces; use a larger max_branch_len"
        )
    if n == 1:
        return [sec]
    cuts = np.linspace(0.0, arc[-1], n + 1)
    pieces = []
    for k in range(n):
        inner = np.flatnonzero((arc > cuts[k]) & (arc < cuts[k + 1]))
        s = np.concatenate([[cuts[k]], arc[inner], [cuts[k + 1]]])
        xyz = np.stack([np.interp(s, arc, sec.xyz[:, c]) for c in range(3)], axis=1)
        near = np.clip(np.searchsorted(arc, s), 0, len(arc) - 1)
        pieces.append(
            replace(
                sec,
                xyz=xyz,
                radius=np.interp(s, arc, sec.radius),
                name=f"{sec.name}:{k}",
                swc_ids=np.asarray(sec.swc_ids)[near],
            )
        )
    return pieces


def _split_all(sections: list, max_len: float) -> list:
    """Apply :func:`_split`; children re-attach to the piece holding parent_x."""
    if not (isinstance(max_len, int | float) and max_len > 0):
        raise SwcError(f"max_branch_len must be a positive number, got {max_len!r}")
    out, start, count = [], [], []
    for sec in sections:
        parent, px = sec.parent, sec.parent_x
        if parent >= 0:
            m = count[parent]
            k = 0 if px <= 0.0 else min(math.ceil(px * m) - 1, m - 1)
            parent, px = start[parent] + k, (0.0 if px <= 0.0 else px * m - k)
        pieces = _split(sec, max_len)
        start.append(len(out))
        count.append(len(pieces))
        for k, piece in enumerate(pieces):
            par, x = (parent, px) if k == 0 else (len(out) - 1, 1.0)
            out.append(replace(piece, parent=par, parent_x=float(x)))
    return out


def keep_types(points: SwcPoints, type_ids) -> SwcPoints:
    """Only the points whose SWC type is in ``type_ids``; children of a removed point
    hang from its nearest kept ancestor (or become roots)."""
    keep = np.isin(points.types, np.asarray(list(type_ids), dtype=np.int64))
    if not keep.any():
        raise SwcError(
            f"relevant_type_ids={list(type_ids)} keeps no point; the file has types "
            f"{sorted(set(points.types.tolist()))}."
        )
    parent_of = dict(zip(points.ids.tolist(), points.parent_ids.tolist()))
    kept = set(points.ids[keep].tolist())
    parents = []
    for pid in points.parent_ids[keep].tolist():
        while pid >= 0 and pid not in kept:
            pid = parent_of[pid]
        parents.append(pid)
    return SwcPoints(
        ids=points.ids[keep],
        types=points.types[keep],
        xyz=points.xyz[keep],
        radius=points.radius[keep],
        parent_ids=np.asarray(parents, dtype=np.int64),
        line_numbers=points.line_numbers[keep],
    )


def build_sections(
    points: SwcPoints,
    max_branch_len: float | None = None,
    *,
    merge_interruptions: bool = False,
) -> list[Section]:
    """Group SWC points into sections exactly as NEURON's Import3d does.

    Returns the sections in NEURON's ``h.allsec()`` order (grouped by SWC type in
    increasing order - soma, axon, dend, apic, ... - and within a type in Import3d's
    order) whenever that order lists every parent before its children, which is the
    case for any cell whose root is a soma; otherwise in Import3d's internal order
    (``Import3d_SWC_read.sections``), which always does. ``Section.name`` gives
    NEURON's name either way.

    ``max_branch_len`` (µm): sections longer than this are cut into
    ``ceil(L / max_branch_len)`` pieces of equal arc length (new 3-D points
    interpolated linearly, like Jaxley's ``read_swc`` option); pieces are named
    ``"<name>:<k>"`` and children re-attach to the piece holding their location.

    ``merge_interruptions``: Import3d ends a section where the file's tracing is
    interrupted (a point whose parent is not the preceding line); with True such
    points continue their parent's section instead (Jaxley's
    ``ignore_swc_tracing_interruptions=True``).
    """
    if not isinstance(points, SwcPoints) or len(points) == 0:
        raise SwcError("build_sections needs the non-empty SwcPoints of parse_swc")
    n_roots = int(np.sum(points.parent_ids < 0))
    if n_roots > 1:
        warnings.warn(
            f"SWC has {n_roots} roots; like NEURON's Import3d, every extra tree is"
            " attached to the root section",
            UserWarning,
            stacklevel=2,
        )
    # Import3d reads the file with sscanf("%f"): single precision from the start.
    xyz = points.xyz.astype(np.float32).astype(np.float64)
    diam = 2.0 * points.radius.astype(np.float32).astype(np.float64)
    raw = _drop_degenerate(_import3d_sections(points, xyz, diam, merge_interruptions), xyz)
    names = _neuron_names(raw)
    order = _output_order(raw)
    new_index = {id(raw[i]): k for k, i in enumerate(order)}
    sections = []
    for i in order:
        sec = raw[i]
        sec_xyz, radius, idx = _points_3d(sec, xyz, diam)
        sections.append(
            Section(
                xyz=sec_xyz,
                radius=radius,
                swc_type=int(sec.swc_type),
                parent=-1 if sec.parent is None else new_index[id(sec.parent)],
                parent_x=float(sec.parent_x) if sec.parent is not None else 0.0,
                name=names[i],
                swc_ids=points.ids[idx],
            )
        )
    if max_branch_len is not None:
        sections = _split_all(sections, max_branch_len)
    return sections
