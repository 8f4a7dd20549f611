"""Sampler cost figures of ``inference.efficiency``."""

from __future__ import annotations

import arviz_base as azb
import arviz_stats as azs
import numpy as np
import pytest

from inference.efficiency import nuts_efficiency


def _idata(n_steps):
    rng = np.random.default_rng(0)
    posterior = {"a": rng.standard_normal((4, 500)), "b": rng.standard_normal((4, 500, 2))}
    return azb.from_dict({"posterior": posterior, "sample_stats": {"n_steps": n_steps}})


def test_leapfrog_and_gradients_per_effective_sample():
    n_steps = np.tile([3, 7], (4, 250))
    idata = _idata(n_steps)
    out = nuts_efficiency(idata, warmup_steps=1000)
    ess = azs.ess(idata, method="bulk")
    min_ess = min(float(np.min(ess[k])) for k in ess.data_vars)
    assert out["leapfrog_per_draw"] == pytest.approx(5.0)
    assert out["max_leapfrog"] == 7.0
    assert out["min_ess_bulk"] == pytest.approx(min_ess)
    assert out["grads_per_ess"] == pytest.approx((n_steps.sum() + 1000) / min_ess)
    assert 1500 < min_ess < 2600  # independent draws: ESS about the number of draws


def test_needs_nuts_statistics():
    idata = azb.from_dict({"posterior": {"a": np.zeros((1, 10))}})
    with pytest.raises(ValueError, match="n_steps"):
        nuts_efficiency(idata)
