"""pytest settings for re-executing the chapter notebooks with nbval (`make test-notebooks`).

nbval compares every stored output with a fresh one. Graphviz drawings (``dp.draw``) are SVG whose
text depends on the installed Graphviz build (coordinates, comments), not on the course's code, so
they are left out of the comparison, as nbval already does for PNG images; the code that produces
them still runs and must not fail.
"""

from __future__ import annotations

SKIPPED_MIME_TYPES = ("image/svg+xml",)


def pytest_collection_modifyitems(session, config, items):
    try:
        from nbval.plugin import IPyNbFile
    except ImportError:  # nbval not installed: nothing to adjust
        return
    for item in items:
        nb = item.parent
        if isinstance(nb, IPyNbFile):
            missing = tuple(m for m in SKIPPED_MIME_TYPES if m not in nb.skip_compare)
            nb.skip_compare = tuple(nb.skip_compare) + missing
