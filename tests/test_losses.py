"""Trace losses and spike features: exact extractors on piecewise-linear traces (known
crossing times), soft surrogates against the exact features, finite gradients."""

import math

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.stats import norm  # noqa: E402

from inference.losses import (  # noqa: E402
    gaussian_nll,
    resting_potential,
    resting_potential_loss,
    soft_spike_count,
    spike_count,
    spike_count_loss,
    spike_time_loss,
    spike_times,
    trace_mse,
    van_rossum_distance,
    window_mean,
)

DT = 0.025
T = np.arange(4001) * DT  # 0 .. 100 ms
REST, PEAK = -65.0, 35.0


def _bumps(times, t=T, rest=REST, amp=PEAK - REST, width=0.4):
    """Smooth synthetic spikes: Gaussian bumps of ``amp`` mV centred at ``times``."""
    times = jnp.atleast_1d(jnp.asarray(times, dtype=jnp.float64))
    shape = jnp.exp(-0.5 * ((t[:, None] - times[None, :]) / width) ** 2)
    return rest + amp * jnp.sum(shape, axis=1)


def test_trace_mse_and_gaussian_nll():
    rng = np.random.default_rng(1)
    sim_v, obs_v = rng.normal(size=(2, 50)), rng.normal(size=(2, 50))
    np.testing.assert_allclose(trace_mse(sim_v, obs_v), np.mean((sim_v - obs_v) ** 2))
    sigma = np.array([0.5, 2.0])[:, None]
    expected = -np.sum(norm.logpdf(obs_v, loc=sim_v, scale=sigma))
    np.testing.assert_allclose(gaussian_nll(sim_v, obs_v, sigma), expected, rtol=1e-12)
    np.testing.assert_allclose(
        gaussian_nll(sim_v, obs_v, 0.7), -np.sum(norm.logpdf(obs_v, sim_v, 0.7)), rtol=1e-12
    )
    with pytest.raises(ValueError, match="shapes"):
        trace_mse(sim_v, obs_v[:, :-1])


def _piecewise_linear_trace(dt, n, rises, threshold):
    """Spikes as straight ramps between knots on the sample grid; returns the trace and
    the exact threshold-crossing times of the rising ramps."""
    knots_t, knots_v, crossings = [0.0], [REST], []
    for start, rise, fall in rises:  # in samples
        t0, t1, t2 = start * dt, (start + rise) * dt, (start + rise + fall) * dt
        knots_t += [t0, t1, t2, t2 + 3 * fall * dt]
        knots_v += [REST, PEAK, -75.0, REST]
        crossings.append(t0 + (threshold - REST) / (PEAK - REST) * (t1 - t0))
    knots_t.append((n - 1) * dt)
    knots_v.append(REST)
    t = np.arange(n) * dt
    return np.interp(t, knots_t, knots_v), np.array(crossings)


@pytest.mark.parametrize("threshold", [0.0, -20.0, 12.345])
def test_spike_times_exact_on_piecewise_linear_data(threshold):
    dt, n = 0.1, 3000
    rises = [(100, 7, 11), (400, 3, 20), (1200, 13, 9), (2500, 1, 5)]
    v, expected = _piecewise_linear_trace(dt, n, rises, threshold)
    np.testing.assert_allclose(spike_times(v, dt, threshold), expected, rtol=0, atol=1e-9)
    shifted = spike_times(v, dt, threshold, t0=-5.0)
    np.testing.assert_allclose(shifted, expected - 5.0, rtol=0, atol=1e-9)
    assert spike_count(v, threshold) == len(rises)


def test_spike_times_sample_on_threshold_and_no_spikes():
    v = np.array([-65.0, -10.0, 0.0, 20.0, -5.0, 0.0, -3.0])
    np.testing.assert_allclose(spike_times(v, 0.5), [1.0, 2.5], atol=1e-12)
    assert spike_count(v) == 2
    assert spike_times(np.full(10, REST), 0.1).shape == (0,)
    assert spike_count(np.full(10, 10.0)) == 0  # starts above threshold: no upward crossing
    with pytest.raises(ValueError, match="1-D"):
        spike_times(np.zeros((2, 5)), 0.1)


def test_resting_potential_window_and_differentiable_mean():
    v = np.concatenate([np.full(400, -70.0), np.full(3601, -50.0)])  # step at 10 ms
    assert resting_potential(v, DT, (0.0, 10.0)) == -70.0  # 10 / 0.025 is not exact
    assert resting_potential(v, DT, (5.0, 15.0)) == pytest.approx(-60.0)
    assert resting_potential(v, DT, (2.0, 3.0), t0=-8.0) == -50.0
    np.testing.assert_allclose(window_mean(jnp.stack([v, v + 1]), DT, (0.0, 10.0)), [-70, -69])
    sim_v = v + 2.0
    np.testing.assert_allclose(resting_potential_loss(sim_v, v, DT, (0.0, 10.0)), 4.0)
    for window in [(50.0, 50.0), (200.0, 300.0)]:
        with pytest.raises(ValueError):
            resting_potential(v, DT, window)


def test_soft_spike_count_tracks_exact_count():
    rng = np.random.default_rng(0)
    exact, soft = [], []
    for n_spikes in [0, 1, 2, 3, 5, 8, 13]:
        slots = np.sort(rng.choice(22, n_spikes, replace=False))  # spikes >= 3 ms apart
        times = 5.0 + 4.0 * slots + rng.uniform(0.0, 1.0, n_spikes)
        v = _bumps(times) + rng.normal(0.0, 0.2, T.shape)  # small noise around rest
        exact.append(spike_count(v))
        soft.append(float(soft_spike_count(v)))
    np.testing.assert_allclose(soft, exact, atol=0.02)
    assert np.corrcoef(soft, exact)[0, 1] > 0.999
    batched = soft_spike_count(jnp.stack([_bumps([20.0]), _bumps([20.0, 50.0])]))
    np.testing.assert_allclose(batched, [1.0, 2.0], atol=1e-6)


def test_spike_time_loss_matches_exact_van_rossum():
    tau, obs_time = 5.0, 30.0
    obs_v = _bumps([obs_time])
    shifts = [0.0, 0.3, 1.0, 2.5, 5.0, 10.0, 20.0]
    soft = [float(spike_time_loss(_bumps([obs_time + s]), obs_v, DT, tau=tau)) for s in shifts]
    exact = [van_rossum_distance([obs_time + s], [obs_time], tau) ** 2 for s in shifts]
    np.testing.assert_allclose(exact, [1 - math.exp(-s / tau) for s in shifts], atol=1e-12)
    np.testing.assert_allclose(soft, exact, atol=0.01)
    assert np.all(np.diff(soft) > 0)
    extra = float(spike_time_loss(_bumps([obs_time, 60.0]), obs_v, DT, tau=tau))
    assert extra == pytest.approx(0.5, abs=0.01)
    assert van_rossum_distance([obs_time, 60.0], [obs_time], tau) ** 2 == pytest.approx(0.5)


def test_soft_losses_have_finite_informative_gradients():
    obs_v = _bumps([30.0])

    def time_loss(shift):
        return spike_time_loss(_bumps(30.0 + shift), obs_v, DT, tau=5.0)

    for shift, sign in [(2.0, 1.0), (-2.0, -1.0), (0.3, 1.0)]:
        g = float(jax.grad(time_loss)(shift))
        assert np.isfinite(g) and np.sign(g) == sign

    def count_loss(amp):  # peak amp - 65 mV: crosses 0 mV only for amp > 65
        return spike_count_loss(_bumps([30.0, 60.0], amp=amp), _bumps([30.0, 60.0]))

    g = float(jax.grad(count_loss)(66.0))
    assert np.isfinite(g) and g < 0  # a higher peak makes the missing spikes more complete
    assert float(count_loss(40.0)) == pytest.approx(4.0, abs=0.05)

    v = _bumps([30.0, 31.5]) + 0.1 * jnp.sin(T)
    for loss in [
        lambda x: spike_time_loss(x, obs_v, DT),
        lambda x: spike_count_loss(x, obs_v),
        lambda x: resting_potential_loss(x, obs_v, DT, (0.0, 20.0)),
        lambda x: gaussian_nll(x, obs_v, 1.0),
        lambda x: trace_mse(x, obs_v),
    ]:
        assert np.all(np.isfinite(jax.jit(jax.grad(loss))(v)))


def test_soft_losses_check_arguments():
    v = _bumps([30.0])
    with pytest.raises(ValueError, match="width"):
        soft_spike_count(v, width=0.0)
    with pytest.raises(ValueError, match="tau"):
        spike_time_loss(v, v, DT, tau=0.0)
    with pytest.raises(ValueError, match="shapes"):
        spike_count_loss(v, v[:-1])


def test_exponential_filter_matches_recursion():
    from inference.losses import _exp_filter

    x = np.random.default_rng(2).normal(size=(3, 37))
    expected, carry = np.zeros_like(x), np.zeros(3)
    for i in range(x.shape[1]):
        carry = 0.8 * carry + x[:, i]
        expected[:, i] = carry
    np.testing.assert_allclose(_exp_filter(jnp.asarray(x), 0.8), expected, atol=1e-12)
