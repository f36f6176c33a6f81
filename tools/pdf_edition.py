"""A Sphinx extension used only by `make pdf` (tools/build_pdf.py loads it; the website does not).

The PDF is printed from Sphinx's ``singlehtml`` build: the introduction and every chapter on one
page. Sphinx looks up how to write a custom node (myst-nb's folded code cells, sphinx-exercise's
boxes, ...) under the builder's name first and falls back to its format only when no extension
registered anything under that name; some extensions do register for ``singlehtml``, so the nodes
that registered only for ``html`` would have no writer. This extension gives ``singlehtml`` every
``html`` writer it lacks.
"""

from __future__ import annotations


def _copy_html_writers(app) -> None:
    if app.builder.name != "singlehtml":
        return
    handlers = app.registry.translation_handlers
    single = handlers.setdefault("singlehtml", {})
    for node, writers in handlers.get("html", {}).items():
        single.setdefault(node, writers)


def setup(app):
    app.connect("builder-inited", _copy_html_writers)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
