"""Simulation-based calibration (Talts et al. 2018, arXiv:1804.06788).

For each of ``num_datasets`` simulated datasets: draw θ from the prior and y from
the likelihood (one ``numpyro.infer.Predictive`` draw of the model called with
``y=None``), fit the posterior given y, thin it to ``L`` draws and record the rank
of θ among them (the number of draws below θ, ties broken at random), per scalar
parameter. If the fit returns the exact posterior, ranks are uniform on
``{0, ..., L}``; :meth:`SbcResult.chi2_uniformity` tests that with a χ² test on
binned ranks. Over-confident posteriors give ∪-shaped histograms, biased ones
sloped histograms.

Requirements: calling the model with ``y=None`` must sample from its generative
model (true for :class:`~inference.model.BayesianModel` with the Gaussian likelihood;
the Kalman likelihood adds process noise that ``y=None`` does not simulate) and the
observation site must be named ``obs`` (``obs_site``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from numpyro.handlers import seed as seed_handler
from numpyro.handlers import trace
from numpyro.infer import Predictive
from numpyro.infer.hmc import hmc
from scipy import stats

from inference.bridge import Bridge
from inference.checkpoint import atomic_path, fingerprint, load_arrays, save_arrays

FitFn = Callable[..., dict]  # fit(model, y, rng_key) -> {site: draws (S, ...)}


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class SbcResult:
    """Ranks ``(num_datasets, n_params)`` of the true values among ``L`` posterior draws."""

    ranks: np.ndarray
    L: int
    names: list[str]
    truths: np.ndarray | None = None
    runtime_s: float = float("nan")
    meta: dict = field(default_factory=dict)

    def default_bins(self) -> int:
        """Bins for the χ² test: ≤ 20, ≥ 10 expected counts, preferring divisors of L + 1."""
        n = self.ranks.shape[0]
        top = int(max(2, min(20, n // 10, self.L + 1)))
        for b in range(top, 1, -1):
            if (self.L + 1) % b == 0:
                return b
        return top

    def _edges(self, num_bins: int) -> np.ndarray:
        return np.linspace(0, self.L + 1, num_bins + 1).round().astype(int)

    def histogram(self, num_bins: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Counts ``(num_bins, n_params)`` and the uniform probability of each bin."""
        edges = self._edges(num_bins or self.default_bins())
        which = np.searchsorted(edges, self.ranks, side="right") - 1
        counts = np.stack(
            [np.bincount(which[:, j], minlength=edges.size - 1) for j in range(len(self.names))],
            axis=1,
        )
        return counts, np.diff(edges) / (self.L + 1)

    def chi2_uniformity(self, num_bins: int | None = None) -> pd.DataFrame:
        """χ² goodness-of-fit test of the binned ranks against the uniform, per parameter.

        Returns a DataFrame indexed by parameter with ``chi2``, ``dof``, ``p_value``,
        ``num_bins`` and ``num_datasets``.
        """
        num_bins = num_bins or self.default_bins()
        counts, prob = self.histogram(num_bins)
        n = self.ranks.shape[0]
        expected = n * prob[:, None]
        chi2 = np.sum((counts - expected) ** 2 / expected, axis=0)
        dof = num_bins - 1
        return pd.DataFrame(
            {
                "chi2": chi2,
                "dof": dof,
                "p_value": stats.chi2.sf(chi2, dof),
                "num_bins": num_bins,
                "num_datasets": n,
            },
            index=pd.Index(self.names, name="parameter"),
        )

    def plot(self, path=None, num_bins: int | None = None):
        """Rank histograms with the central 99% band of a uniform's bin counts."""
        from inference.diagnostics import plt
        from inference.fit_plots import save_figure

        num_bins = num_bins or self.default_bins()
        counts, prob = self.histogram(num_bins)
        n, edges = self.ranks.shape[0], self._edges(num_bins)
        lo, hi = stats.binom.ppf(0.005, n, prob), stats.binom.ppf(0.995, n, prob)
        table = self.chi2_uniformity(num_bins)
        k = len(self.names)
        fig, axes = plt.subplots(1, k, figsize=(3.6 * k, 3.0), squeeze=False)
        for j, (name, ax) in enumerate(zip(self.names, axes[0])):
            ax.fill_between(
                edges,
                np.append(lo, lo[-1]),
                np.append(hi, hi[-1]),
                step="post",
                color="0.8",
                label="99% uniform band",
            )
            ax.stairs(n * prob, edges, color="0.4", ls="--", lw=0.8)
            ax.stairs(counts[:, j], edges, color="C0", lw=1.5)
            ax.set_title(f"{name}\np = {table['p_value'].iloc[j]:.3g}", fontsize=9)
            ax.set_xlabel(f"rank (L = {self.L})")
        axes[0, 0].set_ylabel("datasets")
        axes[0, 0].legend(fontsize=7)
        fig.tight_layout()
        return save_figure(fig, path)

    def save_npz(self, path) -> Path:
        path = Path(path)
        truths = (
            np.full_like(self.ranks, np.nan, dtype=float) if self.truths is None else self.truths
        )
        with atomic_path(path) as tmp:
            np.savez(
                tmp,
                ranks=self.ranks,
                L=self.L,
                names=np.array(self.names),
                truths=truths,
                runtime_s=self.runtime_s,
            )
        return path


# ---------------------------------------------------------------- fitting
class NutsFit:
    """NUTS (numpyro's ``hmc`` kernel: dense mass matrix, step-size and mass adaptation)
    for all chains, compiled once as one ``jax.jit`` function of the data ``y`` and
    reused for every dataset. Chains start at independent prior draws.

    Returns the draws of all chains concatenated, ``(num_chains * num_samples, ...)``;
    ``num_divergent`` collects the divergent transitions of every fit.
    """

    def __init__(
        self,
        num_warmup=300,
        num_samples=200,
        num_chains=2,
        target_accept_prob=0.9,
        dense_mass=True,
        forward_mode=True,
        max_tree_depth=8,
    ):
        self.kernel_kwargs = dict(
            target_accept_prob=target_accept_prob,
            dense_mass=dense_mass,
            forward_mode_differentiation=forward_mode,
            max_tree_depth=max_tree_depth,
        )
        self.num_warmup, self.num_samples, self.num_chains = num_warmup, num_samples, num_chains
        self._run = None
        self._model = None
        self.num_divergent: list[int] = []

    def _build(self, model, y):
        bridge = Bridge(model, y)
        init_kernel, sample_kernel = hmc(
            potential_fn_gen=lambda y: partial(bridge.potential, y=y), algo="NUTS"
        )

        def one_chain(key, y):
            k_init, k_run = jax.random.split(key)
            prior = trace(seed_handler(model, k_init)).get_trace(None)
            z0 = bridge.to_unconstrained({k: prior[k]["value"] for k in bridge.names})
            state = init_kernel(
                z0, self.num_warmup, model_args=(y,), rng_key=k_run, **self.kernel_kwargs
            )

            def step(state, _):
                state = sample_kernel(state, model_args=(y,))
                return state, (state.z, state.diverging)

            state, _ = jax.lax.scan(step, state, None, length=self.num_warmup)
            _, (zs, div) = jax.lax.scan(step, state, None, length=self.num_samples)
            return jax.vmap(bridge.from_unconstrained)(zs), div

        return jax.jit(jax.vmap(one_chain, in_axes=(0, None)))

    def __call__(self, model, y, rng_key) -> dict:
        if self._run is None or self._model is not model:
            self._model, self._run = model, self._build(model, y)
        samples, div = self._run(jax.random.split(rng_key, self.num_chains), jnp.asarray(y))
        self.num_divergent.append(int(np.sum(div)))
        n = self.num_chains * self.num_samples
        return {k: np.asarray(v).reshape((n,) + v.shape[2:]) for k, v in samples.items()}


def svi_fit(**svi_kwargs) -> FitFn:
    """A fit function running :func:`inference.sampling.run_svi` (compiles per dataset)."""
    from inference.sampling import run_svi

    svi_kwargs.setdefault("progress", False)

    def fit(model, y, rng_key):
        seed = int(jax.random.randint(rng_key, (), 0, 2**30))
        res = run_svi(model, y, seed=seed, **svi_kwargs)
        return {k: v[0] for k, v in res.samples.items()}

    return fit


def _make_fit(fit, fit_kwargs: dict) -> FitFn:
    if callable(fit):
        return fit
    if fit == "nuts":
        return NutsFit(**fit_kwargs)
    if fit == "svi":
        return svi_fit(**fit_kwargs)
    raise ValueError(f"fit must be 'nuts', 'svi' or a callable, got {fit!r}.")


# ---------------------------------------------------------------- ranks
def _param_sites(model, obs_site: str) -> dict[str, tuple[int, ...]]:
    tr = trace(seed_handler(model, 0)).get_trace(None)
    sites = {
        name: tuple(np.shape(site["value"]))
        for name, site in tr.items()
        if site["type"] == "sample" and name != obs_site and not site["is_observed"]
    }
    if obs_site not in tr:
        raise ValueError(f"The model has no observation site {obs_site!r}; sites: {list(tr)}.")
    return sites


def _describe_model(model) -> str:
    """A stable description of a model for fingerprints (its own, if it has one)."""
    describe = getattr(model, "describe", None)
    if callable(describe):
        return str(describe())
    return f"{type(model).__module__}.{type(model).__qualname__}"


def _flat_names(sites: dict[str, tuple[int, ...]]) -> list[str]:
    names = []
    for name, shape in sites.items():
        size = int(np.prod(shape))
        names += [name] if shape == () else [f"{name}[{i}]" for i in range(size)]
    return names


def _flatten(values: dict, sites: dict, lead: int) -> np.ndarray:
    """Concatenate site values into ``(lead, n_params)`` (``lead`` leading draws)."""
    return np.concatenate([np.asarray(values[k]).reshape(lead, -1) for k in sites], axis=1)


def sbc_ranks(truth: np.ndarray, draws: np.ndarray, L: int, rng) -> np.ndarray:
    """Ranks of `truth` ``(n_params,)`` among `L` evenly thinned `draws` ``(S, n_params)``."""
    if draws.shape[0] < L:
        raise ValueError(f"The fit returned {draws.shape[0]} draws; need at least L = {L}.")
    idx = np.linspace(0, draws.shape[0] - 1, L).round().astype(int)
    thin = draws[idx]
    below = np.sum(thin < truth, axis=0)
    ties = np.sum(thin == truth, axis=0)
    return below + rng.integers(0, ties + 1)


# ---------------------------------------------------------------- driver
def _load_checkpoint(path: Path | None, resume: bool, meta: dict) -> dict:
    state = {"ranks": [], "truths": [], "elapsed": 0.0}
    if not (resume and path is not None and path.exists()):
        return state
    arrays, extra = load_arrays(path, fingerprint=fingerprint(**meta))
    state = {
        "ranks": list(arrays["ranks"]),
        "truths": list(arrays["truths"]),
        "elapsed": float(extra["elapsed"]),
    }
    _log(f"[sbc] resuming: {len(state['ranks'])}/{meta['num_datasets']} datasets done")
    return state


def _save_checkpoint(path: Path, state: dict, meta: dict) -> None:
    n_params = len(meta["names"])
    arrays = {
        "ranks": np.asarray(state["ranks"], dtype=int).reshape(-1, n_params),
        "truths": np.asarray(state["truths"], dtype=float).reshape(-1, n_params),
    }
    save_arrays(path, arrays, fingerprint=fingerprint(**meta), extra={"elapsed": state["elapsed"]})


def run_sbc(
    model_factory: Callable[[], Callable],
    *,
    num_datasets: int = 100,
    num_posterior_draws: int = 99,
    fit: str | FitFn = "nuts",
    fit_kwargs: dict | None = None,
    obs_site: str = "obs",
    seed: int = 0,
    progress: bool = True,
    checkpoint_path: str | Path | None = None,
    resume: bool = False,
) -> SbcResult:
    """Simulation-based calibration of a posterior fitting procedure.

    Args:
        model_factory: zero-argument callable returning the numpyro model (e.g. a
            :class:`~inference.model.BayesianModel`); called once, the model is reused.
        num_datasets: simulated datasets (rows of the rank table).
        num_posterior_draws: ``L``, posterior draws each rank is computed among
            (ranks lie in ``0..L``); the fit's draws are evenly thinned to ``L``.
        fit: ``"nuts"`` (:class:`NutsFit`), ``"svi"`` (:func:`svi_fit`) or a callable
            ``fit(model, y, rng_key) -> {site: draws (S, ...)}`` with ``S >= L``.
        fit_kwargs: keyword arguments of :class:`NutsFit` / :func:`svi_fit`.
        seed: datasets and fits are deterministic given `seed` (dataset ``i`` uses
            ``fold_in(PRNGKey(seed), i)``), so a resumed run equals an uninterrupted one.
        checkpoint_path: ``.npz`` written atomically after every dataset;
            ``resume=True`` continues from it.

    ``SbcResult.runtime_s`` is the time spent on datasets, summed over resumed sessions.
    """
    start = time.perf_counter()
    model = model_factory()
    fit_fn = _make_fit(fit, fit_kwargs or {})
    sites = _param_sites(model, obs_site)
    L = int(num_posterior_draws)
    meta = {
        "L": L,
        "seed": int(seed),
        "num_datasets": int(num_datasets),
        "names": _flat_names(sites),
        # Everything else that determines the ranks: the fitting procedure and its
        # settings, and the model (its sites and priors, by description).
        # A callable fit cannot be fingerprinted reliably; the caller owns it.
        "fit": fit if isinstance(fit, str) else "callable",
        "fit_kwargs": dict(fit_kwargs or {}),
        "obs_site": obs_site,
        "model": _describe_model(model),
    }
    ckpt = None if checkpoint_path is None else Path(checkpoint_path)
    state = _load_checkpoint(ckpt, resume, meta)
    draw = jax.jit(lambda key: Predictive(model, num_samples=1)(key, None))
    base = jax.random.PRNGKey(seed)
    for i in range(len(state["ranks"]), num_datasets):
        t0 = time.perf_counter()
        data_key, fit_key = jax.random.split(jax.random.fold_in(base, i))
        sim = draw(data_key)
        truth = _flatten(sim, sites, 1)[0]
        y = jnp.asarray(sim[obs_site][0])
        draws = fit_fn(model, y, fit_key)
        flat = _flatten(draws, sites, np.shape(draws[next(iter(sites))])[0])
        rng = np.random.default_rng([int(seed), i])
        state["ranks"].append(sbc_ranks(truth, flat, L, rng))
        state["truths"].append(truth)
        state["elapsed"] += time.perf_counter() - t0
        if ckpt is not None:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            _save_checkpoint(ckpt, state, meta)
        if progress:
            done = i + 1
            eta = state["elapsed"] / done * (num_datasets - done)
            _log(
                f"[sbc] dataset {done}/{num_datasets}  ranks {state['ranks'][-1].tolist()}  "
                f"{time.perf_counter() - t0:.1f}s  (eta {eta / 60:.1f} min)"
            )
    ranks = np.asarray(state["ranks"], dtype=int).reshape(-1, len(meta["names"]))
    truths = np.asarray(state["truths"], dtype=float).reshape(ranks.shape)
    extra = {"fit": fit if isinstance(fit, str) else getattr(fit, "__name__", "callable")}
    if isinstance(fit_fn, NutsFit):
        extra["num_divergent"] = list(fit_fn.num_divergent)
    extra["wall_s_this_session"] = time.perf_counter() - start
    return SbcResult(ranks, L, meta["names"], truths, runtime_s=state["elapsed"], meta=extra)
