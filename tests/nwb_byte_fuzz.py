"""Child process for the byte-corruption fuzz of ``load_nwb`` (run by test_reliability).

libhdf5 does not validate every metadata block it reads: a file with flipped bytes in
its object headers can crash the whole interpreter (SIGSEGV inside ``h5py``'s attribute
reader, about 1 in 500 random flips of a small NWB file). No Python code can catch that,
so the fuzz runs here, in its own process: the parent restarts it after the example that
crashed and counts those as upstream crashes, while every example that returns must have
raised one of our clear errors naming the file.

Usage: ``python tests/nwb_byte_fuzz.py DIR FIRST LAST``; prints ``start K`` before
example K and ``bad K <message>`` for an error that does not name the file.
Examples are seeded by their index, so a crash reproduces with ``FIRST = LAST = K``.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np


def corrupt(template: bytes, k: int) -> bytes:
    """Example `k`: 1 to 20 random bytes of `template` set to random values."""
    rng = random.Random(k)
    raw = bytearray(template)
    for _ in range(rng.randint(1, 20)):
        raw[rng.randrange(len(raw))] = rng.randrange(256)
    return bytes(raw)


def main(folder: Path, first: int, last: int) -> None:
    from datasets import Recording, load_nwb, write_nwb

    base = folder / "base.nwb"
    if not base.exists():
        rec = Recording(v_mV=np.linspace(-70, -60, 20), i_nA=np.zeros(20), dt_ms=0.02)
        write_nwb(rec, base)
    template = base.read_bytes()
    path = folder / "corrupt.nwb"
    for k in range(first, last + 1):
        print(f"start {k}", flush=True)
        path.write_bytes(corrupt(template, k))
        for sweep in (None, 0):
            try:
                load_nwb(path, sweep=sweep)
            except (ValueError, TypeError, FileNotFoundError) as err:
                if str(path) not in str(err):
                    print(f"bad {k} {type(err).__name__}: {err}".replace("\n", " "), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
