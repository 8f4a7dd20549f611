"""Adaptive NUTS warm-up: rounds until acceptance, mixing and step size have settled."""

from __future__ import annotations

from types import SimpleNamespace

import jax
import numpy as np
import pytest

from inference.warmup import WarmupReport, adaptive_warmup

jax.config.update("jax_enable_x64", True)


class _ScriptedMcmc:
    """Stands in for numpyro's MCMC: each round returns scripted diagnostics."""

    def __init__(self, log, num_warmup, step_size, script):
        self.log, self.num_warmup, self.step_size = log, num_warmup, step_size
        self.accept, self.step_out, self.spread = script[len(log)]
        self.post_warmup_state = None

    def warmup(self, key, y, *, init_params, extra_fields, collect_warmup):
        assert collect_warmup and "accept_prob" in extra_fields
        self.log.append((self.num_warmup, self.step_size, init_params))
        chains = 4
        z = {"x": np.full((chains,), float(len(self.log)))}
        self.post_warmup_state = SimpleNamespace(
            z=z, adapt_state=SimpleNamespace(step_size=np.full(chains, self.step_out))
        )

    def get_extra_fields(self, group_by_chain):
        return {"accept_prob": np.full((4, self.num_warmup), self.accept)}

    def get_samples(self, group_by_chain):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((4, self.num_warmup))
        x += self.spread * np.arange(4)[:, None]  # chains apart: R-hat >> 1
        return {"x": x}


def _run(script, *, num_warmup=40, max_warmup=200):
    log: list = []
    mcmc, report = adaptive_warmup(
        lambda n, step: _ScriptedMcmc(log, n, step, script),
        None,
        init_params={"x": np.zeros(4)},
        seed=0,
        num_chains=4,
        num_warmup=num_warmup,
        max_warmup=max_warmup,
        target_accept_prob=0.9,
        progress=False,
    )
    return mcmc, report, log


def test_one_round_when_the_first_settles():
    _, report, log = _run([(0.88, 0.5, 0.0)])
    assert report.rounds == (40,) and report.converged and report.num_warmup == 40
    assert log[0][1] is None  # numpyro's own initial step size


def test_low_acceptance_then_settled_takes_two_rounds_from_where_the_chains_are():
    _, report, log = _run([(0.55, 0.8, 0.0), (0.9, 0.6, 0.0)])
    assert report.rounds == (40, 40) and report.converged
    assert report.accept_prob == pytest.approx((0.55, 0.9))
    assert log[1][1] == pytest.approx(0.8)  # second round starts at the adapted step size
    np.testing.assert_array_equal(log[1][2]["x"], np.ones(4))  # ... and the chains' positions


def test_unmixed_chains_take_another_round():
    script = [(0.9, 0.5, 10.0), (0.9, 0.2, 3.0), (0.9, 0.25, 0.0)]
    _, report, _ = _run(script)
    assert report.rounds == (40, 40, 40) and report.converged
    assert report.max_r_hat[0] > report.max_r_hat[1] > 1.1 >= report.max_r_hat[2]
    assert report.step_size == pytest.approx((0.5, 0.2, 0.25))


def test_never_settling_stops_at_max_warmup_with_a_warning():
    with pytest.warns(RuntimeWarning, match="did not settle within max_warmup=100"):
        _, report, _ = _run([(0.3, 0.5, 0.0)] * 5, max_warmup=100)
    assert report.rounds == (40, 40) and not report.converged


def test_report_round_trips_through_a_dict():
    report = WarmupReport((10, 10), (0.5, 0.4), (0.8, 0.9), (1.2, 1.0), True)
    assert WarmupReport.from_dict(report.to_dict()) == report
    assert report.to_dict()["num_warmup"] == 20


def test_bad_lengths_are_refused():
    with pytest.raises(ValueError, match="max_warmup"):
        _run([(0.9, 0.5, 0.0)], num_warmup=40, max_warmup=20)


def test_run_nuts_reports_its_warmup(tmp_path):
    from inference.sampling import run_nuts
    from tests.test_inference_model import _small_problem

    model, y = _small_problem()
    result = run_nuts(
        model,
        y,
        num_chains=2,
        num_warmup=30,
        num_samples=20,
        seed=1,
        map_kwargs={"num_steps": 20, "num_candidates": 16, "num_starts": 2},
        progress=False,
    )
    info = result.warmup
    assert info is not None and info["converged"]
    assert result.num_warmup == sum(info["rounds"]) == info["num_warmup"]
    assert all(abs(a - 0.9) <= 0.1 for a in info["accept_prob"][-1:])
