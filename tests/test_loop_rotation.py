"""The half-step rotated time loop gives the same simulation as the plain loop.

On branched cells :func:`sim.core.simulate.simulate` runs its loop body from one
voltage solve to the next (state updates, currents, recording, voltage). These
tests run the same models with the rotation switched off and compare recordings
of every kind, final states and gradients.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sim as jx
import sim.core.simulate as simulate_module
from sim.channels import HH, CaL
from sim.core.engine import engine_for
from sim.pumps import CaNernstReversal, CaPump
from sim.synapses import IonotropicSynapse

jax.config.update("jax_enable_x64", True)

DT = 0.025


def _cell():
    cell = jx.Cell([jx.Branch(jx.Compartment(), ncomp=n) for n in (3, 2, 2)], [-1, 0, 0])
    cell.insert(HH())
    cell.branch(1).insert(CaL())
    cell.branch(1).insert(CaPump())
    cell.branch(1).insert(CaNernstReversal())
    cell.diffuse("CaCon_i")
    cell.init_states()
    cell.branch(0).comp(0).stimulate(jx.step_current(0.5, 3.0, 0.4, DT, 5.0), verbose=False)
    cell.branch(2).comp(1).clamp("HH_n", np.full(201, 0.4), verbose=False)
    cell.branch(2).comp(1).record("v", verbose=False)
    cell.branch(1).comp(0).record("i_HH", verbose=False)
    cell.branch(1).comp(1).record("CaCon_i", verbose=False)
    cell.branch(0).comp(2).record("HH_m", verbose=False)
    return cell


def _network():
    cell = jx.Cell([jx.Branch(jx.Compartment(), ncomp=2) for _ in range(3)], [-1, 0, 0])
    net = jx.Network([cell, cell])
    net.insert(HH())
    jx.connect(net.cell(0).branch(1).comp(1), net.cell(1).branch(2).comp(0), IonotropicSynapse())
    net.init_states()
    net.cell(0).branch(0).comp(0).stimulate(jx.step_current(0.5, 3.0, 0.5, DT, 5.0), verbose=False)
    net.cell(0).branch(2).comp(1).clamp("v", np.full(201, -62.0), verbose=False)
    net.cell(1).branch(2).comp(0).record("v", verbose=False)
    net.cell(0).branch(2).comp(0).record("v", verbose=False)
    net.record("IonotropicSynapse_s", verbose=False)
    return net


def _run(build, monkeypatch, *, rotate: bool, t_max: float):
    module = build()
    if not rotate:
        monkeypatch.setattr(simulate_module, "rotates", lambda step, num_steps: False)
    engine = engine_for(module.compiled(), "bwd_euler", "jaxley.dhs")
    assert simulate_module.rotates(engine.step, 10) is rotate
    recs = np.asarray(jx.integrate(module, delta_t=DT, t_max=t_max))
    monkeypatch.undo()
    return recs


@pytest.mark.parametrize("build", [_cell, _network], ids=["cell", "network"])
@pytest.mark.parametrize("t_max", [DT, 3.0])
def test_rotated_loop_records_the_same_simulation(build, t_max, monkeypatch):
    plain = _run(build, monkeypatch, rotate=False, t_max=t_max)
    rotated = _run(build, monkeypatch, rotate=True, t_max=t_max)
    assert rotated.shape == plain.shape
    assert plain.shape[1] >= round(t_max / DT) + 1
    np.testing.assert_allclose(rotated, plain, rtol=1e-12, atol=1e-12)


def test_rotated_loop_has_the_same_final_states_and_gradients(monkeypatch):
    def final_and_grad(rotate):
        cell = _cell()
        cell.branch("all").make_trainable("HH_gNa", verbose=False)
        cell.make_trainable("CaPump_decay", verbose=False)
        params = cell.get_parameters()
        if not rotate:
            monkeypatch.setattr(simulate_module, "rotates", lambda step, num_steps: False)

        def loss(p):
            return jnp.mean(jx.integrate(cell, params=p, delta_t=DT, t_max=5.0) ** 2)

        grads = jax.grad(loss)(params)
        _, states = jx.integrate(cell, params=params, delta_t=DT, t_max=5.0, return_states=True)
        monkeypatch.undo()
        return jax.tree_util.tree_leaves(grads), states

    g_plain, s_plain = final_and_grad(False)
    g_rot, s_rot = final_and_grad(True)
    for a, b in zip(g_plain, g_rot, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-14)
    for key in ("v", "HH_m", "CaCon_i", "eCa"):
        np.testing.assert_allclose(s_rot[key], s_plain[key], rtol=1e-12, atol=1e-12)


def test_unbranched_and_jaxley_order_runs_are_not_rotated():
    comp = jx.Compartment()
    comp.insert(HH())
    engine = engine_for(comp.compiled(), "bwd_euler", "jaxley.dhs")
    assert not simulate_module.rotates(engine.step, 100)
    cell = _cell()
    engine = engine_for(cell.compiled(), "bwd_euler", "jaxley.dhs")
    assert simulate_module.rotates(engine.step, 100)
    assert not simulate_module.rotates(engine.step, 0)
    jx.config.step_order = "jaxley"
    try:
        engine = engine_for(cell.compiled(), "bwd_euler", "jaxley.dhs")
        assert not simulate_module.rotates(engine.step, 100)
    finally:
        jx.config.step_order = "neuron"
