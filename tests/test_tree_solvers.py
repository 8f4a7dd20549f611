"""Tests for the tree-structured linear solvers in :mod:`sim.solvers.tree`."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sim.solvers import (  # noqa: E402
    DenseTreeSolver,
    LevelTreeSolver,
    SegmentTreeSolver,
    SequentialTreeSolver,
    TreeSolver,
    solver_from_name,
    tree_order,
)

# Every solver configuration under test, including the code paths a small tree
# would not reach with default settings (scan over levels, segment-sum fan-in).
SOLVER_FACTORIES = {
    "dense": DenseTreeSolver,
    "hines": SequentialTreeSolver,
    "levels": LevelTreeSolver,
    "levels_scan": lambda p: LevelTreeSolver(p, max_unrolled_levels=0),
    "levels_segsum": lambda p: LevelTreeSolver(p, max_gather_children=0),
    "levels_scan_segsum": lambda p: LevelTreeSolver(
        p, max_unrolled_levels=0, max_gather_children=0
    ),
    "levels_mixed": lambda p: LevelTreeSolver(p, max_unrolled_levels=64, max_gather_children=1),
    "segments": SegmentTreeSolver,
    "segments_scan": lambda p: SegmentTreeSolver(p, max_unrolled_rounds=0),
    "segments_levels": lambda p: SegmentTreeSolver(p, junction_solver=LevelTreeSolver),
    "segments_forced": lambda p: SegmentTreeSolver(
        p, force_junction=np.arange(len(p)) % 3 == 0, junction_solver=DenseTreeSolver
    ),
}


# --------------------------------------------------------------------------
# Helpers: trees, systems and an independent dense reference.
# --------------------------------------------------------------------------


def relabel(parent: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Rename node ``i`` to ``perm[i]``; the result is the same forest."""
    out = np.full(parent.size, -1, dtype=np.int64)
    has_parent = parent >= 0
    out[perm[has_parent]] = perm[parent[has_parent]]
    return out


def random_forest(rng: np.random.Generator, n: int, root_prob: float) -> np.ndarray:
    """Random recursive forest with shuffled (non-topological) node numbers."""
    parent = np.array([-1] + [rng.integers(0, i) for i in range(1, n)])
    parent[rng.random(n) < root_prob] = -1
    return relabel(parent, rng.permutation(n))


def chain(n: int) -> np.ndarray:
    return np.arange(-1, n - 1)


def star(n: int) -> np.ndarray:
    return np.array([-1] + [0] * (n - 1))


def dendrite(rng: np.random.Generator, n: int) -> np.ndarray:
    """Deep tree of 3-node sections, like a discretised dendrite."""
    parent, ends = [-1], [0]
    while len(parent) < n:
        attach = ends[-min(len(ends), 1 + int(rng.geometric(0.2)))]
        for _ in range(min(3, n - len(parent))):
            parent.append(attach)
            attach = len(parent) - 1
        ends.append(attach)
    return relabel(np.array(parent), rng.permutation(n))


def random_system(
    rng: np.random.Generator, parent: np.ndarray, clamp_prob: float = 0.2
) -> tuple[np.ndarray, ...]:
    """Non-symmetric, diagonally dominant coefficients with some clamped rows."""
    n = parent.size
    lower = rng.uniform(-1.0, 1.0, n)
    upper = rng.uniform(-1.0, 1.0, n)
    lower[rng.random(n) < clamp_prob] = 0.0  # clamped: row decoupled from parent
    off = np.abs(lower) * (parent >= 0)
    np.add.at(off, parent[parent >= 0], np.abs(upper[parent >= 0]))
    sign = np.where(rng.random(n) < 0.2, -1.0, 1.0)
    diag = sign * (off + rng.uniform(0.5, 2.0, n))
    rhs = rng.normal(size=n) * 10.0 ** rng.uniform(-2, 2, n)
    # Roots' lower/upper are ignored by definition: fill them with garbage.
    lower[parent < 0] = 123.0
    upper[parent < 0] = -77.0
    return diag, lower, upper, rhs


def dense_matrix(parent, diag, lower, upper, xp=np):
    """Dense system matrix, built independently of the solvers."""
    n = parent.size
    child = np.flatnonzero(parent >= 0)
    if xp is np:
        mat = np.diag(np.asarray(diag, dtype=float))
        mat[child, parent[child]] = lower[child]
        mat[parent[child], child] = upper[child]
        return mat
    mat = jnp.zeros((n, n), diag.dtype).at[np.arange(n), np.arange(n)].set(diag)
    mat = mat.at[child, parent[child]].set(lower[child])
    return mat.at[parent[child], child].set(upper[child])


def assert_matches_reference(parent, system, x):
    mat = dense_matrix(parent, *system[:3])
    ref = np.linalg.solve(mat, system[3])
    scale = np.abs(ref).max() + 1e-300
    np.testing.assert_allclose(np.asarray(x), ref, rtol=1e-10, atol=1e-12 * scale)
    # The residual of the returned solution is tiny as well.
    resid = mat @ np.asarray(x) - system[3]
    assert np.abs(resid).max() <= 1e-10 * (np.abs(system[3]).max() + 1.0)


@st.composite
def forests(draw, max_nodes: int = 24) -> np.ndarray:
    """Parent arrays of random forests (chains, stars, bushes, many roots)."""
    n = draw(st.integers(min_value=1, max_value=max_nodes))
    kind = draw(st.sampled_from(["any", "chain", "star", "forest"]))
    if kind == "chain":
        parent = chain(n)
    elif kind == "star":
        parent = star(n)
    else:
        # Node i attaches to an earlier node (or is a root), then relabel.
        root_bias = 0.3 if kind == "forest" else 0.05
        parent = np.array(
            [-1]
            + [
                -1
                if draw(st.floats(0, 1)) < root_bias
                else draw(st.integers(min_value=0, max_value=i - 1))
                for i in range(1, n)
            ]
        )
    perm = np.array(draw(st.permutations(range(n))))
    return relabel(parent, perm)


# --------------------------------------------------------------------------
# Correctness against a dense solve.
# --------------------------------------------------------------------------


# Each example compiles one solver (XLA compiles dominate the run time), so the
# configuration is drawn alongside the tree instead of looping over all of them.
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    parent=forests(),
    seed=st.integers(0, 2**32 - 1),
    solver=st.sampled_from(sorted(SOLVER_FACTORIES)),
)
def test_random_forests_match_dense(parent, seed, solver):
    rng = np.random.default_rng(seed)
    system = random_system(rng, parent)
    x = SOLVER_FACTORIES[solver](parent).solve(*system)
    assert_matches_reference(parent, system, x)


@settings(max_examples=50, deadline=None)
@given(parent=forests(max_nodes=40))
def test_tree_order_is_topological(parent):
    tree = tree_order(parent)
    position = np.empty(parent.size, dtype=int)
    position[tree.order] = np.arange(parent.size)
    has_parent = parent >= 0
    assert np.all(position[parent[has_parent]] < position[has_parent])
    assert np.all(tree.depth[has_parent] == tree.depth[parent[has_parent]] + 1)
    assert np.all(tree.depth[~has_parent] == 0)
    assert sorted(tree.order.tolist()) == list(range(parent.size))


def _large_trees() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2024)
    return {
        "random": random_forest(rng, 500, root_prob=0.0),
        "forest": random_forest(rng, 500, root_prob=0.02),
        "chain": relabel(chain(500), rng.permutation(500)),
        "star": star(500),
        "dendrite": dendrite(rng, 500),
    }


LARGE_TREES = _large_trees()


@pytest.mark.parametrize("tree", sorted(LARGE_TREES))
@pytest.mark.parametrize("solver", ["hines", "levels", "levels_scan"])
def test_large_trees_match_dense(tree, solver):
    parent = LARGE_TREES[tree]
    system = random_system(np.random.default_rng(7), parent)
    x = SOLVER_FACTORIES[solver](parent).solve(*system)
    assert_matches_reference(parent, system, x)


@pytest.mark.parametrize("tree", ["dendrite", "star"])
def test_large_dense_solver(tree):
    parent = LARGE_TREES[tree]
    system = random_system(np.random.default_rng(7), parent)
    assert_matches_reference(parent, system, DenseTreeSolver(parent).solve(*system))


def test_level_solver_picks_scan_for_deep_trees():
    assert not LevelTreeSolver(chain(10), max_unrolled_levels=16).use_scan
    assert LevelTreeSolver(chain(17), max_unrolled_levels=16).use_scan
    deep = LevelTreeSolver(LARGE_TREES["dendrite"])
    assert deep.use_scan and deep.num_levels > 16


def test_float32_inputs_give_float32_accurate_result():
    parent = LARGE_TREES["dendrite"]
    system = random_system(np.random.default_rng(3), parent)
    ref = np.linalg.solve(dense_matrix(parent, *system[:3]), system[3])
    for name in ("hines", "levels", "levels_scan_segsum"):
        args = [jnp.asarray(a, dtype=jnp.float32) for a in system]
        x = SOLVER_FACTORIES[name](parent).solve(*args)
        assert x.dtype == jnp.float32
        np.testing.assert_allclose(x, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())


# --------------------------------------------------------------------------
# Transformations: grad, jacfwd, vmap.
# --------------------------------------------------------------------------


def _loss_fn(solve):
    def loss(diag, lower, upper, rhs):
        x = solve(diag, lower, upper, rhs)
        return jnp.sum(jnp.sin(x) * jnp.arange(1.0, x.size + 1.0))

    return loss


GRAD_PARENT = relabel(
    np.array([-1, 0, 1, 1, 3, 3, -1, 6, 6, 8, 2, 10, 10, 12, 4]),
    np.random.default_rng(5).permutation(15),
)


def adjoint_reference(parent, diag, lower, upper, rhs):
    """Gradients of the test loss and Jacobians, by the adjoint method in numpy.

    With ``A x = rhs`` and ``g = dloss/dx``, ``lam = A^-T g`` gives
    ``dloss/drhs = lam`` and ``dloss/dA = -outer(lam, x)``; likewise
    ``dx/drhs = A^-1`` and ``dx/ddiag[i] = -A^-1[:, i] x[i]``.
    """
    mat = dense_matrix(parent, diag, lower, upper)
    x = np.linalg.solve(mat, rhs)
    g = np.cos(x) * np.arange(1.0, x.size + 1.0)
    lam = np.linalg.solve(mat.T, g)
    child = parent >= 0
    grad_lower = np.zeros_like(x)
    grad_upper = np.zeros_like(x)
    grad_lower[child] = -lam[child] * x[parent[child]]
    grad_upper[child] = -lam[parent[child]] * x[child]
    grads = (-lam * x, grad_lower, grad_upper, lam)
    inv = np.linalg.inv(mat)
    return grads, (-inv * x[None, :], inv)


@pytest.mark.parametrize("solver", sorted(SOLVER_FACTORIES))
def test_grad_and_jacfwd_match_adjoint(solver):
    parent = GRAD_PARENT
    system = random_system(np.random.default_rng(11), parent)
    grads_ref, jac_ref = adjoint_reference(parent, *system)
    args = [jnp.asarray(a) for a in system]
    solve = SOLVER_FACTORIES[solver](parent).solve

    @jax.jit
    def grad_and_jac(*a):
        grads = jax.grad(_loss_fn(solve), argnums=(0, 1, 2, 3))(*a)
        return grads, jax.jacfwd(solve, argnums=(0, 3))(*a)

    got, jac = grad_and_jac(*args)
    for g, r in zip(got, grads_ref, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-11)
    # Root couplings do not enter the system, so their gradient is exactly 0.
    roots = parent < 0
    assert np.all(np.asarray(got[1])[roots] == 0)
    assert np.all(np.asarray(got[2])[roots] == 0)
    for j, r in zip(jac, jac_ref, strict=True):
        np.testing.assert_allclose(j, r, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("solver", ["hines", "levels_scan"])
def test_grad_float32(solver):
    parent = GRAD_PARENT
    system = random_system(np.random.default_rng(12), parent)
    args64 = [jnp.asarray(a) for a in system]
    args32 = [a.astype(jnp.float32) for a in args64]
    solve = SOLVER_FACTORIES[solver](parent).solve
    grad = jax.jit(jax.grad(_loss_fn(solve), argnums=(0, 3)))
    for g32, g64 in zip(grad(*args32), grad(*args64), strict=True):
        assert g32.dtype == jnp.float32
        np.testing.assert_allclose(g32, g64, rtol=2e-3, atol=1e-4 * np.abs(g64).max())


@pytest.mark.parametrize("solver", ["hines", "levels", "levels_scan", "dense"])
def test_vmap_over_batch(solver):
    parent = random_forest(np.random.default_rng(8), 40, root_prob=0.05)
    rng = np.random.default_rng(9)
    batch = [random_system(rng, parent) for _ in range(4)]
    stacked = [jnp.asarray(np.stack(col)) for col in zip(*batch, strict=True)]
    solve = SOLVER_FACTORIES[solver](parent).solve
    xs = jax.jit(jax.vmap(solve))(*stacked)
    assert xs.shape == (4, parent.size)
    for system, x in zip(batch, xs, strict=True):
        assert_matches_reference(parent, system, x)
    # Broadcasting one tree's coefficients against a batch of right-hand sides.
    xs_rhs = jax.vmap(solve, in_axes=(None, None, None, 0))(*batch[0][:3], stacked[3])
    for system, x in zip(batch, xs_rhs, strict=True):
        assert_matches_reference(parent, (*batch[0][:3], system[3]), x)


# --------------------------------------------------------------------------
# Construction, names and validation.
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("jaxley.stone", SegmentTreeSolver),
        ("jaxley.dhs", SegmentTreeSolver),
        ("jaxley.dhs.cpu", SegmentTreeSolver),
        ("jaxley.dhs.gpu", SegmentTreeSolver),
        ("segments", SegmentTreeSolver),
        ("jax.sparse", DenseTreeSolver),
        ("levels", LevelTreeSolver),
        ("jaxley.thomas", SequentialTreeSolver),
        ("hines", SequentialTreeSolver),
        ("dense", DenseTreeSolver),
    ],
)
def test_solver_from_name(name, cls):
    solver = solver_from_name(name, chain(4))
    assert type(solver) is cls
    assert isinstance(solver, TreeSolver)
    assert solver.num_nodes == 4


def test_solver_from_class():
    assert type(solver_from_name(SequentialTreeSolver, chain(3))) is SequentialTreeSolver


@pytest.mark.parametrize("bad", ["jaxley.banana", "Hines", "", 3, TreeSolver, int])
def test_solver_from_name_rejects_unknown(bad):
    with pytest.raises(ValueError, match="valid names|TreeSolver"):
        solver_from_name(bad, chain(3))


def test_unknown_name_message_lists_valid_names():
    with pytest.raises(ValueError) as info:
        solver_from_name("nope", chain(3))
    message = str(info.value)
    assert "'nope'" in message
    for name in ("jaxley.stone", "jaxley.dhs", "jaxley.thomas", "levels", "hines"):
        assert name in message


@pytest.mark.parametrize(
    ("parent", "match"),
    [
        (np.array([[-1, 0]]), "1-D"),
        (np.array([], dtype=int), "at least one"),
        (np.array([-1.0, 0.0]), "integer"),
        (np.array([-1, 2]), r"\[-1, 2\)"),
        (np.array([-2, 0]), r"\[-1, 2\)"),
        (np.array([-1, 1]), "own parent"),
        (np.array([-1, 2, 1]), "cycle"),
        (np.array([1, 2, 0]), "cycle"),
        (np.array([-1, 0, 3, 4, 2]), "cycle"),
    ],
)
@pytest.mark.parametrize("cls", [DenseTreeSolver, SequentialTreeSolver, LevelTreeSolver])
def test_invalid_parent_raises(cls, parent, match):
    with pytest.raises(ValueError, match=match):
        cls(parent)


def test_wrong_coefficient_shape_raises():
    solver = LevelTreeSolver(chain(5))
    ones = jnp.ones(5)
    with pytest.raises(ValueError, match="shape"):
        solver.solve(ones, ones, ones, jnp.ones(4))


def test_accepts_python_lists_and_int32():
    parent = np.array([-1, 0, 0, 1])
    system = random_system(np.random.default_rng(0), parent)
    x_list = LevelTreeSolver(parent.tolist()).solve(*system)
    x_i32 = SequentialTreeSolver(parent.astype(np.int32)).solve(*system)
    np.testing.assert_allclose(x_list, x_i32, rtol=1e-12)


# --------------------------------------------------------------------------
# Balanced rooting of unbranched chains (segment solver).
# --------------------------------------------------------------------------


def test_balanced_parent_reroots_chains_at_their_middle():
    from sim.solvers.segments import balanced_parent

    np.testing.assert_array_equal(balanced_parent(chain(4)), [1, -1, 1, 2])
    np.testing.assert_array_equal(balanced_parent(chain(5)), [1, 2, -1, 2, 3])
    # two chains in one forest, numbered in any order
    forest = np.array([-1, 0, 1, 2, -1, 4, 5, 6, 7])
    np.testing.assert_array_equal(balanced_parent(forest), [1, -1, 1, 2, 5, 6, -1, 6, 7])
    np.testing.assert_array_equal(balanced_parent(chain(2)), chain(2))  # nothing to gain
    np.testing.assert_array_equal(balanced_parent(star(5)), star(5))  # branched: unchanged
    forced = np.zeros(6, bool)
    forced[3] = True
    np.testing.assert_array_equal(balanced_parent(chain(6), forced), chain(6))


@pytest.mark.parametrize("n", [3, 4, 9, 40, 101])
def test_rerooted_chains_match_dense_in_both_orientations(n):
    rng = np.random.default_rng(n)
    parent = relabel(chain(n), rng.permutation(n))
    solver = SegmentTreeSolver(parent)
    assert solver._rerooted and solver.layout.max_length == n // 2
    system = random_system(rng, parent, clamp_prob=0.0)
    assert_matches_reference(parent, system, solver.solve(*system))
    d, lo, up, b = system  # the transposed system (reverse mode solves with it)
    assert_matches_reference(parent, (d, up, lo, b), solver.solve(d, up, lo, b))


def test_networks_of_unbranched_cells_need_no_permutation():
    import sim as jx

    cell = jx.Cell(jx.Branch(jx.Compartment(), ncomp=8), parents=[-1])
    net = jx.Network([cell for _ in range(3)])
    net.cell(0).branch(0).comp(0).record("v", verbose=False)
    jx.integrate(net, delta_t=0.025, t_max=0.1)
    solver = net._engine().step.solver
    assert isinstance(solver, SegmentTreeSolver)
    assert solver._rerooted and not solver._permuted  # compile numbered it round-major
    assert solver.layout.max_length == 4  # 7 rounds from an end, 4 from the middle
