"""The arithmetic-floor benchmark runs and reports every kernel (sim only, no Jaxley)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.benchmarks import floor


def test_floor_benchmark_reports_every_kernel(capsys):
    assert floor.main(["--no-reference", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    for name in ("exp x4", "exp x5 + div x6", "sim HH kernel", "sim"):
        assert any(line.startswith(name) for line in out.splitlines()), name


def test_hh_floor_kernel_is_the_hh_channel_arithmetic():
    """The kernel timed as 'sim HH kernel' advances sim's own HH gates (not a stand-in)."""
    from sim.channels.hh import hh_rates

    assert jax.config.jax_enable_x64  # the 1e-12 comparison below is for float64

    body = floor._hh_kernel_body()
    v = jnp.full(floor.LANES, -60.0)
    m, h, n = (jnp.full(floor.LANES, x) for x in (0.1, 0.5, 0.4))
    _, m1, h1, n1 = body((v, m, h, n))
    am, bm, ah, bh, an, bn = hh_rates(-60.0)
    dt = floor.DT
    for x0, x1, a, b in ((0.1, m1, am, bm), (0.5, h1, ah, bh), (0.4, n1, an, bn)):
        exact = a / (a + b) + (x0 - a / (a + b)) * np.exp(-dt * (a + b))
        np.testing.assert_allclose(np.asarray(x1), exact, rtol=1e-12)
