"""Plots of fits to recordings: units, prior vs posterior, Laplace widths, spike rasters.

All functions return the ``matplotlib`` Figure (closed after saving when `path` is
given) so tests can inspect axis labels. Parameter axes are labelled with units
(:func:`param_label`) and never use matplotlib's offset / scientific offset text
(:func:`plain_ticks`): conductances of 1e-4 S/cm² are shown as such.
"""

from __future__ import annotations

import numpy as np

UNITS = {
    "gNa": "S/cm²",
    "gK": "S/cm²",
    "gKm": "S/cm²",
    "gLeak": "S/cm²",
    "gCaL": "S/cm²",
    "gCaT": "S/cm²",
    "eLeak": "mV",
    "vt": "mV",
    "taumax": "ms",
    "capacitance": "µF/cm²",
    "sigma": "mV",
}

__all__ = [
    "UNITS",
    "param_unit",
    "param_label",
    "plain_ticks",
    "plot_prior_posterior",
    "plot_spike_raster",
]


def param_unit(site: str) -> str:
    """The unit of a posterior variable (``"HH_gNa"`` -> ``"S/cm²"``), ``""`` if unknown."""
    for part in site.split("_"):
        base = part.rstrip("0123456789")
        if base in UNITS:
            return UNITS[base]
    return ""


def param_label(site: str) -> str:
    """``"HH_gNa (S/cm²)"``; the bare name without a known unit."""
    unit = param_unit(site)
    return f"{site} ({unit})" if unit else site


def plain_ticks(ax) -> None:
    """No offset text and no ``1e-4`` multiplier on either axis of `ax`."""
    from matplotlib.ticker import ScalarFormatter

    for axis in (ax.xaxis, ax.yaxis):
        fmt = axis.get_major_formatter()
        if isinstance(fmt, ScalarFormatter):
            fmt.set_useOffset(False)
            fmt.set_scientific(False)


def _prior_density(prior, grid: np.ndarray) -> np.ndarray | None:
    import jax.numpy as jnp

    try:
        inside = np.asarray(prior.support.check(jnp.asarray(grid)), bool)
        safe = np.where(inside, grid, grid[inside][0] if inside.any() else 1.0)
        return np.where(inside, np.exp(np.asarray(prior.log_prob(jnp.asarray(safe)))), 0.0)
    except (ValueError, TypeError, NotImplementedError, AttributeError):
        return None


def _panel(ax, name, values, prior, marks: dict, draws_label: str = "posterior") -> None:
    values = np.asarray(values, float).ravel()
    values = values[np.isfinite(values)]
    lo, hi = np.quantile(values, [0.001, 0.999]) if values.size else (0.0, 1.0)
    for value in marks.values():
        lo, hi = min(lo, value), max(hi, value)
    pad = 0.15 * (hi - lo) if hi > lo else max(abs(lo) * 0.1, 1e-12)
    grid = np.linspace(lo - pad, hi + pad, 200)
    if values.size:
        ax.hist(values, bins=30, density=True, color="C0", alpha=0.6, label=draws_label)
    dens = None if prior is None else _prior_density(prior, grid)
    if dens is not None and np.all(np.isfinite(dens)):
        ax.plot(grid, dens, color="0.4", lw=1.0, ls="--", label="prior")
    styles = {"truth": ("C2", "-"), "MAP": ("C3", ":")}
    for label, value in marks.items():
        color, ls = styles.get(label, ("k", "-"))
        ax.axvline(value, color=color, ls=ls, lw=1.5, label=label)
    ax.set_xlim(grid[0], grid[-1])
    ax.set_xlabel(param_label(name))
    ax.set_ylabel("density")
    plain_ticks(ax)
    ax.tick_params(axis="x", labelrotation=30, labelsize=7)


def plot_prior_posterior(
    draws: dict,
    priors: dict | None = None,
    path=None,
    *,
    truth: dict | None = None,
    map_estimate: dict | None = None,
    title: str | None = None,
    widths: dict | None = None,
    draws_label: str = "posterior",
):
    """One panel per scalar site: posterior histogram, prior density, truth and MAP lines.

    Args:
        draws: site -> draws (any shape; flattened); per-element sites are skipped.
        priors: site -> numpyro distribution (drawn as a dashed density).
        truth, map_estimate: site -> value (vertical lines, in the legend).
        widths: site -> marginal Gaussian sd in unconstrained space (panel titles).
        draws_label: legend label of the histograms.
    """
    import matplotlib.pyplot as plt

    names = [n for n, v in draws.items() if np.ndim(v) <= 2 or np.shape(v)[2:] == ()]
    if not names:
        raise ValueError("plot_prior_posterior needs at least one scalar site.")
    ncol = min(3, len(names))
    nrow = -(-len(names) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 2.8 * nrow), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        marks = {}
        if truth and name in truth:
            marks["truth"] = float(np.ravel(truth[name])[0])
        if map_estimate and name in map_estimate:
            marks["MAP"] = float(np.ravel(map_estimate[name])[0])
        _panel(ax, name, draws[name], (priors or {}).get(name), marks, draws_label)
        if widths and name in widths:
            ax.set_title(f"Laplace sd (unconstrained) {float(widths[name]):.3g}", fontsize=8)
    for ax in axes.ravel()[len(names) :]:
        ax.set_visible(False)
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.9, 0.95 if title else 1))
    return save_figure(fig, path)


def plot_spike_raster(
    t_ms, observed, predicted, path=None, *, threshold: float = 0.0, max_rows: int = 40
):
    """Spike raster (upward `threshold` mV crossings) of predictive draws and the recording.

    Args:
        t_ms: ``(T,)`` times; observed: ``(T,)`` recorded v (mV);
        predicted: ``(n, T)`` predictive traces (one raster row each, at most
            `max_rows`); draws that include observation noise cross too.
    """
    import matplotlib.pyplot as plt

    t = np.asarray(t_ms)
    pred = np.atleast_2d(np.asarray(predicted))[:max_rows]
    fig, ax = plt.subplots(figsize=(8, 0.15 * len(pred) + 1.8))
    for row, trace in enumerate(pred):
        ax.vlines(_crossings(t, trace, threshold), row + 0.6, row + 1.4, color="C1", lw=0.8)
    ax.vlines(_crossings(t, observed, threshold), -0.9, -0.1, color="k", lw=1.2)
    ax.set_yticks([-0.5, len(pred) / 2 + 0.5])
    ax.set_yticklabels(["recording", f"{len(pred)} predictive draws"], fontsize=8)
    ax.set_xlim(t[0], t[-1])
    ax.set_ylim(-1.2, len(pred) + 1.6)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("trace")
    ax.set_title(f"spikes (upward {threshold:g} mV crossings)", fontsize=9)
    plain_ticks(ax)
    fig.tight_layout()
    return save_figure(fig, path)


def _crossings(t, v, threshold) -> np.ndarray:
    v = np.asarray(v, float)
    up = np.nonzero((v[:-1] < threshold) & (v[1:] >= threshold))[0]
    return np.asarray(t)[up + 1]


def save_figure(fig, path, *, dpi: int = 110):
    """Write `fig` to `path` atomically (PNG, `dpi`) and close it; `path` None: keep it open."""
    import matplotlib.pyplot as plt

    from inference.checkpoint import atomic_path

    if path is not None:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi)
        plt.close(fig)
    return fig
