"""Kalman filters at cell scale (inference.block_ekf, inference.dense_ekf) and the
NIS consistency check (inference.consistency)."""

import time
import warnings
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import sim as jx  # noqa: E402
from datasets.synthetic import make_branched_hh_cell  # noqa: E402
from inference.block_ekf import _within, compartment_neighbours, tree_colouring  # noqa: E402
from inference.consistency import check_nis, nis_of  # noqa: E402
from inference.dense_ekf import block_projector, dense_ekf  # noqa: E402
from inference.ssm import NeuronSSM, NoiseModel  # noqa: E402
from sim.channels import HH  # noqa: E402

DATA = Path(__file__).parents[2] / "shared/data"
CA1 = DATA / "morphologies/morph_ca1_n120.swc"
NOISE = NoiseModel(process_std={"v": 0.2, "HH_m": 1e-3, "HH_h": 1e-3, "HH_n": 1e-3})
PER_COMP = {"cluster": "comp", "coupling": "independent"}  # the dense EKF, block-projected


def _small(nbranches=5, ncomp=2, steps=240):
    cell = make_branched_hh_cell(nbranches=nbranches, ncomp=ncomp)
    soma = cell.branch(0).comp(0)
    soma.record("v", verbose=False)
    soma.stimulate(np.r_[np.zeros(40), 0.05 * np.ones(steps - 40)], verbose=False)
    ssm = NeuronSSM(cell)
    y, zs = ssm.sample(jax.random.key(0), NOISE, steps, return_states=True)
    return ssm, y, zs


def _coverage(res, zs):
    err = np.abs(np.asarray(res.filtered_means) - np.asarray(zs))
    return np.mean(err <= 1.96 * np.asarray(res.filtered_stds), axis=0)


def test_colouring_separates_compartments_within_twice_the_radius():
    cell = jx.read_swc(str(CA1), ncomp=1)
    nb = compartment_neighbours(cell.compiled())
    for radius in (1, 2):
        colours = tree_colouring(nb, radius)
        for i in range(0, len(nb), 7):
            assert all(colours[j] != colours[i] for j in _within(nb, i, 2 * radius))
    assert len(set(tree_colouring(nb, None))) == len(nb)
    with pytest.raises(ValueError, match="radius"):
        tree_colouring(nb, 0)


def test_block_ekf_equals_dense_ekf_forced_block_diagonal():
    ssm, y, _ = _small()
    exact = ssm.filter(y, NOISE, method="ekf_block", radius=None, **PER_COMP)
    z0, ap = ssm.initial_state()
    q, p0 = ssm.noise_stds(NOISE)
    project = block_projector(ssm.layout(None, "comp").blocks, ssm.state_dim)
    ref = jax.jit(
        lambda: dense_ekf(
            ssm.dynamics_fn(ap), ssm.emission_fn, z0, jnp.diag(p0**2 + 1e-12),
            jnp.diag(q**2 + 1e-12), jnp.eye(1), y, ssm.inputs(None, len(y)), project=project,
        )
    )()  # fmt: skip
    d_mean = float(jnp.max(jnp.abs(exact.filtered_means - ref.filtered_means)))
    d_std = float(jnp.max(jnp.abs(exact.filtered_stds - ref.filtered_stds)))
    d_ll = abs(float(exact.marginal_loglik - ref.marginal_loglik))
    print(f"block vs dense(block-projected): mean {d_mean:.1e} std {d_std:.1e} ll {d_ll:.1e}")
    assert d_mean < 1e-6 and d_std < 1e-6 and d_ll < 1e-5
    # coloured JVPs (the step is implicit in v, so F is dense but decays along the tree)
    for radius, tol in ((2, 2e-3), (3, 1e-5)):
        approx = ssm.filter(y, NOISE, method="ekf_block", radius=radius, **PER_COMP)
        rel = float(jnp.max(jnp.abs(approx.filtered_stds / ref.filtered_stds - 1)))
        print(f"radius {radius}: max relative std error {rel:.1e}")
        assert rel < tol


@pytest.mark.slow
def test_iekf_one_iteration_is_dynamax_ekf_and_more_iterations_run():
    ssm, y, zs = _small(nbranches=3)
    ekf = ssm.filter(y, NOISE, method="ekf")
    one = ssm.filter(y, NOISE, method="iekf", num_iter=1)
    assert float(jnp.max(jnp.abs(one.filtered_means - ekf.filtered_means))) < 1e-8
    assert abs(float(one.marginal_loglik - ekf.marginal_loglik)) < 1e-6
    three = ssm.filter(y, NOISE, method="iekf", num_iter=3)
    assert np.isfinite(float(three.marginal_loglik))
    coverage = _coverage(three, zs)
    # Measured: mean 0.94, but two gate states at 0.79 / 0.82 (iterating the
    # relinearised step makes the bands of a few gates over-confident; open).
    assert coverage.mean() > 0.9 and np.all(coverage > 0.75), coverage
    with pytest.raises(ValueError, match="Unknown filter"):
        ssm.filter(y, NOISE, method="pf")


def test_nis_is_chi_square_on_model_data_and_warns_on_a_wrong_model():
    ssm, y, _ = _small(nbranches=3)
    post = ssm.filter(y, NOISE, method="ekf")
    nis = nis_of(ssm, y, NOISE, post)
    block = ssm.filter(y, NOISE, method="ekf_block", radius=None, **PER_COMP)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = check_nis(nis, 1)
    assert report["consistent"] and report["low"] < 1 < report["high"]
    assert abs(float(nis.mean()) - float(block.nis.mean())) < 0.2
    with pytest.warns(UserWarning, match="mean NIS .* increase the process noise"):
        check_nis(nis * 5, 1)
    with pytest.warns(UserWarning, match="decrease the process"):
        check_nis(nis * 0.2, 1)


def test_nis_warns_on_an_allen_sweep_with_a_default_hh_compartment():
    path = sorted((DATA / "allen").glob("*.npz"))[0]
    with np.load(path) as d:
        dt, v, i = float(d["dt_ms"]), np.asarray(d["v_mV"], float), np.asarray(d["i_nA"], float)
        start = int(float(d["stim_on_ms"]) / dt) - 500
    v, i = v[start : start + 5000], i[start : start + 5000]  # 100 ms around the onset
    cell = jx.Cell()
    cell.insert(HH())
    cell.set("v", float(v[0]))
    cell.init_states()
    cell.record("v", verbose=False)
    cell.stimulate(i[:-1], verbose=False)
    ssm = NeuronSSM(cell, delta_t=dt)
    noise = NoiseModel(process_std={"v": 0.5}, obs_std=1.0, initial_std={"v": 5.0})
    post = ssm.filter(v, noise, method="ekf")
    with pytest.warns(UserWarning, match="inconsistent") as record:
        report = check_nis(nis_of(ssm, v, noise, post), 1)
    print(record[0].message)
    assert report["mean"] > report["high"]


@pytest.mark.slow
def test_block_filters_on_ca1_fast_and_cover_distal_voltage():
    """624 compartments (ncomp 4), 400 steps of somatic v; timing and distal coverage."""
    cell = jx.read_swc(str(CA1), ncomp=4)
    cell.insert(HH())
    cell.init_states()
    cell.branch(0).comp(0).record("v", verbose=False)
    cell.branch(0).comp(0).stimulate(np.zeros(400), verbose=False)
    ssm = NeuronSSM(cell)
    assert len(ssm.emission_index) == 1 and ssm.state_dim == 4 * 624
    noise = NoiseModel(process_std={"v": 0.05, "HH_m": 1e-4, "HH_h": 1e-4, "HH_n": 1e-4})
    y, zs = ssm.sample(jax.random.key(1), noise, 400, return_states=True)
    ssm.filter(y, noise, method="ekf_block").filtered_means.block_until_ready()
    start = time.perf_counter()
    res = ssm.filter(y, noise, method="ekf_block")
    res.filtered_means.block_until_ready()
    wall = time.perf_counter() - start
    cov = _coverage(res, zs)
    nb = compartment_neighbours(cell.compiled())
    far = _far_from_soma(nb)
    distal, nis = cov[:624][far].mean(), float(res.nis.mean())
    print(f"CA1 ekf_block: {wall:.2f} s, distal v coverage {distal:.3f}, all v "
          f"{cov[:624].mean():.3f}, gates {cov[624:].mean():.3f}, NIS {nis:.2f}")  # fmt: skip
    assert np.isfinite(np.asarray(res.filtered_means)).all()
    # per-compartment independent blocks: distal 0.64 (NIS 4.5); branch + coherent: 0.956
    assert 0.90 <= distal <= 0.99 and 0.90 <= cov[624:].mean() <= 0.99, (distal, cov.mean())
    assert wall < 4.0  # 0.4 s on an idle 2-core box; slack for shared CI machines


def test_branch_coherent_blocks_track_the_dense_ekf_on_a_small_tree():
    """The defaults (branch blocks, coherent coupling) against the dense EKF: median std
    ratio 1.05, coverage 0.954 vs the dense 0.944 (independent per-compartment blocks:
    0.98 and 0.906)."""
    ssm, y, zs = _small(steps=400)
    dense = ssm.filter(y, NOISE, method="ekf")
    sd = np.sqrt(np.diagonal(np.asarray(dense.filtered_covariances), axis1=1, axis2=2))
    block = ssm.filter(y, NOISE, method="ekf_block")
    ratio = float(np.median(np.asarray(block.filtered_stds) / sd))
    cov = float(_coverage(block, zs).mean())
    print(f"branch/coherent: std / dense median {ratio:.3f}, coverage {cov:.3f}")
    assert 0.95 < ratio < 1.15 and 0.92 <= cov <= 0.99
    assert abs(float(block.nis.mean()) - 1.0) < 0.2
    with pytest.raises(ValueError, match="coupling"):
        ssm.filter(y, NOISE, method="ekf_block", coupling="full")
    with pytest.raises(ValueError, match="cluster"):
        ssm.filter(y, NOISE, method="ekf_block", cluster="cell")


def _far_from_soma(nb):
    dist = np.full(len(nb), -1)
    dist[0], frontier = 0, [0]
    while frontier:
        nxt = []
        for i in frontier:
            for j in nb[i]:
                if dist[j] < 0:
                    dist[j] = dist[i] + 1
                    nxt.append(j)
        frontier = nxt
    return dist >= np.percentile(dist, 75)
