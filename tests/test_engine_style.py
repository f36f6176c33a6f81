"""dp.style: figures that re-render to the same bytes, so re-running a notebook leaves git clean."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib import animation  # noqa: E402

import dagprop as dp  # noqa: E402


@pytest.fixture(autouse=True)
def course_style():
    with matplotlib.rc_context():
        dp.style.use()
        yield
    plt.close("all")


def _figure():
    # Contours, markers and a clipped line: the parts that get random ids in matplotlib's SVG.
    fig, ax = plt.subplots(figsize=(4, 3))
    z = np.add.outer(np.linspace(-1, 1, 20) ** 2, np.linspace(-1, 1, 20) ** 2)
    ax.contour(z, levels=5)
    ax.plot([0, 25], [3, 30], "o-")
    ax.set(xlim=(0, 19), title="a figure")
    return fig


def _svg(fig) -> bytes:
    # What the inline backend does: IPython's print_figure with bbox_inches="tight" and our kwargs.
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", **dp.style.SVG_KWARGS)
    return buf.getvalue()


def test_the_same_figure_saves_to_the_same_svg_bytes_without_a_date():
    first, second = _svg(_figure()), _svg(_figure())
    assert b"<dc:date>" not in first
    assert first == second
    assert b"<text" in first  # text stays text (svg.fonttype none)


def test_inline_backend_gets_the_kwargs_and_repeats_itself():
    # Under IPython, use() must hand SVG_KWARGS to the inline formatter; run in a fresh process so
    # that the IPython singleton does not leak into other tests.
    code = """
import matplotlib; matplotlib.use("Agg")
import matplotlib.pyplot as plt
from IPython.core.interactiveshell import InteractiveShell
import dagprop as dp
shell = InteractiveShell.instance()
dp.style.use()
svg = shell.display_formatter.formatters["image/svg+xml"]
def one():
    fig, ax = plt.subplots()
    ax.contour([[0, 1, 2], [1, 2, 3], [2, 3, 5]])
    ax.plot([0, 1], [0, 1], "o-")
    out = svg(fig)
    plt.close(fig)
    return out
a, b = one(), one()
assert a is not None and "<dc:date>" not in a, "inline SVG carries a date"
assert a == b, "inline SVG differs between two renderings of one figure"
print("ok")
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ok"


def _animation():
    fig, ax = plt.subplots(figsize=(3, 2))
    line, = ax.plot([], [], "o-")
    ax.set(xlim=(0, 3), ylim=(0, 9))

    def step(k):
        line.set_data(np.arange(k + 1), np.arange(k + 1) ** 2)
        return (line,)

    anim = animation.FuncAnimation(fig, step, frames=3, interval=400)
    html = dp.style.animation_html(anim, alt='three "steps"')
    plt.close(fig)
    return html


def test_animation_html_is_the_same_on_every_run_and_has_alt_text():
    first, second = _animation(), _animation()
    assert first == second
    frames = re.findall(r'data:image/svg\+xml;base64,([^"]+)"', first)
    assert len(frames) == 3
    assert all(b"<dc:date>" not in base64.b64decode(f.replace("\\\n", "")) for f in frames)
    assert first.count('<img alt="three &quot;steps&quot;" id="_anim_img') == 1


def test_two_different_animations_get_different_ids():
    one = _animation()
    fig, ax = plt.subplots(figsize=(3, 2))
    anim = animation.FuncAnimation(fig, lambda k: [], frames=2, interval=400)
    other = dp.style.animation_html(anim)
    plt.close(fig)
    ids = [re.search(r'id="_anim_img([0-9a-f]+)"', h).group(1) for h in (one, other)]
    assert ids[0] != ids[1]
