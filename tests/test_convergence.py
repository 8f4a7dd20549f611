"""Temporal convergence order of the voltage schemes, and agreement of the tree solvers.

The reference is the *exact* solution of the passive cable ODE of a branched cell
(Leak channel everywhere, step current into the root). The ODE matrix is assembled
here from the geometry, independently of sim (Kirchhoff's law on compartments and
zero-capacitance branch points, which are then eliminated by a Schur complement), and
propagated with ``scipy.linalg.expm`` of the augmented matrix ``[[M, b], [0, 0]]``
over every step (the input is constant within a step). The stimulus switches on and
off on the grid of every ``dt`` used, so no scheme loses order to it; the cell is
only mildly stiff (largest |eigenvalue| ~ 9 /ms) so that all schemes are in their
asymptotic regime and forward Euler is stable for dt <= 0.1 ms.
"""

import functools

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.linalg  # noqa: E402

import sim as jx  # noqa: E402
from sim.channels import HH, Leak  # noqa: E402

PARENTS = [-1, 0, 0, 1, 1]
NCOMP = [3, 2, 3, 2, 2]
RADIUS = [1.0, 0.7, 0.5, 0.4, 0.6]  # µm, per branch
BRANCH_LENGTH = [60.0, 40.0, 50.0, 30.0, 40.0]  # µm, per branch
G_LEAK, E_LEAK, RA, CM = 5e-4, -70.0, 5000.0, 1.0
STIM, AMP, ON, OFF, T_MAX = (0, 0), 0.01, 1.0, 3.0, 6.0  # nA, ms
RECORDINGS = [(0, 0), (0, 2), (1, 1), (2, 2), (3, 1), (4, 0)]


def _passive_cell():
    cell = jx.Cell([jx.Branch(jx.Compartment(), ncomp=n) for n in NCOMP], PARENTS)
    cell.insert(Leak())
    cell.set("Leak_gLeak", G_LEAK)
    cell.set("Leak_eLeak", E_LEAK)
    cell.set("axial_resistivity", RA)
    cell.set("capacitance", CM)
    cell.set("v", E_LEAK)
    for b, (r, length, n) in enumerate(zip(RADIUS, BRANCH_LENGTH, NCOMP)):
        cell.branch(b).set("radius", r)
        cell.branch(b).set("length", length / n)
    for b, c in RECORDINGS:
        cell.branch(b).comp(c).record("v", verbose=False)
    return cell


def _cable_ode():
    """``dv/dt = M v + b0 (+ I / cap at the stimulated compartment)``, in mV/ms."""
    index, branch_of = {}, []
    for b, n in enumerate(NCOMP):
        for k in range(n):
            index[(b, k)] = len(branch_of)
            branch_of.append(b)
    ncomp = len(branch_of)
    junctions = {p: ncomp + i for i, p in enumerate(sorted({p for p in PARENTS if p >= 0}))}
    size = ncomp + len(junctions)
    laplacian = np.zeros((size, size))  # µS

    def half_resistance(b):  # MΩ: Ω·cm · µm / µm² · 1e-2
        return RA * 1e-2 * (BRANCH_LENGTH[b] / NCOMP[b] / 2) / (np.pi * RADIUS[b] ** 2)

    def link(i, j, resistance):
        g = 1.0 / resistance
        laplacian[[i, j], [i, j]] += g
        laplacian[i, j] -= g
        laplacian[j, i] -= g

    for b, n in enumerate(NCOMP):
        for k in range(n - 1):
            link(index[(b, k)], index[(b, k + 1)], 2 * half_resistance(b))
        if PARENTS[b] >= 0:
            link(index[(b, 0)], junctions[PARENTS[b]], half_resistance(b))
    for p, node in junctions.items():
        link(index[(p, NCOMP[p] - 1)], node, half_resistance(p))
    k_cc, k_cj = laplacian[:ncomp, :ncomp], laplacian[:ncomp, ncomp:]
    k_jj = laplacian[ncomp:, ncomp:]
    k_eff = k_cc - k_cj @ np.linalg.solve(k_jj, k_cj.T)
    area = np.array([2 * np.pi * RADIUS[b] * BRANCH_LENGTH[b] / NCOMP[b] for b in branch_of])
    cap = CM * area * 1e-5  # nA·ms/mV
    g_mem = G_LEAK * area * 1e-2  # µS
    m = -(k_eff + np.diag(g_mem)) / cap[:, None]
    b0 = g_mem * E_LEAK / cap
    return m, b0, cap, index


def _n_steps(dt):
    return int(round(T_MAX / dt))


def _stimulus(dt):
    """One value per step: on in steps k with ON <= k dt < OFF (exact on every grid used)."""
    k = np.arange(_n_steps(dt))
    return np.where((k >= round(ON / dt)) & (k < round(OFF / dt)), AMP, 0.0)


@functools.cache
def _exact(dt):
    m, b0, cap, index = _cable_ode()
    n = len(cap)
    propagators = {}
    for on in (False, True):
        aug = np.zeros((n + 1, n + 1))
        aug[:n, :n] = m
        aug[:n, n] = b0
        if on:
            aug[index[STIM], n] += AMP / cap[index[STIM]]
        propagators[on] = scipy.linalg.expm(aug * dt)
    v = np.append(np.full(n, E_LEAK), 1.0)
    trace = [v]
    for current in _stimulus(dt):
        v = propagators[bool(current)] @ v
        trace.append(v)
    return np.asarray(trace)[:, [index[r] for r in RECORDINGS]].T


def _max_error(solver, dt):
    cell = _passive_cell()
    cell.branch(STIM[0]).comp(STIM[1]).stimulate(_stimulus(dt), verbose=False)
    v = np.asarray(jx.integrate(cell, delta_t=dt, solver=solver))
    exact = _exact(dt)
    assert v.shape == exact.shape
    return float(np.max(np.abs(v - exact)))


def _fitted_order(dts, errors):
    return float(np.polyfit(np.log(dts), np.log(errors), 1)[0])


@pytest.mark.parametrize(
    "solver, dts, order",
    [
        ("bwd_euler", [0.2, 0.1, 0.05, 0.025], 1.0),
        ("crank_nicolson", [0.2, 0.1, 0.05, 0.025], 2.0),
        ("fwd_euler", [0.1, 0.05, 0.025, 0.0125], 1.0),  # stable: dt * 9/ms < 2
    ],
)
def test_convergence_order(solver, dts, order):
    errors = [_max_error(solver, dt) for dt in dts]
    fitted = _fitted_order(dts, errors)
    assert abs(fitted - order) <= 0.2, (solver, errors, fitted)
    # The response peaks at 4.6 mV (root) to 0.2 mV (leaves); the finest dt resolves it.
    assert errors[-1] < 0.03, errors


def test_reference_is_the_passive_cable():
    """With a small dt, CN reproduces the independent reference to ~2e-5 mV (measured 2.4e-5)."""
    assert _max_error("crank_nicolson", 0.00625) < 5e-5


# --------------------------------------------------------------------------------
# Linear solvers for the implicit step: all give the same voltages.
# --------------------------------------------------------------------------------
VOLTAGE_SOLVERS = ["jaxley.stone", "jaxley.thomas", "jaxley.dhs", "dense", "levels", "hines"]


@functools.cache
def _branched_hh_run(voltage_solver):
    parents = [-1, 0, 0, 1, 1, 2, 2, 4, 4]
    ncomp = [3, 2, 4, 1, 3, 2, 2, 3, 1]
    cell = jx.Cell([jx.Branch(jx.Compartment(), ncomp=n) for n in ncomp], parents)
    cell.insert(HH())
    for b in range(len(parents)):
        cell.branch(b).set("radius", 1.5 - 0.12 * b)
        cell.branch(b).set("length", 10.0 + 4.0 * b)
    cell.init_states()
    cell.branch(0).comp(0).stimulate(jx.step_current(0.5, 3.0, 0.2, 0.025, 5.0), verbose=False)
    cell.record("v", verbose=False)
    return np.asarray(jx.integrate(cell, t_max=5.0, delta_t=0.025, voltage_solver=voltage_solver))


@pytest.mark.parametrize("voltage_solver", VOLTAGE_SOLVERS[1:])
def test_voltage_solvers_agree(voltage_solver):
    """bwd_euler on a spiking 9-branch HH cell (crank_nicolson uses the same linear solve)."""
    reference = _branched_hh_run(VOLTAGE_SOLVERS[0])
    assert reference.max() > 0.0  # the cell spikes
    v = _branched_hh_run(voltage_solver)
    np.testing.assert_allclose(v, reference, rtol=0, atol=1e-10)
