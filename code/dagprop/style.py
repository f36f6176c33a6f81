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

Mathtext draws superscripts and subscripts at 70% of the text around them, under 9 pt for any text
under 13 pt. So ``use()`` also makes log axes (and log colour bars) label their ticks as plain
numbers at full size (``10``, ``1000``, ``1e6``) instead of matplotlib's ``10`` with a small
exponent. In labels and titles, write ``w0`` or set a label with sub- or superscripts at 13 pt.

Re-running a notebook must not rewrite its stored figures (the git diff of a re-run shows only what
changed). Matplotlib's SVG carries the time of drawing (``<dc:date>``) and random ids for clip
paths and markers; ``use()`` fixes the ids' salt (``svg.hashsalt``) and drops the date from inline
figures, and ``animation_html`` does the same for the frames of an animation and its page ids.
"""

from __future__ import annotations

__all__ = ["use", "RC", "WIDTH", "SVG_KWARGS", "animation_html", "plain_number"]

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
    "svg.hashsalt": "dagprop",         # ids from a fixed salt: the same figure, the same bytes
}

# Keyword arguments for every SVG the course saves (inline figures and animation frames): no
# drawing date, so the same figure gives the same bytes on every run.
SVG_KWARGS = {"metadata": {"Date": None}}


def plain_number(x: float) -> str:
    """A tick value at one font size: 0.05, 250 and 10000 as written, 1e6 and 2e-05 in e-notation."""
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e5:
        return f"{x:g}"
    mantissa, exponent = f"{x:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _plain_log_ticks() -> None:
    """Make every base-10 log axis label its ticks with ``plain_number`` (once per process)."""
    from matplotlib import scale, ticker

    if getattr(scale.LogScale, "_dagprop_plain_ticks", False):
        return

    class PlainLogFormatter(ticker.LogFormatter):
        """Labels every major tick (or, as a minor formatter, the ticks matplotlib would)."""

        def __init__(self, *args, major: bool = True, **kwargs):
            super().__init__(*args, **kwargs)
            self.major = major

        def __call__(self, x, pos=None):
            return self.fix_minus(plain_number(x)) if self.major else super().__call__(x, pos)

        def _num_to_string(self, x, vmin, vmax):
            return plain_number(x)

    default = scale.LogScale.set_default_locators_and_formatters

    def set_default_locators_and_formatters(self, axis):
        default(self, axis)
        if self.base == 10:
            axis.set_major_formatter(PlainLogFormatter(10))
            axis.set_minor_formatter(PlainLogFormatter(10, major=False,
                                                       labelOnlyBase=self.subs is not None))

    scale.LogScale.set_default_locators_and_formatters = set_default_locators_and_formatters
    scale.LogScale._dagprop_plain_ticks = True


def use() -> None:
    """Apply the course's style to matplotlib and, inside IPython, draw inline figures as SVG."""
    import matplotlib as mpl

    mpl.rcParams.update(RC)
    _plain_log_ticks()
    try:
        from IPython import get_ipython
        ip = get_ipython()
    except ImportError:  # plain Python: nothing inline to configure
        return
    if ip is not None:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
        set_matplotlib_formats("svg", **SVG_KWARGS)  # passed on to fig.canvas.print_figure


def animation_html(anim, *, alt: str = "", default_mode: str = "once") -> str:
    """``anim.to_jshtml()`` that gives the same HTML on every run, with ``alt`` text for its image.

    Frames are SVG without a drawing date, and the player's element ids, a random uuid in
    matplotlib, are a hash of the frames (unique per animation on a page, stable across runs).
    """
    import hashlib
    import html as html_lib
    import re
    import tempfile
    from pathlib import Path

    from matplotlib.animation import HTMLWriter

    fps = 1000 / anim._interval if hasattr(anim, "_interval") else None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "animation.html")
        anim.save(str(path), writer=HTMLWriter(fps=fps, embed_frames=True,
                                               default_mode=default_mode),
                  savefig_kwargs=SVG_KWARGS)
        html = path.read_text()
    random_id = re.search(r'id="_anim_img([0-9a-f]{32})"', html).group(1)
    stable_id = hashlib.sha1(html.replace(random_id, "").encode()).hexdigest()[:32]
    html = html.replace(random_id, stable_id)
    if alt:
        html = html.replace("<img ", f'<img alt="{html_lib.escape(alt)}" ', 1)
    return html
