"""One look for every matplotlib figure of the course, legible where the page shows it.

    import dagprop as dp
    dp.style.use()      # in a notebook's first cell, before any plot

Figures are drawn as SVG with real text (not outlines), in a sans-serif font, at a width that the
website shows without shrinking, so a label set at ``font.size`` points is read at that size: the
website's tests (tests/test_figure_text.py) measure every label of every figure and fail below 12
CSS pixels (9 pt). The smallest text this style sets is 10 pt (13.3 px), which leaves room for a
page that shrinks a figure by up to a tenth.

Animations (``matplotlib.animation`` with ``to_jshtml``) get SVG frames too, so their text is
measured like any other figure's.
"""

from __future__ import annotations

__all__ = ["use", "RC", "WIDTH"]

# Widest figure, in inches, that the book's text column shows at its natural size on a 1400 px page.
# Measured in Chromium: the column is 784 CSS px wide there (8.2 in at 96 px per inch). 7.5 in
# (720 px) leaves room for the few pixels a tight bounding box adds around labels outside the axes.
WIDTH = 7.5

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
    "animation.frame_format": "svg",   # animation frames keep real text too
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
