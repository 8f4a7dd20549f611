"""XLA-CPU's small-loop budget set at ``import sim`` (sim.xla_tuning).

Each case runs in a fresh interpreter: the option only takes effect when it is in
``XLA_FLAGS`` before JAX starts its backend.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

# A one-compartment HH loss: its jacfwd loop (3 tangents) is over XLA's default
# 1 KiB small-loop budget and under sim's 64 KiB one.
PROGRAM = """
import json, os, sys
PRE = sys.argv[1]
if PRE == "start-jax":
    import jax.numpy as jnp
    jnp.ones(1).block_until_ready()
import jax, jax.numpy as jnp
jax.config.update("jax_enable_x64", True)
import sim
from sim.channels import HH
comp = sim.Compartment()
comp.insert(HH())
comp.init_states()
comp.stimulate(sim.step_current(1.0, 8.0, 0.02, 0.025, 10.0), verbose=False)
comp.record("v", verbose=False)

def loss(theta):
    ps = comp.data_set("HH_gNa", theta[0], None)
    ps = comp.data_set("HH_gK", theta[1], ps)
    v = sim.integrate(comp, param_state=ps, delta_t=0.025)
    return jnp.mean((v + 60.0) ** 2)

theta = jnp.asarray([0.12, 0.036])
jac = jax.jit(jax.jacfwd(loss))
text = jac.lower(theta).compile().as_text()
print(json.dumps({
    "status": sim.xla_tuning.status,
    "xla_flags": os.environ.get("XLA_FLAGS"),
    "small_calls": text.count('xla_cpu_small_call="true"'),
    "jac": [float(x) for x in jac(theta)],
}))
"""


def _run(env_extra: dict[str, str], pre: str = "none") -> dict:
    env = {
        k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "SIM_XLA_SMALL_LOOP_BYTES")
    }
    env.update(env_extra)
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM, pre],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def default_run():
    return _run({})


def test_import_sets_the_budget_and_the_jacfwd_loop_runs_as_one_function(default_run):
    assert default_run["status"] == "applied"
    assert default_run["xla_flags"] == (
        "--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=65536"
    )
    assert default_run["small_calls"] >= 1


def test_disabled_leaves_xla_alone_and_gives_the_same_numbers(default_run):
    off = _run({"SIM_XLA_SMALL_LOOP_BYTES": "0"})
    assert off["status"] == "disabled"
    assert off["xla_flags"] is None
    assert off["small_calls"] == 0  # XLA's default budget: the loop runs kernel by kernel
    np.testing.assert_allclose(default_run["jac"], off["jac"], rtol=1e-12, atol=0)


def test_a_chosen_budget_is_used():
    run = _run({"SIM_XLA_SMALL_LOOP_BYTES": "2000000"})
    assert run["xla_flags"].endswith("xla_cpu_small_while_loop_byte_threshold=2000000")
    assert run["small_calls"] >= 1


def test_the_users_own_backend_options_are_kept():
    flags = "--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=512"
    run = _run({"XLA_FLAGS": flags})
    assert run["status"] == "user flags"
    assert run["xla_flags"] == flags
    assert run["small_calls"] == 0


def test_nothing_is_changed_once_jax_has_started():
    run = _run({}, pre="start-jax")
    assert run["status"] == "backend already started"
    assert run["xla_flags"] is None


@pytest.mark.parametrize("value", ["abc", "-5"])
def test_a_bad_budget_is_a_clear_error(value, monkeypatch):
    from sim import xla_tuning

    monkeypatch.setenv(xla_tuning.ENV, value)
    with pytest.raises(ValueError, match=xla_tuning.ENV):
        xla_tuning.apply()
