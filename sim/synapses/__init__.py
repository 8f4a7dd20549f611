"""Synapses: the :class:`Synapse` base class and ready-made synapses."""

from sim.synapses.ionotropic import IonotropicSynapse
from sim.synapses.synapse import Synapse

__all__ = ["IonotropicSynapse", "Synapse"]
