"""Bijectors and ParamTransform: round trips, log-det-Jacobians against jax.jacfwd,
stability at extreme unconstrained values, and input checks."""

import math

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

from inference.transforms import (  # noqa: E402
    Exp,
    Identity,
    ParamTransform,
    Sigmoid,
    Softplus,
    SoftplusUpper,
    bijector_for_bounds,
)

BIJECTORS = [
    Identity(),
    Exp(),
    Exp(low=-70.0),
    Softplus(),
    Softplus(low=1e-3),
    SoftplusUpper(high=-10.0),
    Sigmoid(0.0, 1.0),
    Sigmoid(-80.0, 40.0),
    Sigmoid(1e-6, 2e-6),
]
U = np.linspace(-8.0, 8.0, 33)


@pytest.mark.parametrize("bij", BIJECTORS, ids=repr)
def test_inverse_of_forward_is_identity(bij):
    x = bij.forward(U)
    np.testing.assert_allclose(bij.inverse(x), U, rtol=1e-9, atol=1e-8)
    np.testing.assert_allclose(bij.forward(bij.inverse(x)), x, rtol=1e-12, atol=0)


@pytest.mark.parametrize("bij", BIJECTORS, ids=repr)
def test_log_det_jacobian_matches_autodiff(bij):
    deriv = jax.vmap(jax.jacfwd(bij.forward))(jnp.asarray(U))
    np.testing.assert_allclose(bij.log_det_jacobian(U), np.log(np.abs(deriv)), atol=1e-10)


@pytest.mark.parametrize("bij", BIJECTORS, ids=repr)
def test_vector_log_det_equals_full_jacobian(bij):
    u = jnp.array([-3.0, -0.5, 0.0, 1.7, 4.2])
    _, logdet = jnp.linalg.slogdet(jax.jacfwd(bij.forward)(u))
    np.testing.assert_allclose(jnp.sum(bij.log_det_jacobian(u)), logdet, atol=1e-10)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("bij", BIJECTORS, ids=repr)
def test_finite_at_extremes(bij, dtype):
    u = jnp.array([-50.0, -30.0, 30.0, 50.0], dtype=dtype)
    x = bij.forward(u)
    assert x.dtype == dtype
    for out in (x, bij.inverse(x), bij.log_det_jacobian(u)):
        assert np.all(np.isfinite(out)), (bij, out)
    grads = jax.vmap(jax.grad(lambda v: bij.log_det_jacobian(v) + bij.forward(v)))(u)
    assert np.all(np.isfinite(grads))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_sigmoid_stays_in_range_and_inverts_bounds(dtype):
    bij = Sigmoid(-80.0, 40.0)
    x = bij.forward(jnp.array([-50.0, 50.0], dtype=dtype))
    assert -80.0 <= float(x[0]) < -79.99 and 39.99 < float(x[1]) <= 40.0
    u = bij.inverse(jnp.array([-80.0, 40.0], dtype=dtype))
    assert np.all(np.isfinite(u)) and u[0] < -30 and u[1] > 30


def test_sigmoid_log_det_at_extremes_is_exact():
    u = jnp.array([-50.0, 50.0])
    expected = math.log(2.0) - 50.0 - 2 * math.log1p(math.exp(-50.0))
    np.testing.assert_allclose(Sigmoid(0.0, 2.0).log_det_jacobian(u), expected, rtol=1e-14)


def test_bijectors_jit_and_vmap_and_int_input():
    bij = Sigmoid(0.0, 3.0)
    batched = jax.jit(jax.vmap(bij.forward))(jnp.zeros((4, 2)))
    np.testing.assert_allclose(batched, 1.5)
    assert Softplus().forward(0).dtype == jnp.float64


@pytest.mark.parametrize(
    "bounds, kind",
    [
        ((None, None), Identity),
        ((-math.inf, math.inf), Identity),
        ((0.0, None), Softplus),
        ((-65.0, math.inf), Softplus),
        ((None, 5.0), SoftplusUpper),
        ((0.0, 1.0), Sigmoid),
    ],
)
def test_bijector_for_bounds(bounds, kind):
    bij = bijector_for_bounds(*bounds)
    assert type(bij) is kind
    if kind is not Identity:
        x = bij.forward(U)
        low = -math.inf if bounds[0] is None else bounds[0]
        high = math.inf if bounds[1] is None else bounds[1]
        assert np.all((x > low) & (x < high))
    assert type(bijector_for_bounds(1e-4, None, log_scale=True)) is Exp


@pytest.mark.parametrize(
    "low, high",
    [(1.0, 1.0), (2.0, 1.0), (math.nan, 1.0), (0.0, math.nan), (math.inf, math.inf)],
)
def test_bad_bounds_raise(low, high):
    with pytest.raises(ValueError):
        bijector_for_bounds(low, high)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Sigmoid(1.0, 1.0),
        lambda: Sigmoid(1.0, 0.0),
        lambda: Sigmoid(math.nan, 1.0),
        lambda: Sigmoid(0.0, math.inf),
        lambda: Softplus(low=math.nan),
        lambda: Exp(low=-math.inf),
        lambda: SoftplusUpper(high="a"),
    ],
)
def test_bad_constructor_arguments_raise(make):
    with pytest.raises(ValueError):
        make()


def _transform():
    return ParamTransform(
        {"gNa": Exp(), "gLeak": Softplus(low=1e-5), "eLeak": Identity(), "m": Sigmoid(0, 1)}
    )


def _params():
    return {
        "gNa": jnp.array([0.12, 0.05, 0.3]),
        "gLeak": 3e-4,
        "eLeak": -70.0,
        "m": {"a": jnp.array([0.1, 0.9]), "b": 0.5},
    }


def test_param_transform_round_trip_and_order():
    tf, params = _transform(), _params()
    u = tf.to_unconstrained(params)
    assert list(u) == list(tf.names)
    back = tf.from_unconstrained(u)
    for name in params:
        jax.tree_util.tree_map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12), back[name], params[name]
        )


def test_param_transform_log_det_matches_dense_jacobian():
    tf = _transform()
    u = tf.to_unconstrained(_params())
    flat, unravel = ravel_pytree(u)

    def forward_flat(z):
        return ravel_pytree(tf.from_unconstrained(unravel(z)))[0]

    _, logdet = jnp.linalg.slogdet(jax.jacfwd(forward_flat)(flat))
    np.testing.assert_allclose(tf.log_det_jac(u), logdet, atol=1e-10)
    grad = jax.grad(lambda z: tf.log_det_jac(unravel(z)))(flat)
    assert np.all(np.isfinite(grad))


def test_param_transform_from_bounds_and_name_checks():
    tf = ParamTransform.from_bounds({"g": (0.0, None), "v": (None, None), "p": (0.0, 1.0)})
    assert [type(b) for b in tf.bijectors.values()] == [Softplus, Identity, Sigmoid]
    with pytest.raises(ValueError, match="missing"):
        tf.to_unconstrained({"g": 1.0, "v": 0.0})
    with pytest.raises(ValueError, match="unknown"):
        tf.from_unconstrained({"g": 1.0, "v": 0.0, "p": 0.5, "q": 1.0})
    with pytest.raises(ValueError):
        ParamTransform({"g": "softplus"})
    assert float(ParamTransform({}).log_det_jac({})) == 0.0
