"""Sampler plots of a posterior tree: per-chain marginals with rank plots, and pair plots.

Drawn with matplotlib from the posterior arrays (ArviZ 1 moved plotting to
``arviz-plots``, whose 0.8 release cannot be imported with matplotlib 3.11). Every
parameter axis is labelled with its unit and has no offset text (see
:mod:`inference.fit_plots`); vector sites are shown element by element (``g[0]``, ...).
"""

from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from inference.fit_plots import param_label, param_unit, plain_ticks, save_figure
from inference.idata import group, has_group

_RANK_BINS = 20


def _flat_columns(post) -> list[tuple[str, str, np.ndarray]]:
    """``(label, site, draws (chain, draw))`` per scalar element of every variable."""
    out = []
    for name in post.data_vars:
        values = np.asarray(post[name].values, dtype=float)
        shape = np.shape(values)
        n_el = int(np.prod(shape[2:]))
        flat = values.reshape(shape[0], shape[1], n_el)
        for i in range(n_el):
            label = name if values.ndim == 2 else f"{name}[{i}]"
            out.append((label, name, flat[:, :, i]))
    return out


def _axis_label(label: str, site: str) -> str:
    """``"HH_gNa (S/cm²)"``, or ``"g[1] (S/cm²)"`` for an element of a vector site."""
    if label == site:
        return param_label(site)
    unit = param_unit(site)
    return f"{label} ({unit})" if unit else label


def _rank_panel(ax, draws: np.ndarray) -> None:
    """Rank plot: per chain, the deviation of its rank histogram from uniform as vertical
    lines around the chain's baseline (flat lines = chains that mixed)."""
    n_chain, n_draw = draws.shape
    ranks = np.argsort(np.argsort(draws.ravel(), kind="stable"), kind="stable")
    ranks = ranks.reshape(n_chain, n_draw)
    edges = np.linspace(0, n_chain * n_draw, _RANK_BINS + 1)
    expected = n_draw / _RANK_BINS
    centres = 0.5 * (edges[:-1] + edges[1:])
    for c in range(n_chain):
        counts, _ = np.histogram(ranks[c], bins=edges)
        dev = 0.45 * (counts - expected) / max(expected, 1.0)
        ax.axhline(c, color=f"C{c % 10}", lw=0.6)
        ax.vlines(centres, c, c + np.clip(dev, -0.45, 0.45), color=f"C{c % 10}", lw=1.4)
    ax.set_yticks(range(n_chain))
    ax.set_ylim(-0.6, n_chain - 0.4)
    ax.set_ylabel("chain")
    ax.set_xlabel("rank (all chains)")


def plot_trace_rank(tree, path=None):
    """Per parameter: each chain's marginal histogram (left) and its rank plot (right)."""
    import matplotlib.pyplot as plt

    cols = _flat_columns(group(tree, "posterior"))
    fig, axes = plt.subplots(len(cols), 2, figsize=(9, 1.9 * len(cols) + 0.6), squeeze=False)
    for (label, site, draws), (dens, rank) in zip(cols, axes):
        bins = np.histogram_bin_edges(draws.ravel(), bins=30)
        for c in range(draws.shape[0]):
            dens.hist(draws[c], bins=bins, histtype="step", density=True, color=f"C{c % 10}")
        dens.set_title(_axis_label(label, site), fontsize=9)
        dens.set_yticks([])
        dens.xaxis.set_major_locator(MaxNLocator(5))
        dens.tick_params(axis="x", labelsize=8)
        _rank_panel(rank, draws)
        rank.set_title(f"{label} ranks", fontsize=9)
        for ax in (dens, rank):
            plain_ticks(ax)
    fig.tight_layout()
    return save_figure(fig, path)


def _divergent(tree, n_draws: int) -> np.ndarray | None:
    if not has_group(tree, "sample_stats"):
        return None
    stats = group(tree, "sample_stats")
    if "diverging" not in stats:
        return None
    mask = np.asarray(stats["diverging"].values, dtype=bool).ravel()
    return mask if mask.size == n_draws and mask.any() else None


def _single_hist(label, site, draws, truth_value, path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3))
    ax.hist(draws.ravel(), bins=30, color="C0", alpha=0.7)
    if truth_value is not None:
        ax.axvline(truth_value, color="C2", label="truth")
        ax.legend()
    ax.set_xlabel(_axis_label(label, site))
    ax.set_ylabel("draws")
    plain_ticks(ax)
    return save_figure(fig, path)


def _truth_values(cols, truth: dict | None) -> list[float | None]:
    out: list[float | None] = []
    for label, site, _ in cols:
        if not truth or site not in truth:
            out.append(None)
            continue
        arr = np.ravel(np.asarray(truth[site], dtype=float))
        i = int(label[len(site) + 1 : -1]) if label != site else 0
        out.append(float(arr[i] if arr.size > 1 else arr[0]))
    return out


def plot_pair(tree, path=None, truth: dict | None = None):
    """Pairwise scatter of the posterior (lower triangle) with marginal histograms on the
    diagonal; divergent NUTS draws in red and truth values as green markers/lines."""
    import matplotlib.pyplot as plt

    cols = _flat_columns(group(tree, "posterior"))
    refs = _truth_values(cols, truth)
    if len(cols) < 2:
        label, site, draws = cols[0]
        return _single_hist(label, site, draws, refs[0], path)
    n = len(cols)
    flat = [d.ravel() for _, _, d in cols]
    div = _divergent(tree, flat[0].size)
    size = min(2.2 * n, 16)
    fig, axes = plt.subplots(n, n, figsize=(size, size), squeeze=False)
    for i in range(n):
        for j in range(n):
            ax = axes[i, j]
            if j > i:
                ax.set_axis_off()
                continue
            if i == j:
                ax.hist(flat[i], bins=30, color="C0", alpha=0.7)
                ax.set_yticks([])
                if refs[i] is not None:
                    ax.axvline(refs[i], color="C2", lw=1.2)
            else:
                ax.scatter(flat[j], flat[i], s=4, alpha=0.4, color="C0", linewidths=0)
                if div is not None:
                    ax.scatter(flat[j][div], flat[i][div], s=8, color="C3", linewidths=0)
                if refs[i] is not None and refs[j] is not None:
                    ax.plot(refs[j], refs[i], "o", color="C2", ms=5)
            if i == n - 1:
                ax.set_xlabel(_axis_label(cols[j][0], cols[j][1]), fontsize=9)
            if j == 0 and i > 0:
                ax.set_ylabel(_axis_label(cols[i][0], cols[i][1]), fontsize=9)
            plain_ticks(ax)
            ax.tick_params(axis="x", labelrotation=30, labelsize=7)
            ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    handles = []
    if any(r is not None for r in refs):
        handles.append(Line2D([], [], color="C2", marker="o", ls="none", label="truth"))
    if div is not None:
        label = f"divergent ({int(div.sum())})"
        handles.append(Line2D([], [], color="C3", marker="o", ls="none", label=label))
    if handles:
        fig.legend(handles=handles, loc="upper right", fontsize=9)
    return save_figure(fig, path)
