"""Sphinx extension for the students' edition: remove every exercise solution, gated ones included.

sphinx-exercise's ``hide_solutions`` drops ``{solution}`` blocks, but with gated solutions
(``{solution-start}`` ... ``{solution-end}``, used so that a solution can hold executed notebook
cells) it drops only the opening marker: the solution's cells stay on the page and the lone end
marker breaks the HTML writer. Here the opening marker becomes a placeholder node, and a transform
that runs before sphinx-exercise merges gated solutions removes everything from the placeholder to
its end marker. Loaded only by tools/build_students_book.py.
"""

from __future__ import annotations

from docutils import nodes
from sphinx.transforms import SphinxTransform
from sphinx_exercise.directive import SolutionStartDirective
from sphinx_exercise.nodes import solution_end_node


class removed_solution(nodes.Element):
    """Where a gated solution started; removed with the solution by ``RemoveGatedSolutions``."""


class HiddenSolutionStart(SolutionStartDirective):
    def run(self):
        super().run()  # records the start in sphinx-exercise's registry, so its checks still pass
        return [removed_solution()]


class RemoveGatedSolutions(SphinxTransform):
    default_priority = 5  # before sphinx-exercise's MergeGatedSolutions (priority 10)

    def apply(self):
        for start in list(self.document.findall(removed_solution)):
            parent = start.parent
            i = parent.index(start)
            j = i
            while j < len(parent.children) and not isinstance(parent.children[j], solution_end_node):
                j += 1
            del parent.children[i:j + 1]


def setup(app):
    app.setup_extension("sphinx_exercise")
    app.add_node(removed_solution)
    app.add_directive("solution-start", HiddenSolutionStart, override=True)
    app.add_transform(RemoveGatedSolutions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
