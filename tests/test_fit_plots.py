"""inference.fit_plots: labels with units, no offset text, readable PNGs."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402
import numpyro.distributions as dist  # noqa: E402

from inference import fit_plots  # noqa: E402


def test_units():
    assert fit_plots.param_label("HH_gNa") == "HH_gNa (S/cm²)"
    assert fit_plots.param_unit("Leak_eLeak") == "mV"
    assert fit_plots.param_unit("sigma_1") == "mV"
    assert fit_plots.param_label("foo") == "foo"


def test_prior_posterior_plot(tmp_path):
    rng = np.random.default_rng(0)
    draws = {"HH_gLeak": 4e-4 + 1e-6 * rng.normal(size=(2, 100)), "vt": rng.normal(-60, 1, 200)}
    priors = {"HH_gLeak": dist.LogNormal(math.log(3e-4), 0.7), "vt": dist.Normal(-60.0, 8.0)}
    fig = fit_plots.plot_prior_posterior(
        draws, priors, tmp_path / "pp.png", truth={"HH_gLeak": 4e-4}, map_estimate={"vt": -60.0}
    )
    labels = [ax.get_xlabel() for ax in fig.axes if ax.get_visible()]
    assert labels == ["HH_gLeak (S/cm²)", "vt (mV)"]
    fig.canvas.draw()
    assert all(ax.xaxis.get_offset_text().get_text() == "" for ax in fig.axes)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"posterior", "prior", "truth"} <= set(legend)
    assert mpimg.imread(tmp_path / "pp.png").ndim == 3


def test_spike_raster(tmp_path):
    t = np.arange(0, 100, 0.1)
    spikes = np.where(np.sin(t) > 0.99, 20.0, -65.0)
    fig = fit_plots.plot_spike_raster(t, spikes, np.stack([spikes, spikes]), tmp_path / "r.png")
    assert fig.axes[0].get_xlabel() == "time (ms)"
    assert mpimg.imread(tmp_path / "r.png").shape[0] > 50
