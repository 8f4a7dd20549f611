"""Recordings for fitting: one :class:`Recording` type, loaders and synthetic data.

* :class:`Recording` - voltage + injected current on a regular grid, with metadata.
* Loaders: :func:`load_npz` (Allen sweeps in ``../shared/data/allen``, see
  :func:`allen_sweeps`), :func:`load_nwb` / :func:`list_nwb_sweeps` /
  :func:`write_nwb` (NWB 2 current clamp, several sweeps per file, paired through the
  ``IntracellularRecordingsTable``; needs ``pynwb``; ``python -m datasets.to_nwb``
  converts npz files), :func:`load_recording` (either, by suffix); morphologies:
  :func:`morphology_paths`, :func:`load_morphology` (SWC files in ``../shared/data``).
* Synthetic ground truth (``sim``-simulated): :func:`hh_compartment`,
  :func:`pospischil_compartment`, :func:`small_multicompartment_cell` and the demo
  dataset :func:`embedded_example`.
"""

from datasets.loaders import allen_sweeps, default_allen_dir, load_npz, load_recording
from datasets.morphology import default_morphology_dir, load_morphology, morphology_paths
from datasets.nwb import NwbSweep, list_nwb_sweeps, load_nwb, write_nwb
from datasets.recording import Recording
from datasets.synthetic import (
    EMBEDDED_TRUTH,
    HH_DEFAULTS,
    POSPISCHIL_DEFAULTS,
    embedded_example,
    hh_compartment,
    make_branched_hh_cell,
    make_hh_cell,
    make_pospischil_cell,
    pospischil_compartment,
    small_multicompartment_cell,
)

__all__ = [
    "EMBEDDED_TRUTH",
    "HH_DEFAULTS",
    "POSPISCHIL_DEFAULTS",
    "NwbSweep",
    "Recording",
    "allen_sweeps",
    "default_allen_dir",
    "default_morphology_dir",
    "load_morphology",
    "morphology_paths",
    "embedded_example",
    "hh_compartment",
    "list_nwb_sweeps",
    "load_npz",
    "load_nwb",
    "load_recording",
    "make_branched_hh_cell",
    "make_hh_cell",
    "make_pospischil_cell",
    "pospischil_compartment",
    "small_multicompartment_cell",
    "write_nwb",
]
