"""Plot the shared SWC morphologies in every ``vis`` type, and a small network.

python -m experiments.plot_morphologies --out DIR [--data-dir PATH] [--files N]

Writes ``DIR/<morphology>_<type>.png`` (types line, scatter, comp, morph on the
xy-plane and volume in 3-D) and ``DIR/network_full.png`` / ``DIR/network_point.png``.
A morphology the reader rejects is reported and skipped. Plots only; nothing is simulated.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "morphologies"
TYPES = ("line", "scatter", "comp", "morph", "volume")


def plot_cell(cell, stem: str, out: Path) -> list[Path]:
    """One PNG per plot type of `cell`; returns the paths written."""
    import matplotlib.pyplot as plt

    written = []
    for kind in TYPES:
        options = {"resolution": 6} if kind == "volume" else {}
        ax = cell.vis(type=kind, color="k", **options)
        ax.set_title(f"{stem}: {kind}", fontsize=7)
        path = out / f"{stem}_{kind}.png"
        ax.figure.savefig(path, dpi=150, bbox_inches="tight")
        plt.close(ax.figure)
        written.append(path)
    return written


def plot_network(out: Path) -> list[Path]:
    """A 2-layer network of small branched cells, fully connected, in both details."""
    import matplotlib.pyplot as plt

    import sim as jx
    from sim.connect import fully_connect
    from sim.synapses import IonotropicSynapse

    cell = jx.Cell(jx.Branch(jx.Compartment(), ncomp=4), parents=[-1, 0, 0, 1, 1])
    net = jx.Network([cell] * 5)
    net.arrange_in_layers([2, 3], within_layer_offset=150.0, between_layer_offset=300.0)
    fully_connect(net.cell([0, 1]), net.cell([2, 3, 4]), IonotropicSynapse())
    written = []
    for detail in ("full", "point"):
        ax = net.vis(detail=detail, synapse_scatter_kwargs={"s": 8})
        ax.set_title(f"network: {detail}", fontsize=7)
        path = out / f"network_{detail}.png"
        ax.figure.savefig(path, dpi=150, bbox_inches="tight")
        plt.close(ax.figure)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder (created)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="folder of .swc")
    parser.add_argument("--files", type=int, default=None, help="plot only the first N files")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")

    import sim as jx

    args.out.mkdir(parents=True, exist_ok=True)
    files = sorted(args.data_dir.glob("*.swc"))[: args.files]
    if not files:
        print(f"no .swc files in {args.data_dir}; plotting the network only")
    written = []
    for path in files:
        start = time.perf_counter()
        try:
            cell = jx.read_swc(path, ncomp=2)
        except Exception as err:  # the reader rejects some edge-case files on purpose
            print(f"skip {path.name}: {type(err).__name__}: {err}")
            continue
        written += plot_cell(cell, path.stem, args.out)
        print(f"{path.name}: {len(TYPES)} plots in {time.perf_counter() - start:.1f} s")
    written += plot_network(args.out)
    print(f"wrote {len(written)} PNGs to {args.out}")
    return written


if __name__ == "__main__":
    main()
