"""Step-current stimuli: Jaxley's sample counts, on/off indices and input checks."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sim.stimulus import datapoint_to_step_currents, step_current  # noqa: E402

# (i_delay, i_dur, delta_t, t_max) -> (n_samples, first_on, first_off), worked out by
# hand with Python float arithmetic (int() truncates, // floors):
#   5.0 // 0.025 == 199.0, 0.3 / 0.1 == 2.9999999999999996, 0.7 / 0.1 == 6.99...
PINNED = [
    ((1.0, 2.0, 0.025, 5.0), (201, 40, 120)),
    ((0.5, 1.0, 0.025, 5.0), (201, 20, 60)),
    ((10.0, 80.0, 0.025, 100.0), (4001, 400, 3600)),
    ((0.3, 0.4, 0.1, 1.0), (11, 2, 6)),
    ((0.0, 0.0, 0.1, 0.0), (2, 0, 0)),
    ((4.0, 10.0, 0.5, 5.0), (12, 8, 12)),  # step runs past t_max: clipped
]


@pytest.mark.parametrize("timing, expected", PINNED)
def test_step_current_length_and_window(timing, expected):
    i_delay, i_dur, delta_t, t_max = timing
    n_samples, on, off = expected
    current = np.asarray(step_current(i_delay, i_dur, 0.5, delta_t, t_max))
    assert current.shape == (n_samples,)
    assert n_samples == int(t_max // delta_t) + 2
    target = np.zeros(n_samples)
    target[on:off] = 0.5
    np.testing.assert_array_equal(current, target)


def test_step_current_example_from_brief():
    current = np.asarray(step_current(1, 2, 0.5, 0.025, 5))
    assert current.shape == (201,)
    assert np.flatnonzero(current).tolist() == list(range(40, 120))


def test_offset_is_baseline_and_replaced_during_step():
    current = np.asarray(step_current(1.0, 2.0, 0.5, 0.025, 5.0, i_offset=0.1))
    assert current[0] == pytest.approx(0.1) and current[-1] == pytest.approx(0.1)
    assert current[40] == pytest.approx(0.5) and current[119] == pytest.approx(0.5)
    assert current[39] == pytest.approx(0.1) and current[120] == pytest.approx(0.1)


def test_datapoint_rows_equal_single_steps():
    amps = jnp.asarray([0.1, -0.2, 3.0])
    currents = datapoint_to_step_currents(0.5, 1.0, amps, 0.025, 5.0)
    assert currents.shape == (3, 201)
    for k, amp in enumerate(np.asarray(amps)):
        single = step_current(0.5, 1.0, float(amp), 0.025, 5.0)
        np.testing.assert_array_equal(currents[k], single)
    with_offset = datapoint_to_step_currents(0.5, 1.0, amps, 0.025, 5.0, 0.05)
    assert float(with_offset[1, 0]) == pytest.approx(0.05)


def test_amplitude_is_differentiable_and_jittable():
    def total_charge(amp):
        return jnp.sum(step_current(1.0, 2.0, amp, 0.025, 5.0)) * 0.025

    assert float(jax.grad(total_charge)(0.3)) == pytest.approx(80 * 0.025)
    batch = jax.jit(lambda a: datapoint_to_step_currents(1.0, 2.0, a, 0.025, 5.0))
    assert batch(jnp.ones(2)).shape == (2, 201)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"delta_t": 0.0}, "delta_t must be a positive"),
        ({"delta_t": -0.025}, "delta_t must be a positive"),
        ({"t_max": -1.0}, "t_max must be a finite duration >= 0"),
        ({"i_dur": -2.0}, "i_dur must be >= 0"),
        ({"i_delay": -1.0}, "i_delay must be >= 0"),
        ({"t_max": float("nan")}, "t_max is NaN"),
        ({"t_max": float("inf")}, "t_max must be a finite"),
    ],
)
def test_invalid_timing_raises_value_error(kwargs, match):
    args = {"i_delay": 1.0, "i_dur": 2.0, "delta_t": 0.025, "t_max": 5.0} | kwargs
    with pytest.raises(ValueError, match=match):
        step_current(i_amp=0.5, **args)
    with pytest.raises(ValueError, match=match):
        datapoint_to_step_currents(i_amp=jnp.ones(2), **args)


def test_error_message_names_value_and_fix():
    with pytest.raises(ValueError) as info:
        step_current(1.0, -2.0, 0.5, 0.025, 5.0)
    assert "-2.0" in str(info.value) and "i_dur = t_end - i_delay" in str(info.value)


def test_bad_amplitude_shape_and_traced_timing():
    with pytest.raises(ValueError, match="1-D array"):
        datapoint_to_step_currents(1.0, 2.0, 0.5, 0.025, 5.0)
    with pytest.raises(ValueError, match="1-D array"):
        datapoint_to_step_currents(1.0, 2.0, jnp.ones((2, 2)), 0.025, 5.0)
    with pytest.raises(TypeError, match="concrete real number"):
        jax.jit(lambda d: step_current(d, 2.0, 0.5, 0.025, 5.0))(1.0)
