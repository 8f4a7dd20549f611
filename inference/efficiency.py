"""What a NUTS posterior cost: leapfrog steps per draw, gradients per effective sample.

Every leapfrog step is one gradient of the log density (one forward simulation plus
its derivative), so the cost of a posterior is ``sum(n_steps)`` gradients over
warm-up and sampling. Dividing by the smallest bulk ESS gives the number of
gradient evaluations per effective sample, the figure to compare samplers and
preconditioners by (it does not depend on how fast the machine is).
"""

from __future__ import annotations

from typing import Any

import arviz_stats as azs
import numpy as np

__all__ = ["nuts_efficiency"]


def nuts_efficiency(idata: Any, *, warmup_steps: int | None = None) -> dict[str, float]:
    """Leapfrog steps per draw and gradient evaluations per effective sample.

    Args:
        idata: InferenceData with ``posterior`` and ``sample_stats.n_steps`` (what
            :func:`inference.diagnostics.to_inference_data` writes for NUTS).
        warmup_steps: leapfrog steps spent in warm-up, if known (they are not in
            ``sample_stats``); added to the cost per effective sample.

    Returns:
        ``leapfrog_per_draw`` (mean over chains and draws), ``max_leapfrog``,
        ``min_ess_bulk``, ``grads_per_ess`` (sampling, plus warm-up if given).

    Raises:
        ValueError: without ``sample_stats.n_steps`` (not a NUTS result).
    """
    stats = getattr(idata, "sample_stats", None)
    if stats is None or "n_steps" not in stats:
        raise ValueError(
            "nuts_efficiency needs sample_stats.n_steps (a NUTS result from "
            "inference.diagnostics.to_inference_data); MAP, Laplace and SVI have none."
        )
    n_steps = np.asarray(stats["n_steps"], dtype=float)
    ess = azs.ess(idata, method="bulk")
    min_ess = float(min(np.min(np.asarray(ess[name])) for name in ess.data_vars))
    total = float(n_steps.sum()) + float(warmup_steps or 0)
    return {
        "leapfrog_per_draw": float(n_steps.mean()),
        "max_leapfrog": float(n_steps.max()),
        "min_ess_bulk": min_ess,
        "grads_per_ess": total / min_ess if min_ess > 0 else float("inf"),
    }
