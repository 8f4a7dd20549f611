"""Gradients through networks (synaptic weights and time constants) and ion diffusion
(``axial_diffusion_CaCon_i``) against central finite differences (float64).

The network is feed-forward: cell 0 (stimulated, 2 spikes) projects onto cells 1 and
2 with ``DoubleExponentialSynapse`` edges (event-triggered on cell 0's voltage, which
no trainable parameter changes, so the event times are fixed and the simulation is a
smooth function of the synaptic parameters) and onto cell 2 with an
``IonotropicSynapse`` (continuous in the presynaptic voltage). Both post cells fire.

Central differences with a relative step of 1e-5 (truncation ~ eps², round-off
~ 1e-16 / eps) agree with the gradients to 1e-10 .. 2e-8 relative here (measured),
far inside the 1e-5 tolerance.
"""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import sim as jx  # noqa: E402
from sim.channels import HH  # noqa: E402
from sim.pumps import CaNernstReversal, CaPump  # noqa: E402
from sim.synapses import DoubleExponentialSynapse, IonotropicSynapse  # noqa: E402

DT, T_MAX = 0.025, 10.0
FD_REL_STEP = 1e-5
GRAD_RTOL = 1e-5
EXP2, IONO = "DoubleExponentialSynapse", "IonotropicSynapse"


def _central_differences(f, x):
    grad = np.zeros_like(x)
    for j in range(x.size):
        step = FD_REL_STEP * abs(x[j])
        up, down = x.copy(), x.copy()
        up[j] += step
        down[j] -= step
        grad[j] = (float(f(up)) - float(f(down))) / (2 * step)
    return grad


def _flatten(params):
    keys = [next(iter(p)) for p in params]
    sizes = [int(np.size(p[k])) for p, k in zip(params, keys)]
    flat = np.concatenate([np.asarray(p[k], dtype=float).reshape(-1) for p, k in zip(params, keys)])

    def unflatten(x):
        out, start = [], 0
        for k, n in zip(keys, sizes):
            out.append({k: x[start : start + n]})
            start += n
        return out

    names = [f"{k}[{i}]" for k, n in zip(keys, sizes) for i in range(n)]
    return flat, unflatten, names


def _check(module, loss_of_output):
    params = module.get_parameters()
    flat, unflatten, names = _flatten(params)

    def loss(x):
        return loss_of_output(jx.integrate(module, params=unflatten(x), delta_t=DT, t_max=T_MAX))

    grad = np.asarray(jax.jit(jax.grad(loss))(jnp.asarray(flat)))
    fd = _central_differences(jax.jit(loss), flat)
    errors = np.abs(grad - fd) / np.abs(fd)
    assert np.all(np.abs(fd) > 0), dict(zip(names, fd))
    assert np.all(errors < GRAD_RTOL), dict(zip(names, errors))
    return dict(zip(names, errors))


def _network():
    cell = jx.Cell(jx.Branch(jx.Compartment(), ncomp=1), parents=[-1])
    net = jx.Network([cell, cell, cell])
    net.insert(HH())
    c = [net.cell(i).branch(0).comp(0) for i in range(3)]
    jx.connect(c[0], c[1], DoubleExponentialSynapse())  # edge 0
    jx.connect(c[0], c[2], DoubleExponentialSynapse())  # edge 1
    jx.connect(c[0], c[2], IonotropicSynapse())  # edge 2
    net.set(f"{EXP2}_weight", 0.004)
    net.edge(1).set(f"{EXP2}_weight", 0.002)
    net.set(f"{IONO}_gS", 0.003)
    net.init_states()
    pulses = jx.step_current(1.0, 1.0, 0.3, DT, T_MAX) + jx.step_current(6.0, 1.0, 0.3, DT, T_MAX)
    c[0].stimulate(pulses, verbose=False)
    for comp in c:
        comp.record("v", verbose=False)
    return net


def test_network_gradients_match_finite_differences():
    net = _network()
    assert list(net.edges["type"]) == [EXP2, EXP2, IONO]
    net.select(edges=[0, 1]).make_trainable(f"{EXP2}_weight", verbose=False)  # one per edge
    net.make_trainable(f"{EXP2}_tau1", verbose=False)  # shared by both edges
    net.make_trainable(f"{EXP2}_tau2", verbose=False)
    net.make_trainable(f"{IONO}_gS", verbose=False)
    net.make_trainable(f"{IONO}_k_minus", verbose=False)
    params = net.get_parameters()
    assert [np.size(p[k]) for p in params for k in p] == [2, 1, 1, 1, 1]
    np.testing.assert_allclose(params[0][f"{EXP2}_weight"], [0.004, 0.002])

    v = np.asarray(jx.integrate(net, params=params, delta_t=DT, t_max=T_MAX))
    spikes = [int(np.sum((row[:-1] < 0) & (row[1:] >= 0))) for row in v]
    assert spikes[0] == 2 and spikes[1] >= 1 and spikes[2] >= 1, spikes

    _check(net, lambda out: jnp.mean(out[1:] ** 2))


def test_per_edge_weights_have_distinct_gradients():
    """The two weights act on different post cells: each loss sees only its own edge."""
    net = _network()
    net.select(edges=[0, 1]).make_trainable(f"{EXP2}_weight", verbose=False)
    params = net.get_parameters()

    def loss(p, row):
        return jnp.mean(jx.integrate(net, params=p, delta_t=DT, t_max=T_MAX)[row] ** 2)

    g1 = np.asarray(jax.grad(loss)(params, 1)[0][f"{EXP2}_weight"])
    g2 = np.asarray(jax.grad(loss)(params, 2)[0][f"{EXP2}_weight"])
    assert g1[0] != 0 and g1[1] == 0, g1
    assert g2[0] == 0 and g2[1] != 0, g2


def _diffusing_cell():
    cell = jx.Cell([jx.Branch(jx.Compartment(), ncomp=n) for n in (3, 2, 2)], [-1, 0, 0])
    cell.insert(CaNernstReversal())
    cell.insert(CaPump())
    cell.set("i_Ca", 0.0)
    cell.diffuse("CaCon_i")
    cell.branch(0).set("length", 4.0)
    cell.branch(1).set("radius", 0.6)
    cell.branch(0).comp(0).set("CaCon_i", 0.5)
    for b in range(3):
        cell.branch(b).comp(1).record("CaCon_i", verbose=False)
    cell.branch(0).comp(0).record("eCa", verbose=False)
    return cell


def test_diffusion_constant_gradients_match_finite_differences():
    cell = _diffusing_cell()
    for b, d in enumerate((2.0, 0.5, 1.0)):  # µm²/ms
        cell.branch(b).set("axial_diffusion_CaCon_i", d)
    cell.branch("all").make_trainable("axial_diffusion_CaCon_i", verbose=False)  # one per branch
    cell.make_trainable("CaPump_decay", verbose=False)
    params = cell.get_parameters()
    np.testing.assert_allclose(params[0]["axial_diffusion_CaCon_i"], [2.0, 0.5, 1.0])
    assert np.size(params[1]["CaPump_decay"]) == 1

    def loss(out):
        # Concentrations far from the source, and the Nernst potential at the source.
        return jnp.mean(out[:3] ** 2) * 1e4 + jnp.mean(out[3]) * 1e-2

    _check(cell, loss)
