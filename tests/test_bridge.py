"""inference.bridge: one unconstrained space for MAP, Laplace, NUTS, SVI, SMC and SBC."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.distributions import constraints
from numpyro.infer.util import initialize_model

from inference.bridge import Bridge, bijector_for_support
from inference.smc import PriorSpace
from inference.transforms import Exp, Identity, Sigmoid, SoftplusUpper

jax.config.update("jax_enable_x64", True)


def _model(y=None):
    a = numpyro.sample("a", dist.LogNormal(0.0, 0.5))
    b = numpyro.sample("b", dist.Uniform(-1.0, 3.0))
    c = numpyro.sample("c", dist.Normal(0.0, 2.0).expand([3]).to_event(1))
    s = numpyro.sample("s", dist.HalfNormal(1.0))
    mean = a * jnp.arange(4.0) + b + jnp.sum(c)
    numpyro.sample("obs", dist.Normal(mean, s).to_event(1), obs=y)


Y = jnp.asarray([0.3, 1.1, 2.4, 2.9])


def test_bijectors_follow_the_support():
    assert bijector_for_support(constraints.real) == Identity()
    assert bijector_for_support(constraints.positive) == Exp(0.0)
    assert bijector_for_support(constraints.interval(-1.0, 3.0)) == Sigmoid(-1.0, 3.0)
    assert bijector_for_support(constraints.greater_than(2.0)) == Exp(2.0)
    assert bijector_for_support(constraints.less_than(-1.0)) == SoftplusUpper(-1.0)
    assert bijector_for_support(constraints.independent(constraints.real, 1)) == Identity()
    with pytest.raises(ValueError, match="No bijector for the prior support"):
        bijector_for_support(constraints.simplex)


def test_potential_equals_numpyros_and_round_trips():
    bridge = Bridge(_model, Y)
    assert bridge.shapes == {"a": (), "b": (), "c": (3,), "s": ()}
    _, numpyro_potential, postprocess, _ = initialize_model(
        jax.random.PRNGKey(0), _model, model_args=(Y,)
    )
    rng = np.random.default_rng(0)
    for _ in range(5):
        u = {n: jnp.asarray(rng.normal(size=s)) for n, s in bridge.shapes.items()}
        np.testing.assert_allclose(bridge.potential(u), numpyro_potential(u), rtol=1e-12)
        x = bridge.from_unconstrained(u)
        for n, v in postprocess(u).items():
            np.testing.assert_allclose(x[n], v, rtol=1e-12)
        back = bridge.to_unconstrained(x)
        for n in u:
            np.testing.assert_allclose(back[n], u[n], rtol=1e-9, atol=1e-12)


def test_potential_of_other_data_and_nan_is_inf():
    bridge = Bridge(_model, Y)
    u = bridge.zeros()
    assert float(bridge.potential(u, Y + 1.0)) != float(bridge.potential(u))
    bad = {**u, "a": jnp.asarray(jnp.nan)}
    assert float(jax.jit(bridge.potential)(bad)) == math.inf  # under jit, as samplers call it


def test_unconstrained_model_density_is_the_potential():
    bridge = Bridge(_model, Y)
    from numpyro.infer.util import log_density

    u = {n: jnp.full(s, 0.3) for n, s in bridge.shapes.items()}
    value, _ = log_density(bridge.unconstrained_model(), (Y,), {}, u)
    np.testing.assert_allclose(value, -bridge.potential(u), rtol=1e-12)


def test_model_without_latent_sites_is_refused():
    def empty(y=None):
        numpyro.sample("obs", dist.Normal(0.0, 1.0), obs=y)

    with pytest.raises(ValueError, match="no latent sample sites"):
        Bridge(empty, 0.0)


def test_smc_prior_space_uses_the_same_bijectors():
    priors = (dist.LogNormal(0.0, 0.5), dist.Uniform(-1.0, 3.0))
    space = PriorSpace(("a", "b"), priors)
    bridge = Bridge(_model, Y)
    z = jnp.asarray([[0.2, -0.7], [1.5, 2.0]])
    x = space.to_constrained(z)
    np.testing.assert_allclose(x["a"], bridge.transform.bijectors["a"].forward(z[:, 0]))
    np.testing.assert_allclose(x["b"], bridge.transform.bijectors["b"].forward(z[:, 1]))
    # prior density over z: numpyro's log_prob + log|dx/dz|
    want = priors[0].log_prob(x["a"]) + z[:, 0] + priors[1].log_prob(x["b"])
    want = want + math.log(4.0) + jax.nn.log_sigmoid(z[:, 1]) + jax.nn.log_sigmoid(-z[:, 1])
    np.testing.assert_allclose(space.log_prior(z), want, rtol=1e-12)


def test_samplers_reuse_a_given_bridge_of_the_same_model_and_data():
    from inference.laplace import laplace
    from inference.sampling import find_map

    settings = {"num_candidates": 16, "num_starts": 2, "num_steps": 0, "progress": False}
    bridge = Bridge(_model, Y)
    built = find_map(_model, Y, **settings)
    reused = find_map(_model, Y, bridge=bridge, **settings)
    np.testing.assert_array_equal(reused.losses, built.losses)
    lap = laplace(_model, Y, built, regularise=True, bridge=Bridge(_model, np.asarray(Y)))
    np.testing.assert_allclose(lap.cov, laplace(_model, Y, built, regularise=True).cov)
    with pytest.raises(ValueError, match="other observations"):
        find_map(_model, Y, bridge=Bridge(_model, Y + 1.0), **settings)
    with pytest.raises(ValueError, match="another model"):
        find_map(lambda y=None: _model(y), Y, bridge=bridge, **settings)


def test_unconstraining_some_sites_agrees_with_the_full_transform():
    bridge = Bridge(_model, Y)
    x = bridge.from_unconstrained({n: jnp.full(s, 0.7) for n, s in bridge.shapes.items()})
    full = bridge.to_unconstrained(x)
    some = bridge.to_unconstrained_sites({"a": x["a"], "c": x["c"]})
    assert list(some) == ["a", "c"]
    for n in some:
        np.testing.assert_allclose(some[n], full[n], rtol=1e-12)
        np.testing.assert_allclose(bridge.from_unconstrained(full)[n], x[n], rtol=1e-12)
    assert bridge.to_unconstrained_sites({}) == {}
    with pytest.raises(ValueError, match=r"No latent sites \['obs', 'z'\]"):
        bridge.to_unconstrained_sites({"a": 1.0, "z": 0.0, "obs": Y})
