"""Convert recordings in the Allen npz format to one NWB 2 icephys file.

Usage::

    python -m datasets.to_nwb IN.npz [IN2.npz ...] OUT.nwb [--force]

Each input becomes one sweep (see :func:`datasets.nwb.write_nwb`; values are stored
in mV and nA with SI conversion factors). The last argument is the output and must
end in ``.nwb``; an existing output is only replaced with ``--force``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m datasets.to_nwb",
        description="Write npz recordings (v_mV, i_nA, dt_ms, ...) as one NWB 2 icephys file.",
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="IN.npz", help="recordings to convert")
    p.add_argument("output", type=Path, metavar="OUT.nwb", help="NWB file to write")
    p.add_argument("--force", action="store_true", help="replace OUT.nwb if it exists")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the converter; returns the exit status (0 ok, 1 bad input, 2 usage error)."""
    p = _parser()
    args = p.parse_args(argv)
    if args.output.suffix.lower() != ".nwb":
        p.error(f"the last argument is the output and must end in .nwb, got {args.output}")
    if args.output.exists() and not args.force:
        p.error(f"{args.output} exists; pass --force to replace it")
    from datasets.loaders import load_npz
    from datasets.nwb import list_nwb_sweeps, write_nwb

    try:
        recordings = [load_npz(path) for path in args.inputs]
        write_nwb(recordings, args.output)
    except (FileNotFoundError, TypeError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    numbers = [s.sweep_number for s in list_nwb_sweeps(args.output)]
    print(f"wrote {args.output}: {len(recordings)} sweep(s), sweep numbers {numbers}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
