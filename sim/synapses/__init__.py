"""Synapses: the :class:`Synapse` base class and ready-made synapses."""

from sim.synapses.exp2 import DoubleExponentialSynapse
from sim.synapses.ionotropic import IonotropicSynapse
from sim.synapses.synapse import Synapse
from sim.synapses.tanh import TanhConductanceSynapse, TanhRateSynapse
from sim.synapses.test_synapse import TestSynapse

__all__ = [
    "DoubleExponentialSynapse",
    "IonotropicSynapse",
    "Synapse",
    "TanhConductanceSynapse",
    "TanhRateSynapse",
    "TestSynapse",
]
