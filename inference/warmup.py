"""NUTS warm-up whose length is chosen by adaptation diagnostics.

Warm-up runs in rounds of ``num_warmup`` steps (numpyro's step-size dual averaging;
the mass matrix is either fixed, e.g. the Laplace covariance, or adapted by numpyro
inside each round). After each round two diagnostics are checked on its second half:

* the mean acceptance probability is within ``accept_tolerance`` of the target
  (dual averaging has found a step size that achieves it);
* the chains have mixed: the largest split R-hat (Gelman-Rubin, numpyro's
  ``split_gelman_rubin``) of every parameter is at most ``max_r_hat`` (chains
  started apart have reached the same region).

The adapted step size itself is not required to repeat between rounds: after a
short round it is noisy (a factor of 2 on a one-parameter Gaussian) and NUTS, which
chooses its trajectory length, is insensitive to it. If both hold, warm-up stops;
else another round starts where the chains are, from the adapted step size, until
``max_warmup`` steps in all (then it stops with ``converged=False`` and a warning
names what failed). A well-preconditioned posterior (MAP start, Laplace mass matrix)
passes after the first round.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import jax
import numpy as np
from numpyro.diagnostics import split_gelman_rubin

__all__ = ["WarmupReport", "adaptive_warmup"]


@dataclass(frozen=True)
class WarmupReport:
    """What each warm-up round found (one entry per round)."""

    rounds: tuple[int, ...]
    step_size: tuple[float, ...]  # median over chains of the adapted step size
    accept_prob: tuple[float, ...]  # mean over the round's second half and the chains
    max_r_hat: tuple[float, ...]  # NaN with one chain
    converged: bool

    @property
    def num_warmup(self) -> int:
        return int(sum(self.rounds))

    def to_dict(self) -> dict:
        return {**asdict(self), "num_warmup": self.num_warmup}

    @classmethod
    def from_dict(cls, d: dict) -> WarmupReport:
        fields = ("rounds", "step_size", "accept_prob", "max_r_hat")
        return cls(**{k: tuple(d[k]) for k in fields}, converged=bool(d["converged"]))


def _round_diagnostics(mcmc, num_chains: int) -> tuple[float, float, float]:
    """(median step size, mean acceptance, max split R-hat) of the round just run."""
    state = mcmc.post_warmup_state
    step = float(np.median(np.asarray(state.adapt_state.step_size)))
    accept = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["accept_prob"])
    half = accept.shape[1] // 2
    acc = float(np.mean(accept[:, half:]))
    if num_chains < 2 or accept.shape[1] - half < 4:
        return step, acc, float("nan")
    r_hat = 1.0
    for draws in mcmc.get_samples(group_by_chain=True).values():
        x = np.asarray(draws)[:, half:]
        x = x.reshape(x.shape[:2] + (-1,))
        r = np.asarray(split_gelman_rubin(x))
        if np.all(np.isfinite(r)):
            r_hat = max(r_hat, float(np.max(r)))
        elif np.ptp(x) > 0:  # a NaN R-hat with moving chains: not mixed
            r_hat = math.inf
    return step, acc, r_hat


def adaptive_warmup(
    make_mcmc: Callable[[int, float | None], object],
    y,
    *,
    init_params,
    seed: int,
    num_chains: int,
    num_warmup: int,
    max_warmup: int,
    target_accept_prob: float,
    accept_tolerance: float = 0.1,
    max_r_hat: float = 1.1,
    progress: bool = True,
):
    """Warm up in rounds until the diagnostics of the module docstring hold.

    Args:
        make_mcmc: ``(num_warmup, step_size) -> numpyro MCMC`` of the sampler (step size
            ``None``: numpyro's default start); the last one is returned for sampling.
        init_params: unconstrained starts, one per chain (or None).
        max_warmup: warm-up steps in all at most (at least ``num_warmup``).

    Returns:
        ``(mcmc, report)``: the MCMC whose ``post_warmup_state`` ends the warm-up, and
        a :class:`WarmupReport`.
    """
    if num_warmup < 1:
        raise ValueError(f"adaptive warm-up needs num_warmup >= 1, got {num_warmup}.")
    if max_warmup < num_warmup:
        raise ValueError(f"max_warmup ({max_warmup}) must be >= num_warmup ({num_warmup}).")
    rounds: list[int] = []
    steps: list[float] = []
    accepts: list[float] = []
    r_hats: list[float] = []
    z, step_size = init_params, None
    while True:
        mcmc = make_mcmc(num_warmup, step_size)
        mcmc.warmup(  # type: ignore[attr-defined]
            jax.random.PRNGKey(seed + 1 + len(rounds)),
            y,
            init_params=z,
            extra_fields=("accept_prob",),
            collect_warmup=True,
        )
        step, acc, r_hat = _round_diagnostics(mcmc, num_chains)
        rounds.append(num_warmup)
        steps.append(step)
        accepts.append(acc)
        r_hats.append(r_hat)
        failed = _failures(steps, acc, r_hat, target_accept_prob, accept_tolerance, max_r_hat)
        if progress:
            verdict = "settled" if not failed else "not settled: " + "; ".join(failed)
            print(
                f"[nuts] warm-up round {len(rounds)}: {num_warmup} steps, step size {step:.3g}, "
                f"acceptance {acc:.2f}, max R-hat {r_hat:.3f} ({verdict})",
                file=sys.stderr,
                flush=True,
            )
        done = not failed or sum(rounds) + num_warmup > max_warmup
        if done:
            if failed:
                warnings.warn(
                    f"NUTS warm-up did not settle within max_warmup={max_warmup} steps "
                    f"({'; '.join(failed)}); the draws may be unreliable: raise max_warmup "
                    "or check the model.",
                    RuntimeWarning,
                    stacklevel=3,
                )
            report = WarmupReport(
                tuple(rounds), tuple(steps), tuple(accepts), tuple(r_hats), not failed
            )
            return mcmc, report
        z = mcmc.post_warmup_state.z  # type: ignore[attr-defined]
        step_size = step


def _failures(steps, acc, r_hat, target, tolerance, max_r_hat) -> list[str]:
    out = []
    if not abs(acc - target) <= tolerance:
        out.append(f"acceptance {acc:.2f} is not within {tolerance} of {target}")
    if not (math.isnan(r_hat) or r_hat <= max_r_hat):
        out.append(f"chains not mixed (R-hat {r_hat:.3f} > {max_r_hat})")
    if not (np.isfinite(steps[-1]) and steps[-1] > 0):
        out.append(f"step size {steps[-1]}")
    return out
