"""Gradients through ``jx.integrate`` against central finite differences (float64).

A spiking 3-branch x 2-compartment HH cell, 5 ms. The discrete simulation is a
smooth function of every parameter (no thresholds or events), so central
differences with a relative step of 1e-6 are accurate to ~1e-9 relative here
(truncation ~ eps^2, round-off ~ 1e-16 / eps), well inside the 1e-5 tolerance.
"""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import sim as jx  # noqa: E402
from sim.channels import HH  # noqa: E402

DT, T_MAX = 0.025, 5.0
N_STEPS = int(T_MAX // DT + 1)  # 200 steps -> 201 samples
FD_REL_STEP = 1e-6
GRAD_RTOL = 1e-5

BRANCH_TRAINABLES = ("HH_gNa", "radius", "length")  # one value per branch
CELL_TRAINABLES = ("HH_gK", "HH_gLeak", "axial_resistivity", "capacitance")  # one per cell


def _cell():
    cell = jx.Cell([jx.Branch(jx.Compartment(), ncomp=2)] * 3, [-1, 0, 0])
    cell.insert(HH())
    cell.branch(1).set("radius", 0.6)
    cell.branch(2).set("length", 15.0)
    cell.init_states()
    current = jx.step_current(0.5, 3.0, 0.05, DT, T_MAX)  # one spike in every branch
    cell.branch(0).comp(0).stimulate(current, verbose=False)
    for b in range(3):
        cell.branch(b).comp(1).record("v", verbose=False)
    return cell


def _trainable_cell():
    cell = _cell()
    for key in BRANCH_TRAINABLES:
        cell.branch("all").make_trainable(key, verbose=False)
    for key in CELL_TRAINABLES:
        cell.make_trainable(key, verbose=False)
    return cell


def _central_differences(f, x: np.ndarray) -> np.ndarray:
    """Central differences of a scalar f of a flat float64 vector, relative step."""
    grad = np.zeros_like(x)
    for j in range(x.size):
        step = FD_REL_STEP * abs(x[j])
        up, down = x.copy(), x.copy()
        up[j] += step
        down[j] -= step
        grad[j] = (float(f(up)) - float(f(down))) / (2 * step)
    return grad


def _relative_errors(grad, fd):
    return np.abs(grad - fd) / np.abs(fd)


def _flatten(params):
    """get_parameters() list -> flat vector, and the inverse."""
    keys = [next(iter(p)) for p in params]
    sizes = [int(np.size(p[k])) for p, k in zip(params, keys)]
    flat = np.concatenate([np.asarray(p[k], dtype=float).reshape(-1) for p, k in zip(params, keys)])

    def unflatten(x):
        out, start = [], 0
        for k, n in zip(keys, sizes):
            out.append({k: x[start : start + n]})
            start += n
        return out

    return flat, unflatten, keys, sizes


def test_grad_wrt_trainables_matches_finite_differences():
    cell = _trainable_cell()
    params = cell.get_parameters()
    assert [next(iter(p)) for p in params] == [*BRANCH_TRAINABLES, *CELL_TRAINABLES]
    flat, unflatten, keys, sizes = _flatten(params)

    def loss(x):
        v = jx.integrate(cell, params=unflatten(x), delta_t=DT, t_max=T_MAX)
        return jnp.mean(v)

    v = jx.integrate(cell, params=params, delta_t=DT, t_max=T_MAX)
    assert float(jnp.max(v)) > 20.0  # spikes
    grad = np.asarray(jax.jit(jax.grad(loss))(jnp.asarray(flat)))
    fd = _central_differences(jax.jit(loss), flat)
    errors = _relative_errors(grad, fd)
    names = [f"{k}[{i}]" for k, n in zip(keys, sizes) for i in range(n)]
    assert np.all(errors < GRAD_RTOL), dict(zip(names, errors))


def _data_set_loss(cell, target):
    """Squared error to `target` as a function of 7 values set with ``data_set``."""

    def loss(vals):
        ps = cell.branch(1).data_set("HH_gNa", vals[0], None)
        ps = cell.data_set("HH_gK", vals[1], ps)
        ps = cell.branch(2).data_set("HH_gLeak", vals[2], ps)
        ps = cell.branch(2).data_set("radius", vals[3], ps)
        ps = cell.branch(0).data_set("length", vals[4], ps)
        ps = cell.data_set("axial_resistivity", vals[5], ps)
        ps = cell.branch(1).data_set("capacitance", vals[6], ps)
        v = jx.integrate(cell, param_state=ps, delta_t=DT, t_max=T_MAX)
        return jnp.mean((v - target) ** 2)

    return loss


DATA_SET_VALUES = np.array([0.1, 0.04, 4e-4, 0.8, 12.0, 4000.0, 1.2])


def test_grad_wrt_data_set_matches_finite_differences():
    cell = _cell()
    target = jx.integrate(cell, delta_t=DT, t_max=T_MAX)  # the defaults; values differ
    loss = _data_set_loss(cell, target)
    grad = np.asarray(jax.jit(jax.grad(loss))(jnp.asarray(DATA_SET_VALUES)))
    fd = _central_differences(jax.jit(loss), DATA_SET_VALUES)
    errors = _relative_errors(grad, fd)
    assert np.all(errors < GRAD_RTOL), errors


@pytest.fixture(scope="module")
def checkpoint_setup():
    """The trainable cell, its parameters, a jitted gradient function and the plain gradient."""
    cell = _trainable_cell()
    params = cell.get_parameters()

    def loss(p, checkpoint_lengths):
        lengths = None if checkpoint_lengths is None else list(checkpoint_lengths)
        v = jx.integrate(cell, params=p, delta_t=DT, t_max=T_MAX, checkpoint_lengths=lengths)
        assert v.shape == (3, N_STEPS + 1)
        return jnp.mean(v**2)

    grad_fn = jax.jit(jax.grad(loss), static_argnums=1)
    return params, grad_fn, grad_fn(params, None)


@pytest.mark.parametrize("lengths", [(20, 10), (3, 70)])  # exact, and padded (210 > 200)
def test_checkpointed_gradient_equals_plain(checkpoint_setup, lengths):
    params, grad_fn, plain = checkpoint_setup
    checkpointed = grad_fn(params, lengths)
    for a, b in zip(jax.tree_util.tree_leaves(plain), jax.tree_util.tree_leaves(checkpointed)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-10, atol=0)


def test_jit_integrate_equals_eager():
    cell = _trainable_cell()
    params = cell.get_parameters()
    eager = np.asarray(jx.integrate(cell, params=params, delta_t=DT, t_max=T_MAX))
    jitted = jax.jit(lambda p: jx.integrate(cell, params=p, delta_t=DT, t_max=T_MAX))
    np.testing.assert_allclose(np.asarray(jitted(params)), eager, rtol=0, atol=1e-9)
    # New values reuse the compiled function and change the result.
    changed = [{k: v * 1.01} for p in params for k, v in p.items()]
    assert not np.allclose(np.asarray(jitted(changed)), eager)
