"""A Sphinx extension that keeps the course website self-contained and accessible (in _config.yml).

Notebook outputs are pasted into the pages as they are. Matplotlib's ``to_jshtml()`` animation
player links Font Awesome 4 from a CDN for its button icons; this extension drops that link (the
book theme already ships Font Awesome, which draws the same ``fa fa-*`` icons offline). Any other
script or stylesheet from another host inside a page is reported as a warning, and so fails the
``--warningiserror`` build, naming the page.

It also repairs what axe-core's WCAG 2.1 A/AA rules find in the theme and in the notebook outputs
(tests/test_a11y.py runs them on every page):

- the animation player's frame image gets alt text (the cell's ``mystnb.image.alt`` metadata, the
  same key that gives a figure output its alt text) and its slider gets a label;
- the "Show code cell source" toggles and the search button are named by their visible text, and
  the colour-mode button by its label alone (its icons' titles would be read as part of it);
- tools/book_static/course.css and course.js are added to every page: link contrast in
  admonitions, and the layout on a phone (equations that scroll in their box, the animation's
  controls, prev/next);
- every SVG figure's <img> gets ``data-text-px``: the size in CSS px of its smallest label when
  the image is shown at its intrinsic size. On a phone, course.js shrinks a figure to its column
  only as far as that label stays at 12 px; a wider figure scrolls sideways in a frame.
"""

from __future__ import annotations

import base64
import html
import math
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "book_static"
STYLESHEET = "course.css"
SCRIPT = "course.js"

_MATPLOTLIB_FONT_AWESOME = re.compile(
    r'<link\b[^>]*href="https?://[^"]*/font-awesome/[^"]*"[^>]*>\s*', re.IGNORECASE)
_REMOTE_ASSET = re.compile(
    r"<(script|link)\b[^>]*?\b(?:src|href)\s*=\s*[\"']((?:https?:)?//[^\"']+)", re.IGNORECASE)

# matplotlib's jshtml player: <img id="_anim_imgID"> and <input id="_anim_sliderID" type="range">
_ANIM_IMG = re.compile(r'<img id="(_anim_img[0-9a-f]+)"(?![^>]*\balt=)')
_ANIM_SLIDER = re.compile(r'<input id="(_anim_slider[0-9a-f]+)"(?![^>]*\baria-label=)')
ANIMATION_ALT = "Animation frame"
SLIDER_LABEL = "Animation frame: drag to step through the frames"

# myst-nb's toggle of a hidden cell names itself "Toggle hidden content", which is not what it shows.
_SUMMARY_LABEL = re.compile(r'<summary aria-label="Toggle hidden content">')

# Theme templates (pydata-sphinx-theme 0.16): fixed in the written files, as the templates render
# them. The search button shows "Search Ctrl+K" but is labelled "Search"; the colour-mode icons
# carry titles (Light, Dark, System Settings) that become part of the button's name.
_SEARCH_FIELD = re.compile(
    r'(<button class="btn search-button-field[^"]*"[^>]*?) aria-label="Search"')
_THEME_ICON_TITLE = re.compile(r'(<i class="theme-switch [^"]*" data-mode="\w+") title="[^"]*"')


def strip_remote_assets(app, pagename, templatename, context, doctree):
    body = context.get("body")
    if not body:
        return
    body = _MATPLOTLIB_FONT_AWESOME.sub("", body)
    for tag, url in _REMOTE_ASSET.findall(body):
        logger.warning("%s: a cell output loads <%s> %s from another host; the website must work "
                       "offline", pagename, tag, url, location=pagename)
    body = _SUMMARY_LABEL.sub("<summary>", body)
    context["body"] = body


def label_animation(text: str, alt: str | None) -> str:
    """The player's HTML with alt text on its frame image and a label on its slider."""
    alt_attr = html.escape(alt or ANIMATION_ALT, quote=True)
    text = _ANIM_IMG.sub(lambda m: f'<img id="{m.group(1)}" alt="{alt_attr}"', text)
    return _ANIM_SLIDER.sub(
        lambda m: f'<input id="{m.group(1)}" aria-label="{SLIDER_LABEL}"', text)


def _cell_alt(node) -> str | None:
    while node is not None:
        meta = node.get("cell_metadata") if isinstance(node, nodes.Element) else None
        if isinstance(meta, dict):
            image = (meta.get("mystnb") or {}).get("image") or {}
            return image.get("alt") if isinstance(image, dict) else None
        node = node.parent
    return None


def label_animations(app, doctree, docname):
    for raw in list(doctree.findall(nodes.raw)):
        text = raw.astext()
        if "_anim_img" not in text:
            continue
        # Without the cell's alt text the frame is called just "Animation frame"; the website
        # tests list such images as lacking a description.
        new = label_animation(text, _cell_alt(raw))
        raw.replace_self(nodes.raw(new, new, format=raw.get("format", "html")))


def fix_theme_markup(text: str) -> str:
    text = _SEARCH_FIELD.sub(r"\1", text)
    return _THEME_ICON_TITLE.sub(r"\1", text)


# --- the smallest label of an SVG figure ---

_LENGTH = re.compile(r"^\s*([0-9.]+)\s*(px|pt|in|cm|mm)?\s*$")
_PX_PER = {None: 1.0, "px": 1.0, "pt": 4 / 3, "in": 96.0, "cm": 96 / 2.54, "mm": 9.6 / 2.54}
_TRANSFORM = re.compile(r"(matrix|scale)\s*\(([^)]*)\)")
_FONT_SIZE = re.compile(r"font-size\s*:\s*([0-9.]+)\s*(px|pt)?")


def _length_px(value: str | None) -> float | None:
    m = _LENGTH.match(value or "")
    return float(m.group(1)) * _PX_PER[m.group(2)] if m else None


def _scale(transform: str | None) -> float:
    """How much a transform attribute scales lengths (rotations and translations do not)."""
    factor = 1.0
    for kind, args in _TRANSFORM.findall(transform or ""):
        n = [float(a) for a in re.split(r"[\s,]+", args.strip()) if a]
        if kind == "scale" and n:
            factor *= math.sqrt(abs(n[0] * (n[1] if len(n) > 1 else n[0])))
        elif kind == "matrix" and len(n) == 6:
            factor *= math.sqrt(abs(n[0] * n[3] - n[1] * n[2]))
    return factor


def _font_size(el, inherited: float) -> float:
    m = _FONT_SIZE.search(el.get("style") or "")
    if m:
        return float(m.group(1)) * _PX_PER[m.group(2)]
    own = _length_px(el.get("font-size"))
    return own if own is not None else inherited


def smallest_text_px(svg_text: str) -> float | None:
    """The rendered size (CSS px) of the SVG's smallest label, at the SVG's intrinsic size."""
    try:
        root = ET.fromstring(svg_text.encode("utf-8"))
    except ET.ParseError:
        return None
    width = _length_px(root.get("width"))
    box = [float(v) for v in re.split(r"[\s,]+", (root.get("viewBox") or "").strip()) if v]
    unit = width / box[2] if width and len(box) == 4 and box[2] > 0 else 1.0
    smallest = None

    def walk(el, scale, size):
        nonlocal smallest
        scale *= _scale(el.get("transform"))
        size = _font_size(el, size)
        if el.tag.rsplit("}", 1)[-1] in ("text", "tspan") and (el.text or "").strip():
            px = size * scale * unit
            smallest = px if smallest is None else min(smallest, px)
        for child in el:
            walk(child, scale, size)

    walk(root, 1.0, 16.0)
    return smallest


_IMG_SVG = re.compile(r'<img\b(?![^>]*\bdata-text-px=)[^>]*?\bsrc="([^"]+)"', re.IGNORECASE)


def _svg_of(src: str, page: Path) -> str | None:
    if src.startswith("data:image/svg+xml"):
        head, _, body = src.partition(",")
        return base64.b64decode(body).decode("utf-8") if head.endswith(";base64") else unquote(body)
    if src.lower().endswith(".svg") and "://" not in src and "/_static/" not in src:
        path = (page.parent / unquote(src)).resolve()
        return path.read_text(encoding="utf-8") if path.is_file() else None
    return None


# matplotlib's jshtml player: its <img> has no src; its frames are set from a script on the page.
_ANIM_IMG_TAG = re.compile(r'<img (?=[^>]*\bid="_anim_img([0-9a-f]+)")(?![^>]*\bdata-text-px=)')
_ANIM_FRAMES = re.compile(r'var img_id = "_anim_img([0-9a-f]+)"(.*?)</script>', re.DOTALL)
_ANIM_FRAME = re.compile(r'frames\[\d+\] = "(data:image/svg\+xml[^"]+)"')


def mark_text_sizes(text: str, page: Path) -> str:
    """Every SVG <img> of a page with data-text-px, its smallest label at its intrinsic size
    (for an animation, the smallest over its frames)."""
    def mark(m):
        svg = _svg_of(html.unescape(m.group(1)), page)
        px = smallest_text_px(svg) if svg else None
        return m.group(0) if px is None else f'<img data-text-px="{px:.2f}"{m.group(0)[4:]}'

    text = _IMG_SVG.sub(mark, text)
    frames = {}
    for anim_id, script in _ANIM_FRAMES.findall(text):
        sizes = [smallest_text_px(_svg_of(f, page)) for f in _ANIM_FRAME.findall(script)]
        sizes = [s for s in sizes if s is not None]
        if sizes:
            frames[anim_id] = min(sizes)

    def mark_animation(m):
        px = frames.get(m.group(1))
        return m.group(0) if px is None else f'<img data-text-px="{px:.2f}" '
    return _ANIM_IMG_TAG.sub(mark_animation, text)


def fix_written_pages(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    # Sphinx copies static files only when some page is out of date: a build after an edit of
    # course.css or course.js alone would keep serving the old ones.
    for name in (STYLESHEET, SCRIPT):
        source, target = STATIC / name, Path(app.outdir) / "_static" / name
        if target.parent.is_dir() and (not target.exists()
                                       or target.read_bytes() != source.read_bytes()):
            shutil.copyfile(source, target)
    for path in Path(app.outdir).rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        fixed = mark_text_sizes(fix_theme_markup(text), path)
        if fixed != text:
            path.write_text(fixed, encoding="utf-8")


def add_static(app, config):
    config.html_static_path = [*config.html_static_path, str(STATIC)]


def setup(app):
    app.connect("config-inited", add_static)
    app.add_css_file(STYLESHEET)
    app.add_js_file(SCRIPT)
    app.connect("doctree-resolved", label_animations)
    app.connect("html-page-context", strip_remote_assets)
    app.connect("build-finished", fix_written_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
