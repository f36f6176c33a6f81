"""Shortcuts through the four assignments: a submission that gets the answers without the skill
each question asks for (the engine's own operations, torch's autograd, recursion, a network of
dagprop nodes, hard-coded weights) or that skips a stated requirement (a stable log-sum-exp, a
bias gradient summed over the batch, the cheaper mode for a Jacobian) must score zero on the
questions it targets.

Each attack starts from the master, replaces the solution cells of the questions it targets by
its own code (or edits one line of the master's solution), and leaves the rest of the master in
place: the questions it does not touch must still get full marks, so a zero comes from the
question's checks and not from a notebook that failed to load. In assignment 04 the training
question is stubbed as in the student release unless the attack is on it (training is slow).
The attacks themselves are in coursework_shortcuts.py.

All attack notebooks are graded in one run of the grader's command line (the slow part),
with a fixed seed so that a failure can be reproduced (`--seed`); those that lose only because
of what the drawn inputs expose are also run in this process, through the hidden tests' own
probes, for thirty seeds. Known holes are strict xfails with their reason: when an assignment
closes one, the xfail turns into a failure that asks for the marker to go.
"""

from __future__ import annotations

import time

import nbformat
import pytest
from coursework_helpers import grades, run_grader
from coursework_shortcuts import A1, A3, ATTACKS, Attack, build

SEED = 20261129


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("shortcuts")
    subs, out = base / "submissions", base / "grades"
    subs.mkdir()
    for a in ATTACKS:
        nbformat.write(build(a), subs / a.file)
    t0 = time.monotonic()
    proc = run_grader("grade", subs, "--out", out, "--seed", SEED, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {}
    for r in grades(out):
        rows.setdefault(r["submission"], {})[r["question"]] = r
    return {"rows": rows, "seconds": time.monotonic() - t0}


def test_every_attack_notebook_is_graded(graded):
    assert sorted(graded["rows"]) == sorted(a.file for a in ATTACKS)


@pytest.mark.parametrize("a", [pytest.param(a, id=a.name, marks=[pytest.mark.xfail(
    reason=a.xfail, strict=True)] if a.xfail else []) for a in ATTACKS])
def test_shortcut_scores_zero_on_its_questions(graded, a):
    rows = graded["rows"][a.file]
    targeted = {q: rows[q] for q in a.zero}
    assert all(float(r["points"]) == 0 for r in targeted.values()), (
        f"seed {SEED}: " + "; ".join(f"{q} {r['points']}/{r['max_points']} ({r['status']})"
                                     for q, r in targeted.items()))
    # the attack's own code was in place (not the release's stub) when it lost the points
    assert not [q for q, r in targeted.items() if "NotImplementedError" in r["message"]]


@pytest.mark.parametrize("a", [pytest.param(a, id=a.name) for a in ATTACKS if a.intact])
def test_the_rest_of_the_attack_notebook_still_scores(graded, a):
    # so the zero above comes from the targeted question's checks, not from a notebook that
    # failed to load
    rows = graded["rows"][a.file]
    lost = {q: rows[q]["message"] for q in a.intact
            if float(rows[q]["points"]) != float(rows[q]["max_points"])}
    assert not lost, lost


# --- what the inputs expose, whatever the run's seed -------------------------------------------

# Attacks that lose their points only because of what the drawn inputs expose (values in the
# thousands, ties, a batch of one row, more inputs than outputs): a run draws new inputs from a
# new seed, so each must fail on every draw, not just on the one graded above. They use numpy
# only, so they are run here in this process, through the hidden tests' own probes, for many
# seeds (a few seconds, against a grading run per seed).
DRAWN = ("argmax_only_max", "unstable_logsumexp", "layer_norm_gamma_beta_not_summed",
         "finite_differences_logsumexp", "finite_differences_logsumexp_step_1e-4",
         "finite_differences_huber", "jacobian_always_forward_mode", "jacobian_always_reverse_mode",
         "unstable_cross_entropy", "bias_gradient_not_summed", "train_returns_its_input",
         "train_on_last_terms_data")
SEEDS = range(1, 31)
# known holes in the draws (the reason, until the assignment's cases close them)
DRAWN_XFAIL: dict[str, str] = {}
GRADED_ELSEWHERE = {"public-test", "no-grade", "remove-cell", "hidden-test"}


def _namespace(a: Attack) -> dict:
    """The attack notebook's graded cells, run in a namespace of their own."""
    ns = {"__name__": "__main__"}
    for cell in build(a).cells:
        if cell.cell_type == "code" and not set(cell.metadata.get("tags", [])) & GRADED_ELSEWHERE:
            exec(compile(cell.source, f"<{a.name}>", "exec"), ns)  # noqa: S102 - our own code
    return ns


def _passes(q, ns, case) -> bool:
    import numpy as np
    from coursework_checks import assert_close
    try:
        with np.errstate(all="ignore"):  # an unstable shortcut overflows, as it should
            got = {k: np.asarray(v) for k, v in q["probe"](ns, case).items()}
        want = q["expect"](case)
        if "compare" in q:
            q["compare"](q, case, want, got)
        else:
            assert set(got) == set(want), sorted(got)
            for key, val in want.items():
                assert_close(key, got[key], val, q.get("rtol", 1e-6), q.get("atol", 1e-8))
    except Exception:  # noqa: BLE001 - a failed case, whatever the reason
        return False
    return True


def _xfail_drawn(a):
    reason = a.xfail or DRAWN_XFAIL.get(a.name)
    return [pytest.mark.xfail(reason=reason, strict=True)] if reason else []


@pytest.mark.parametrize("a", [pytest.param(a, id=a.name, marks=_xfail_drawn(a))
                               for a in ATTACKS if a.name in DRAWN])
def test_shortcut_fails_on_every_draw_of_the_inputs(a):
    import grading
    assignment = grading.load_assignments()[a.assignment]
    assignment.load()
    ns = _namespace(a)
    passed = []
    for seed in SEEDS:
        for qname in a.zero:
            q = assignment.questions[qname]
            cases = q["cases"](grading.question_rng(seed, a.assignment, qname))
            if all(_passes(q, ns, case) for case in cases):
                passed.append(f"{qname} with --seed {seed}")
    assert not passed, f"the shortcut gets the points of {', '.join(passed)}"


def test_the_many_seeds_check_passes_a_master():
    # the check above can fail: the master's solutions pass every draw
    import grading
    for name in (A1, A3):
        assignment = grading.load_assignments()[name]
        assignment.load()
        ns = _namespace(Attack("master", name, ()))
        for qname, q in assignment.questions.items():
            cases = q["cases"](grading.question_rng(SEEDS[0], name, qname))
            assert all(_passes(q, ns, case) for case in cases), qname
