"""A `sim` module as a nonlinear Gaussian state-space model for dynamax.

* state ``z_t``: the flattened dynamic states (``v`` of every compartment, then
  every mechanism state where it exists), from
  :func:`sim.utils.dynamics.build_dynamic_state_utils`;
* dynamics ``z_{t+1} = f(z_t, u_{t+1}) + w``: one simulator step with the injected
  currents ``u`` as input, ``w ~ N(0, Q)`` with one standard deviation per state kind;
* emissions ``y_t = H z_t + e``: the module's recorded states, ``e ~ N(0, σ² I)``.

dynamax applies the input of time ``t + 1`` when predicting state ``t + 1``; the
simulator applies stimulus sample ``t`` during the step ``t -> t + 1``. The input
sequence is therefore the stimulus shifted by one sample (:meth:`NeuronSSM.inputs`).

Filters (``NeuronSSM.filter(method=...)``):

* ``"ekf"`` / ``"ukf"``: dynamax's dense EKF / UKF (returns dynamax's posterior);
* ``"iekf"``: dense iterated EKF, ``num_iter`` Gauss-Newton iterations per update
  (:mod:`inference.dense_ekf`);
* ``"ekf_block"`` / ``"ekf_diag"``: block-diagonal (per compartment) / diagonal
  covariance EKFs for large cells, propagated with coloured JVPs of the step
  (:mod:`inference.block_ekf`). ``"auto"`` picks ``"ekf"`` up to
  ``DENSE_MAX_DIM`` states and ``"ekf_block"`` above.

The last three return :class:`inference.block_ekf.KalmanResult` (with the NIS per
step, see :mod:`inference.consistency`).

Filtering should run in float64 (``jax.config.update("jax_enable_x64", True)``):
covariances of stiff neuron models lose positive definiteness in float32.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from dynamax.nonlinear_gaussian_ssm import (
    ParamsNLGSSM,
    UKFHyperParams,
    extended_kalman_filter,
    extended_kalman_smoother,
    unscented_kalman_filter,
    unscented_kalman_smoother,
)

from inference.block_ekf import BlockLayout, KalmanResult, block_ekf
from inference.dense_ekf import dense_ekf
from sim.integrate import build_init_and_step_fn
from sim.utils.dynamics import build_dynamic_state_utils

DEFAULT_PROCESS_STD = {"v": 1e-2}
DEFAULT_GATE_STD = 1e-4
DEFAULT_INITIAL_STD = {"v": 1e-1}
DEFAULT_GATE_INITIAL_STD = 1e-3
COV_JITTER = 1e-12
DYNAMAX_METHODS = ("ekf", "ukf")
OWN_METHODS = ("iekf", "ekf_block", "ekf_diag")
FILTER_METHODS = (*DYNAMAX_METHODS, *OWN_METHODS, "auto")
DENSE_MAX_DIM = 400
FILTER_FIELDS = [
    "filtered_means",
    "filtered_covariances",
    "predicted_means",
    "predicted_covariances",
]


@dataclass(frozen=True)
class NoiseModel:
    """Noise of the state-space model.

    Attributes:
        process_std: per state kind (e.g. ``{"v": 0.05, "HH_m": 1e-3}``), the std of
            the additive process noise per time step; kinds not listed use
            ``default_process_std``.
        obs_std: std of the observation noise (units of the recorded state, mV).
        initial_std: per state kind, the std of the initial state distribution.
    """

    process_std: Mapping[str, float | jnp.ndarray]
    obs_std: float | jnp.ndarray = 1.0
    initial_std: Mapping[str, float | jnp.ndarray] | None = None
    default_process_std: float = DEFAULT_GATE_STD
    default_initial_std: float = DEFAULT_GATE_INITIAL_STD


class NeuronSSM:
    """Wrap a module's step function as a dynamax nonlinear Gaussian SSM.

    Args:
        module: a ``sim`` module with recordings (the emissions) and, optionally,
            current stimuli (the inputs). Recordings must be dynamic states
            (``v`` or mechanism states), not currents.
        delta_t: time step (ms); one SSM step per sample.
        solver / voltage_solver: as in ``sim.integrate``.
    """

    def __init__(
        self,
        module,
        *,
        delta_t: float = 0.025,
        solver: str = "bwd_euler",
        voltage_solver: str = "jaxley.dhs",
    ):
        compiled = module.compiled()
        if any(k != "i" for k in compiled.externals):
            raise ValueError(
                "NeuronSSM supports current stimuli only; remove clamps "
                f"({[k for k in compiled.externals if k != 'i']}) with delete_clamps()."
            )
        self.module = module
        self.delta_t = float(delta_t)
        self._init_fn, self._step_fn = build_init_and_step_fn(
            module, voltage_solver=voltage_solver, solver=solver
        )
        utils = build_dynamic_state_utils(module)
        self._remove, self._add, self._flatten, self._unflatten = utils
        self._layout(module)
        self.stim_inds = np.asarray(compiled.external_inds.get("i", np.zeros(0, np.int64)))
        self.stimulus = np.asarray(compiled.externals.get("i", np.zeros((0, 0))))
        self._layouts: dict = {}
        self._jitted: dict = {}

    # ------------------------------------------------------------------ layout
    def _layout(self, module) -> None:
        base = module.base
        ncomp = len(base.nodes)
        kinds, comps = [], []
        for key in base.compiled().state_keys:
            where = np.arange(ncomp)
            if key != "v":
                where = where[base.key_present(key, where)]
            kinds += [key] * len(where)
            comps += where.tolist()
        self.state_kinds = np.asarray(kinds)
        self.state_comps = np.asarray(comps, dtype=int)
        lookup = {(k, c): i for i, (k, c) in enumerate(zip(kinds, comps))}
        rec = base.recordings
        emission = []
        for state, comp in zip(rec["state"], rec["rec_index"]):
            if (state, int(comp)) not in lookup:
                raise ValueError(
                    f"Recording of {state!r} in compartment {comp} is not a dynamic state; "
                    "record voltages or mechanism states for filtering."
                )
            emission.append(lookup[(state, int(comp))])
        if not emission:
            raise ValueError("The module records nothing: the SSM has no emissions.")
        self.emission_index = np.asarray(emission, dtype=int)

    @property
    def state_dim(self) -> int:
        return len(self.state_kinds)

    @property
    def state_names(self) -> list[str]:
        """One name per state element, e.g. ``"v[3]"`` or ``"HH_m[0]"``."""
        return [f"{k}[{c}]" for k, c in zip(self.state_kinds, self.state_comps)]

    # ------------------------------------------------------------------ model pieces
    def initial_state(self, params=None, param_state=None):
        """Flat initial state and the simulator's ``all_params``."""
        states, all_params = self._init_fn(params or [], None, param_state, self.delta_t)
        return self._flatten(self._remove(states)), all_params

    def dynamics_fn(self, all_params):
        """``f(z, u)``: one simulator step from flat state `z` with injected currents `u` (nA)."""
        inds = {"i": jnp.asarray(self.stim_inds)}

        def f(z, u):
            states = self._add(self._unflatten(z), all_params, self.delta_t)
            states = self._step_fn(states, all_params, {"i": u}, inds, delta_t=self.delta_t)
            return self._flatten(self._remove(states))

        return f

    def emission_fn(self, z, u=None):
        return z[self.emission_index]

    def inputs(self, stimulus=None, num_timesteps: int | None = None):
        """dynamax input sequence ``(T, n_stim)`` from a stimulus of shape ``(n_stim, T')``."""
        stim = self.stimulus if stimulus is None else jnp.atleast_2d(jnp.asarray(stimulus))
        if stim.shape[0] != len(self.stim_inds):
            raise ValueError(
                f"The stimulus has {stim.shape[0]} rows but the module has "
                f"{len(self.stim_inds)} stimulated compartments."
            )
        stim = jnp.asarray(stim).T
        t = num_timesteps if num_timesteps is not None else stim.shape[0] + 1
        shifted = jnp.concatenate([jnp.zeros((1, stim.shape[1]), stim.dtype), stim])
        if shifted.shape[0] < t:
            pad = jnp.zeros((t - shifted.shape[0], stim.shape[1]), stim.dtype)
            shifted = jnp.concatenate([shifted, pad])
        return shifted[:t]

    def _per_state(self, table: Mapping | None, defaults: Mapping, fallback: float):
        table = {**defaults, **dict(table or {})}
        unknown = set(table) - set(self.state_kinds)
        if unknown - set(defaults):
            raise ValueError(
                f"Noise given for unknown state kinds {sorted(unknown - set(defaults))}; "
                f"the state kinds are {sorted(set(self.state_kinds))}."
            )
        out = jnp.full(self.state_dim, fallback)
        for kind, std in table.items():
            mask = self.state_kinds == kind
            if mask.any():
                out = jnp.where(jnp.asarray(mask), jnp.asarray(std, out.dtype), out)
        return out

    def noise_stds(self, noise: NoiseModel) -> tuple[jax.Array, jax.Array]:
        """Per-state ``(D,)`` process std (per step) and initial std of `noise`."""
        q = self._per_state(noise.process_std, DEFAULT_PROCESS_STD, noise.default_process_std)
        p0 = self._per_state(noise.initial_std, DEFAULT_INITIAL_STD, noise.default_initial_std)
        return q, p0

    def params(self, noise: NoiseModel, params=None, param_state=None) -> ParamsNLGSSM:
        """dynamax parameters for given simulator parameters and noise."""
        z0, all_params = self.initial_state(params, param_state)
        q, p0 = self.noise_stds(noise)
        n_obs = len(self.emission_index)
        r = jnp.broadcast_to(jnp.asarray(noise.obs_std, z0.dtype) ** 2, (n_obs,))
        return ParamsNLGSSM(
            initial_mean=z0,
            initial_covariance=jnp.diag(p0**2 + COV_JITTER),
            dynamics_function=self.dynamics_fn(all_params),
            dynamics_covariance=jnp.diag(q**2 + COV_JITTER),
            emission_function=self.emission_fn,
            emission_covariance=jnp.diag(r),
        )

    # ------------------------------------------------------------------ inference
    def _check_emissions(self, emissions):
        y = jnp.asarray(emissions)
        if y.ndim == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[1] != len(self.emission_index):
            raise ValueError(
                f"emissions must have shape (T, {len(self.emission_index)}), got "
                f"{jnp.shape(emissions)}."
            )
        return y

    def _prepare(self, emissions, noise, method, stimulus, params, param_state):
        """Validated emissions, dynamax parameters and the input sequence."""
        if method not in DYNAMAX_METHODS:
            raise ValueError(f"Unknown filter/smoother {method!r}; use 'ekf' or 'ukf'.")
        y = self._check_emissions(emissions)
        return y, self.params(noise, params, param_state), self.inputs(stimulus, y.shape[0])

    def filter(
        self,
        emissions,
        noise: NoiseModel,
        *,
        method: str = "ekf",
        stimulus=None,
        params=None,
        param_state=None,
        ukf: UKFHyperParams | None = None,
        output_fields: list[str] | None = None,
        num_iter: int = 3,
        radius: int | None = 2,
        cluster: str = "branch",
        coupling: str = "coherent",
        store_blocks: bool = False,
    ):
        """Filter `emissions` ``(T, n_obs)`` (mV) under `noise`.

        ``method``: see the module docstring. ``"ekf"``/``"ukf"`` return dynamax's
        ``PosteriorGSSMFiltered`` (``output_fields`` limits what is stored per time
        step; ``[]`` keeps memory O(1) in T); the others a
        :class:`~inference.block_ekf.KalmanResult` (``output_fields`` ignored).
        ``num_iter``: Gauss-Newton iterations of ``"iekf"``. ``radius``: colouring
        radius (tree hops) of the block filters, None = exact (one colour per
        compartment). ``cluster``: one covariance block per branch (``"branch"``, default:
        keeps the correlations along each branch) or per compartment (``"comp"``; see
        :mod:`inference.block_ekf`). ``coupling``: ``"coherent"`` (default: blocks' errors
        propagated as fully correlated; calibrated on CA1) or ``"independent"`` (the dense
        EKF projected block-diagonal, under-covers on cells; see :mod:`inference.block_ekf`).
        ``store_blocks``: keep the ``(T, N, k, k)`` blocks.
        """
        method = self.resolve_method(method)
        if method in OWN_METHODS:
            return self._own_filter(
                emissions, noise, method, stimulus, params, param_state,
                num_iter=num_iter, radius=radius, cluster=cluster, coupling=coupling,
                store_blocks=store_blocks,
            )  # fmt: skip
        y, ssm, u = self._prepare(emissions, noise, method, stimulus, params, param_state)
        fields = FILTER_FIELDS if output_fields is None else list(output_fields)
        if method == "ekf":
            return extended_kalman_filter(ssm, y, inputs=u, output_fields=fields)
        return unscented_kalman_filter(
            ssm, y, ukf or UKFHyperParams(), inputs=u, output_fields=fields
        )

    def resolve_method(self, method: str) -> str:
        """Validate a filter name; ``"auto"`` -> ``"ekf"`` or ``"ekf_block"`` by size."""
        if method not in FILTER_METHODS:
            raise ValueError(f"Unknown filter {method!r}; choose one of {list(FILTER_METHODS)}.")
        if method == "auto":
            return "ekf" if self.state_dim <= DENSE_MAX_DIM else "ekf_block"
        return method

    def layout(
        self, radius: int | None = 2, cluster: str = "comp", coupling: str = "independent"
    ) -> BlockLayout:
        """Blocks (per compartment or per branch) and their colouring (cached)."""
        key = (radius, cluster, coupling)
        if key not in self._layouts:
            self._layouts[key] = BlockLayout.of(self, radius, cluster, coupling)
        return self._layouts[key]

    def _own_filter(self, emissions, noise, method, stimulus, params, param_state, **opts):
        """Run a filter of :mod:`inference.block_ekf` / :mod:`inference.dense_ekf` (jitted)."""
        y = self._check_emissions(emissions)
        u = self.inputs(stimulus, y.shape[0])
        z0, all_params = self.initial_state(params, param_state)
        q, p0 = self.noise_stds(noise)
        r = jnp.broadcast_to(jnp.asarray(noise.obs_std, z0.dtype), (y.shape[1],))
        key = (method, opts["num_iter"] if method == "iekf" else None)
        if method != "iekf":
            key = (
                method,
                opts["radius"],
                opts["cluster"],
                opts["coupling"],
                bool(opts["store_blocks"]),
            )
        if key not in self._jitted:
            self._jitted[key] = jax.jit(self._filter_fn(method, **opts))
        return self._jitted[key](all_params, z0, p0, q, r, y, u)

    def _filter_fn(self, method, *, num_iter, radius, cluster, coupling, store_blocks):
        if method == "iekf":

            def run(all_params, z0, p0, q, r, y, u) -> KalmanResult:
                f = self.dynamics_fn(all_params)
                p_0, q_m = jnp.diag(p0**2 + COV_JITTER), jnp.diag(q**2 + COV_JITTER)
                return dense_ekf(
                    f, self.emission_fn, z0, p_0, q_m, jnp.diag(r**2), y, u, num_iter=num_iter
                )

            return run
        layout = self.layout(radius, cluster, coupling)

        def run(all_params, z0, p0, q, r, y, u) -> KalmanResult:
            f = self.dynamics_fn(all_params)
            return block_ekf(
                f, z0, p0, q, r, y, u, layout,
                diagonal=method == "ekf_diag", store_blocks=store_blocks,
            )  # fmt: skip

        return run

    def smoother(
        self,
        emissions,
        noise: NoiseModel,
        *,
        method: str = "ekf",
        stimulus=None,
        params=None,
        param_state=None,
        ukf: UKFHyperParams | None = None,
    ):
        """Smoothed posterior (dynamax ``PosteriorGSSMSmoothed``)."""
        y, ssm, u = self._prepare(emissions, noise, method, stimulus, params, param_state)
        if method == "ekf":
            return extended_kalman_smoother(ssm, y, inputs=u)
        return unscented_kalman_smoother(ssm, y, ukf or UKFHyperParams(), inputs=u)

    def sample(
        self,
        key,
        noise: NoiseModel,
        num_timesteps: int,
        *,
        stimulus=None,
        params=None,
        param_state=None,
        return_states: bool = False,
    ) -> jax.Array:
        """Emissions ``(T, n_obs)`` drawn from this state-space model itself.

        With ``return_states`` the pair ``(emissions, states (T, D))``.

        ``z_0 ~ N(m_0, P_0)``, ``z_{t+1} = f(z_t, u_{t+1}) + N(0, Q)`` (dynamax's
        input timing), ``y_t = H z_t + N(0, R)``: the model the filters assume, so
        data drawn here are what the Kalman marginal likelihood is calibrated for.
        Gates are not clipped (the filter does not clip them either).
        """
        m0, all_params = self.initial_state(params, param_state)
        q, p0 = self.noise_stds(noise)
        u = self.inputs(stimulus, num_timesteps)
        k0, k_dyn, k_obs = jax.random.split(key, 3)
        # Q, P0 and R are diagonal: scale by the stds (no dense D x D Cholesky)
        chol_q = jnp.sqrt(q**2 + COV_JITTER)
        n_obs = len(self.emission_index)
        chol_r = jnp.broadcast_to(jnp.asarray(noise.obs_std, m0.dtype), (n_obs,))
        z0 = m0 + jnp.sqrt(p0**2 + COV_JITTER) * jax.random.normal(k0, m0.shape, m0.dtype)
        f = self.dynamics_fn(all_params)

        def step(z, inp):
            u_next, eps = inp
            z_next = f(z, u_next) + chol_q * eps
            return z_next, z_next

        eps = jax.random.normal(k_dyn, (num_timesteps - 1, m0.shape[0]), m0.dtype)
        _, zs = jax.lax.scan(step, z0, (u[1:], eps))
        zs = jnp.concatenate([z0[None], zs])
        obs_eps = jax.random.normal(k_obs, (num_timesteps, n_obs), m0.dtype)
        y = jax.vmap(self.emission_fn)(zs) + obs_eps * chol_r
        return (y, zs) if return_states else y

    def marginal_log_likelihood(self, emissions, noise: NoiseModel, **kwargs):
        """log p(y_{0:T}) under the filter; differentiable w.r.t. parameters and noise."""
        kwargs.setdefault("output_fields", [])
        return self.filter(emissions, noise, **kwargs).marginal_loglik

    def pointwise_log_likelihood(self, emissions, noise: NoiseModel, **kwargs):
        """log p(y_t | y_{0:t-1}) for every t, shape (T,) (sums to the marginal)."""
        kwargs["output_fields"] = ["marginal_loglik"]
        cumulative = self.filter(emissions, noise, **kwargs).marginal_loglik
        return jnp.diff(cumulative, prepend=0.0)
