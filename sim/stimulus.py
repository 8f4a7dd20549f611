"""Step-current stimuli sampled on the simulation time grid.

A stimulus is an array with one value (nA) per time step. Both functions produce
``int(t_max // delta_t) + 2`` samples and switch the step on at sample
``int(i_delay / delta_t)`` and off at sample ``int((i_delay + i_dur) / delta_t)``
(exclusive), exactly like Jaxley. The indices use Python's float arithmetic, so
e.g. ``5.0 // 0.025 == 199.0`` (not 200) and ``0.3 / 0.1 == 2.999...`` truncates to
2; build the time axis from the same formula if you need one.
"""

import math

import jax.numpy as jnp

__all__ = ["step_current", "datapoint_to_step_currents"]


def _check_timing(i_delay, i_dur, delta_t, t_max) -> None:
    """Raise ``TypeError``/``ValueError`` for timing arguments that make no sense."""
    values = {}
    for label, value in (
        ("i_delay", i_delay),
        ("i_dur", i_dur),
        ("delta_t", delta_t),
        ("t_max", t_max),
    ):
        try:
            values[label] = float(value)
        except TypeError as err:
            raise TypeError(
                f"{label} must be a concrete real number (it sets array sizes), got "
                f"{value!r}. Pass a Python float, not a traced JAX value."
            ) from err
        if math.isnan(values[label]):
            raise ValueError(f"{label} is NaN; pass a number (in ms).")
    if not values["delta_t"] > 0 or math.isinf(values["delta_t"]):
        raise ValueError(
            f"delta_t must be a positive, finite time step in ms, got {delta_t!r}; "
            "e.g. delta_t=0.025."
        )
    if not math.isfinite(values["t_max"]) or values["t_max"] < 0:
        raise ValueError(
            f"t_max must be a finite duration >= 0 ms, got {t_max!r}; pass the "
            "simulated time, e.g. t_max=100.0."
        )
    if values["i_dur"] < 0:
        raise ValueError(
            f"i_dur must be >= 0 ms, got {i_dur!r}; it is the duration of the step, "
            "not its end time (use i_dur = t_end - i_delay)."
        )
    if values["i_delay"] < 0:
        raise ValueError(
            f"i_delay must be >= 0 ms, got {i_delay!r}; the step cannot start before "
            "the simulation (use i_delay=0.0)."
        )


def _window(i_delay, i_dur, delta_t, t_max) -> tuple[int, int, int]:
    """Return ``(n_samples, first_on, first_off)`` with Jaxley's rounding."""
    _check_timing(i_delay, i_dur, delta_t, t_max)
    start = int(i_delay / delta_t)
    stop = int((i_delay + i_dur) / delta_t)
    n_samples = int(t_max // delta_t) + 2
    return n_samples, start, stop


def step_current(i_delay, i_dur, i_amp, delta_t, t_max, i_offset=0.0):
    """Return a single step current (nA) for ``module.stimulate(...)``.

    The current equals ``i_offset`` everywhere and ``i_amp`` (replacing, not adding
    to, the offset) on samples ``int(i_delay / delta_t)`` up to, but excluding,
    ``int((i_delay + i_dur) / delta_t)``; the array has ``int(t_max // delta_t) + 2``
    samples. ``i_amp`` and ``i_offset`` may be traced JAX values (differentiable);
    the timing arguments must be plain numbers.

    Args:
        i_delay: Onset of the step (ms).
        i_dur: Duration of the step (ms).
        i_amp: Amplitude during the step (nA).
        delta_t: Time step (ms).
        t_max: Simulated time (ms).
        i_offset: Baseline current outside the step (nA).

    Returns:
        Array of shape ``(int(t_max // delta_t) + 2,)``.

    Example:
        >>> step_current(1.0, 2.0, 0.5, 0.025, 5.0).shape
        (201,)
    """
    n_samples, start, stop = _window(i_delay, i_dur, delta_t, t_max)
    current = jnp.zeros((n_samples,)) + i_offset
    return current.at[start:stop].set(i_amp)


def datapoint_to_step_currents(i_delay, i_dur, i_amp, delta_t, t_max, i_offset=0.0):
    """Return one step current per amplitude in ``i_amp``, stacked row-wise.

    Row ``k`` equals ``step_current(i_delay, i_dur, i_amp[k], delta_t, t_max,
    i_offset)``. Intended for data-driven stimulation (e.g. ``data_stimulate`` or a
    batch of stimuli), where the amplitudes may be traced JAX values.

    Args:
        i_delay: Onset of the steps (ms).
        i_dur: Duration of the steps (ms).
        i_amp: 1-D array of ``N`` amplitudes (nA).
        delta_t: Time step (ms).
        t_max: Simulated time (ms).
        i_offset: Baseline current outside the steps (nA).

    Returns:
        Array of shape ``(N, int(t_max // delta_t) + 2)``.
    """
    amps = jnp.asarray(i_amp)
    if amps.ndim != 1:
        raise ValueError(
            f"i_amp must be a 1-D array of amplitudes, got shape {amps.shape}; for a "
            "single amplitude use step_current() or pass [i_amp]."
        )
    n_samples, start, stop = _window(i_delay, i_dur, delta_t, t_max)
    current = jnp.zeros((n_samples, amps.shape[0])) + i_offset
    return current.at[start:stop, :].set(amps).T
