"""Morphology: SWC reading, NEURON Import3d-compatible sections, segment geometry,
distances between compartments and morphology editing."""

from sim.morphology.distance import distance_direct, distance_pathwise
from sim.morphology.dlambda import d_lambda_ncomp, lambda_f
from sim.morphology.edit import morph_connect, morph_delete
from sim.morphology.geometry import (
    arc_lengths,
    compartment_geometry,
    cylinder_geometry,
    neuron_ri,
)
from sim.morphology.swc import Section, SwcError, SwcPoints, build_sections, parse_swc

__all__ = [
    "Section",
    "SwcError",
    "SwcPoints",
    "arc_lengths",
    "build_sections",
    "compartment_geometry",
    "cylinder_geometry",
    "d_lambda_ncomp",
    "distance_direct",
    "distance_pathwise",
    "lambda_f",
    "morph_connect",
    "morph_delete",
    "neuron_ri",
    "parse_swc",
]
