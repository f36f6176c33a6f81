"""One look for every matplotlib figure of the course, legible where the page shows it.

    import dagprop as dp
    dp.style.use()      # in a notebook's first cell, before any plot

Figures are drawn as SVG with real text (not outlines), in a sans-serif font, at a width that the
website shows without shrinking, so a label set at ``font.size`` points is read at that size: the
website's tests measure every label of every figure and fail below 12 CSS pixels (9 pt).
"""

from __future__ import annotations

__all__ = ["use", "RC", "WIDTH"]

# Widest figure, in inches, that the book's text column shows at its natural size on a 1400 px page.
WIDTH = 7.0

RC = {
    "svg.fonttype": "none",            # text stays text: searchable, and measurable by the tests
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "figure.titlesize": 12,
    "figure.figsize": (6.0, 3.8),
    "figure.dpi": 100,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
}


def use() -> None:
    """Apply the course's style to matplotlib and, inside IPython, draw inline figures as SVG."""
    import matplotlib as mpl

    mpl.rcParams.update(RC)
    try:
        from IPython import get_ipython
        ip = get_ipython()
    except ImportError:  # plain Python: nothing inline to configure
        return
    if ip is not None:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
        set_matplotlib_formats("svg")
