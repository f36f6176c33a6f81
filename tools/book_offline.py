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
  controls, prev/next).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

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


def fix_written_pages(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for path in Path(app.outdir).rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        fixed = fix_theme_markup(text)
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
