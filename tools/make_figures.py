"""Draw the course's graph figures into img/ from the example graphs in ``dagprop.examples``.

    python tools/make_figures.py            # writes img/*.svg (what `make figures` runs)
    python tools/make_figures.py --out DIR  # writes them somewhere else (tests/test_figures.py)

Every figure is Graphviz ``dot`` output of ``dp.draw``, so the pictures in the book show the same
nodes, values and gradients that the engine computes. The output is deterministic: running the
script twice gives identical files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import dagprop as dp

IMG = Path(__file__).resolve().parent.parent / "img"


def fanout_figure():
    """Node y feeds two nodes, so its gradient is the sum of two incoming terms. Grey arrows are
    the forward pass, dashed red ones the gradients flowing back."""
    g, _ = dp.examples.fanout()
    return dp.draw(g, grad_edges=True)


def single_neuron_path_figure():
    """One sigmoid neuron with cross-entropy loss; the route from L back to w0 in red, its arrows
    pointing the way the gradient travels."""
    g, n = dp.examples.single_neuron()
    return dp.draw(g, highlight_path=(n["w0"], n["L"]))


def single_neuron_local_figure():
    """The same neuron with each backward (red, dashed) arrow labelled by its local gradient
    d child / d parent: the factor the gradient is multiplied by on its way down."""
    g, _ = dp.examples.single_neuron()
    return dp.draw(g, show_local=True)


FIGURES = {
    "backprop-compgraph.svg": fanout_figure,
    "backprop-compgraph2.svg": single_neuron_path_figure,
    "backprop-compgraph3.svg": single_neuron_local_figure,
}


def render(name: str) -> str:
    """The SVG text of one figure, as ``dot`` draws it."""
    return FIGURES[name]().pipe(format="svg", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=IMG, help="folder to write the SVG files to")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in FIGURES:
        path = args.out / name
        path.write_text(render(name), encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
