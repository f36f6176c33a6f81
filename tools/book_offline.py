"""A Sphinx extension that keeps the course website self-contained (listed in _config.yml).

Notebook outputs are pasted into the pages as they are. Matplotlib's ``to_jshtml()`` animation
player links Font Awesome 4 from a CDN for its button icons; this extension drops that link (the
book theme already ships Font Awesome, which draws the same ``fa fa-*`` icons offline). Any other
script or stylesheet from another host inside a page is reported as a warning, and so fails the
``--warningiserror`` build, naming the page.
"""

from __future__ import annotations

import re

from sphinx.util import logging

logger = logging.getLogger(__name__)

_MATPLOTLIB_FONT_AWESOME = re.compile(
    r'<link\b[^>]*href="https?://[^"]*/font-awesome/[^"]*"[^>]*>\s*', re.IGNORECASE)
_REMOTE_ASSET = re.compile(
    r"<(script|link)\b[^>]*?\b(?:src|href)\s*=\s*[\"']((?:https?:)?//[^\"']+)", re.IGNORECASE)


def strip_remote_assets(app, pagename, templatename, context, doctree):
    body = context.get("body")
    if not body:
        return
    body = _MATPLOTLIB_FONT_AWESOME.sub("", body)
    for tag, url in _REMOTE_ASSET.findall(body):
        logger.warning("%s: a cell output loads <%s> %s from another host; the website must work "
                       "offline", pagename, tag, url, location=pagename)
    context["body"] = body


def setup(app):
    app.connect("html-page-context", strip_remote_assets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
