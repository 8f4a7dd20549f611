"""Calcium diffusion along a cell (``cell.diffuse("CaCon_i")``) against an independent
backward-Euler finite-volume solution built with ``scipy.sparse``.

Finite volumes, derived from the geometry only (not from sim's code): compartment
``i`` is a cylinder of radius ``r_i``, length ``L_i`` and volume ``V_i = pi r_i² L_i``
(µm³). The diffusive flux between the centres of two touching compartments passes
two half cylinders in series, each a "resistance" ``(L/2) / (D pi r²)`` (ms/µm³), so

    G_ij = 1 / ((L_i/2) / (D_i pi r_i²) + (L_j/2) / (D_j pi r_j²))        (µm³/ms)

At the end of a branch with children (sim: children attach at x = 1) a junction node
of zero volume joins the parent's last and every child's first compartment with the
half-cylinder conductances; its balance is algebraic. One backward-Euler step of
``V dC/dt = sum_j G_ij (C_j - C_i) - V k (C_i - C_min)`` is

    (V/dt + k V + Lap) C_new = V/dt C_old + k V C_min,

with ``Lap`` the weighted graph Laplacian, solved with a sparse LU. This is also what
``sim/core/params.py`` computes (``edge_conductances`` with resistivity ``1 / D``): no
difference in the discretisation was found.
"""

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from scipy.sparse.linalg import splu  # noqa: E402

import sim as jx  # noqa: E402
from sim.pumps import CaNernstReversal, CaPump  # noqa: E402

KEY = "CaCon_i"
DT = 0.025


def _fv_operators(parents, comps):
    """Volumes (compartments, then junctions) and the sparse Laplacian.

    ``comps[b]`` is a list of ``(radius, length, D)`` per compartment of branch ``b``.
    Returns ``volume`` (zeros for junctions), ``lap`` and the node index of every
    ``(branch, comp)``.
    """
    node, volume = {}, []
    for b, rows in enumerate(comps):
        for k, (r, length, _) in enumerate(rows):
            node[(b, k)] = len(volume)
            volume.append(np.pi * r**2 * length)
    half = {
        key: (comps[key[0]][key[1]][1] / 2)
        / (comps[key[0]][key[1]][2] * np.pi * comps[key[0]][key[1]][0] ** 2)
        for key in node
    }
    edges = []  # (i, j, conductance)
    for b, rows in enumerate(comps):
        for k in range(len(rows) - 1):
            edges.append((node[(b, k)], node[(b, k + 1)], 1 / (half[(b, k)] + half[(b, k + 1)])))
    for p in sorted({p for p in parents if p >= 0}):
        junction = len(volume)
        volume.append(0.0)
        last = (p, len(comps[p]) - 1)
        edges.append((node[last], junction, 1 / half[last]))
        for b, parent in enumerate(parents):
            if parent == p:
                edges.append((junction, node[(b, 0)], 1 / half[(b, 0)]))
    n = len(volume)
    i, j, g = (np.array(x) for x in zip(*edges))
    adj = sp.coo_matrix((np.r_[g, g], (np.r_[i, j], np.r_[j, i])), shape=(n, n)).tocsc()
    lap = sp.diags(np.asarray(adj.sum(axis=1)).ravel()) - adj
    return np.asarray(volume), lap.tocsc(), node


def _fv_backward_euler(parents, comps, c0, n_steps, decay=None, c_min=0.0):
    """Concentrations of all compartments at samples 0..n_steps, shape (ncomp, n+1)."""
    volume, lap, node = _fv_operators(parents, comps)
    ncomp = len(node)
    k = 0.0 if decay is None else 1.0 / decay
    lhs = sp.diags(volume / DT + k * volume) + lap
    lu = splu(lhs.tocsc())
    c = np.zeros(volume.size)
    c[:ncomp] = c0
    out = [c[:ncomp].copy()]
    for _ in range(n_steps):
        c = lu.solve(volume / DT * c + k * volume * c_min)
        out.append(c[:ncomp].copy())
    return np.stack(out, axis=1), volume[:ncomp]


def _record_all(cell, comps):
    for b, rows in enumerate(comps):
        for k in range(len(rows)):
            cell.branch(b).comp(k).record(KEY, verbose=False)


def test_seed003_diffuse_example_matches_finite_volumes():
    """The seed document's example, run as written (defaults: r = 1 µm, L = 10 µm, D = 1)."""
    comp = jx.Compartment()
    branch = jx.Branch(comp, ncomp=2)
    cell = jx.Cell(branch, parents=[-1, 0])
    cell.insert(CaNernstReversal())
    cell.diffuse("CaCon_i")  # Diffuse calcium ions through the cell
    cell.branch(0).set("CaCon_i", 0.2)
    cell.record("CaCon_i")
    simulated = np.asarray(jx.integrate(cell, t_max=5.0))

    nodes = cell.nodes
    assert np.allclose(nodes["radius"], 1.0) and np.allclose(nodes["length"], 10.0)
    assert np.allclose(nodes[f"axial_diffusion_{KEY}"], 1.0)
    comps = [[(1.0, 10.0, 1.0)] * 2] * 2
    n_steps = simulated.shape[1] - 1
    assert n_steps == int(5.0 // DT) + 1
    ref, volume = _fv_backward_euler([-1, 0], comps, [0.2, 0.2, 5e-5, 5e-5], n_steps)
    np.testing.assert_allclose(simulated, ref, rtol=1e-8, atol=0)
    assert simulated[2, -1] > 1e-3  # calcium reached the second branch
    mass = volume @ simulated
    np.testing.assert_allclose(mass, mass[0], rtol=1e-12, atol=0)


# A branched cell: a real branch point (0 -> 1, 2), a single-child junction (1 -> 3),
# per-branch radii, lengths and diffusion constants and a tapering branch.
PARENTS = [-1, 0, 0, 1]
NCOMP = [3, 2, 4, 2]
RADII = [[1.5, 1.5, 1.5], [0.8, 0.8], [1.2, 1.0, 0.8, 0.6], [0.5, 0.5]]
LENGTHS = [6.0, 4.0, 5.0, 3.0]  # per compartment of each branch (µm)
DIFFUSION = [2.0, 0.5, 1.0, 3.0]  # µm²/ms
T_MAX = 5.0


def _branched_cell(with_pump=False):
    cell = jx.Cell([jx.Branch(jx.Compartment(), ncomp=n) for n in NCOMP], PARENTS)
    cell.insert(CaNernstReversal())
    if with_pump:
        cell.insert(CaPump())
        cell.set("i_Ca", 0.0)  # no calcium current: pure first-order removal
    cell.diffuse(KEY)
    for b in range(len(NCOMP)):
        cell.branch(b).set("radius", np.asarray(RADII[b]))
        cell.branch(b).set("length", LENGTHS[b])
        cell.branch(b).set(f"axial_diffusion_{KEY}", DIFFUSION[b])
    c0 = [np.linspace(0.05, 0.15, n) * (b + 1) for b, n in enumerate(NCOMP)]
    for b in range(len(NCOMP)):
        cell.branch(b).set(KEY, c0[b])
    comps = [
        [(RADII[b][k], LENGTHS[b], DIFFUSION[b]) for k in range(NCOMP[b])]
        for b in range(len(NCOMP))
    ]
    _record_all(cell, comps)
    return cell, comps, np.concatenate(c0)


@pytest.fixture(scope="module")
def branched():
    cell, comps, c0 = _branched_cell()
    return comps, c0, np.asarray(jx.integrate(cell, delta_t=DT, t_max=T_MAX))


def test_branched_diffusion_matches_finite_volumes_and_conserves_mass(branched):
    comps, c0, simulated = branched
    ref, volume = _fv_backward_euler(PARENTS, comps, c0, simulated.shape[1] - 1)
    np.testing.assert_allclose(simulated[:, 0], c0, rtol=1e-15)
    np.testing.assert_allclose(simulated, ref, rtol=1e-8, atol=0)
    # The concentrations change substantially (the test would see a wrong coupling).
    assert np.max(np.abs(simulated[:, -1] - c0) / c0) > 0.3
    mass = volume @ simulated
    np.testing.assert_allclose(mass, mass[0], rtol=1e-12, atol=0)


def test_diffusion_with_pump_removal_matches_finite_volumes():
    """CaPump without influx: ``dC/dt = -(C - 1e-4) / 80`` in every compartment, solved
    implicitly together with diffusion; total mass relaxes as the pump prescribes."""
    cell, comps, c0 = _branched_cell(with_pump=True)
    simulated = np.asarray(jx.integrate(cell, delta_t=DT, t_max=T_MAX))
    n_steps = simulated.shape[1] - 1
    ref, volume = _fv_backward_euler(PARENTS, comps, c0, n_steps, decay=80.0, c_min=1e-4)
    np.testing.assert_allclose(simulated, ref, rtol=1e-8, atol=0)
    # Mass balance of the discrete scheme: M_{n+1} (1 + dt/80) = M_n + dt/80 * 1e-4 V.
    mass = volume @ simulated
    expected = (mass[:-1] + DT / 80.0 * 1e-4 * volume.sum()) / (1 + DT / 80.0)
    np.testing.assert_allclose(mass[1:], expected, rtol=1e-12, atol=0)
    assert mass[-1] < 0.95 * mass[0]


@pytest.mark.parametrize("scale", [0.0, 1.0])
def test_finite_volume_reference_detects_wrong_coupling(branched, scale):
    """Self-check of the reference: doubling one diffusion constant is visible at > 1e-3."""
    volume, lap, _ = _fv_operators(PARENTS, [[(1.0, 5.0, 1.0)] * n for n in NCOMP])
    assert np.allclose(lap.sum(axis=1), 0.0)  # a Laplacian (mass-conserving)
    comps, c0, simulated = branched
    perturbed = [list(rows) for rows in comps]
    r, length, d = perturbed[1][0]
    perturbed[1][0] = (r, length, d * (1 + scale))
    ref, _ = _fv_backward_euler(PARENTS, perturbed, c0, simulated.shape[1] - 1)
    err = np.max(np.abs(simulated - ref) / ref)
    assert (err > 1e-3) if scale else (err < 1e-8)
