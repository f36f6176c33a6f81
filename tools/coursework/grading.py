"""Grading: hidden tests drawn from a per-run seed, one worker process per submission, answers
compared with references computed in the grader's process.

For every question the grader sends inputs it drew, the worker calls the submission and sends
back plain arrays, and the grader compares them with its references: same keys, shapes equal
exactly (never through broadcasting), finite, then close. A question that loops forever is
stopped after its time limit and the worker restarted for the next question; one notebook's
grading as a whole is bounded by ``Limits.budget``.
"""

from __future__ import annotations

import base64
import concurrent.futures
import dataclasses
import importlib.util
import inspect
import io
import os
import re
import secrets
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import isolation
from isolation import SandboxError
from matching import Submission, find_submissions, match, submission_cells
from release import ASSIGNMENTS, masters
from supervisor import Worker, WorkerLost, _adopt_orphans, _kill_strays, _not_dumpable


MAX_ARRAYS = 10_000  # arrays in one answer (all cases of a question together)


# --- assignments and their hidden tests ---------------------------------------------------------


def question_rng(seed: int, assignment: str, question: str) -> np.random.Generator:
    """The generator of one question's inputs: the run's seed, the assignment and the question
    (a regrade with the same seed draws the same inputs)."""
    return np.random.default_rng([seed, zlib.crc32(assignment.encode()),
                                  zlib.crc32(question.encode())])


def new_seed() -> int:
    return secrets.randbelow(2**31)


@dataclass
class Assignment:
    """A master notebook and its hidden tests; inputs and references are computed once."""

    name: str
    master: Path
    hidden_path: Path
    hidden: object = None
    seed: int = 0
    cases: dict = field(default_factory=dict)      # question -> list of dicts of arrays
    expected: dict = field(default_factory=dict)   # question -> list of references
    inputs: dict = field(default_factory=dict)     # question -> the cases as a savez archive

    @property
    def questions(self) -> dict:
        return self.hidden.QUESTIONS

    @property
    def max_points(self) -> float:
        return sum(q["points"] for q in self.questions.values())

    def load(self) -> None:
        if self.hidden is None:
            spec = importlib.util.spec_from_file_location(f"hidden_{self.name}",
                                                          self.hidden_path)
            self.hidden = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(self.hidden)

    def prepare(self, seed: int) -> None:
        """Import the hidden tests, draw every question's inputs from ``seed`` and compute the
        references here. The inputs travel in the probe request as a savez archive, never
        through a file another submission could replace."""
        self.load()
        self.seed = seed
        for qname, q in self.questions.items():
            make = q["cases"]
            takes_rng = bool(inspect.signature(make).parameters)
            rng = question_rng(seed, self.name, qname)
            self.cases[qname] = make(rng) if takes_rng else make()
            self.expected[qname] = [q["expect"](c) for c in self.cases[qname]]
            flat = {f"c{i}.{k}": np.asarray(v) for i, c in enumerate(self.cases[qname])
                    for k, v in c.items()}
            buf = io.BytesIO()
            np.savez(buf, **flat)
            self.inputs[qname] = base64.b64encode(buf.getvalue()).decode()


def load_assignments(assignments: Path = ASSIGNMENTS) -> dict[str, Assignment]:
    found = {}
    for master in masters(assignments):
        hidden = assignments / "tests" / f"{master.stem}_hidden.py"
        if not hidden.exists():
            raise FileNotFoundError(f"{master.name} has no hidden tests file {hidden}")
        found[master.stem] = Assignment(master.stem, master, hidden)
    return found


# --- limits and layers --------------------------------------------------------------------------


@dataclass
class Limits:
    timeout: float = 20.0       # seconds per question (a question may ask for more)
    cell_timeout: float = 20.0  # seconds per notebook cell
    notebook_timeout: float = 120.0  # seconds for all cells together (and for each re-run)
    memory_mb: int = 3072       # memory of a worker (with all its processes, where cgroups)
    sandbox: bool = True        # apply the isolation layers the machine offers
    require: bool = True        # and refuse to grade without isolation (fail closed)
    protect: tuple = ()         # paths no worker may read
    budget: float = 300.0       # seconds for one notebook, everything included
    without: tuple = ()         # layers switched off on purpose (landlock, uid, cgroup)
    uids: object = None         # UidPool when the grader runs as root
    cgroups: object = None      # CGroups when the grader may create them

    def setup(self) -> Limits:
        """The limits with the grader's layers attached (uids and cgroups, where possible)."""
        lim = dataclasses.replace(self)
        if self.sandbox and isolation.is_root() and "uid" not in self.without:
            lim.uids = self.uids or isolation.UidPool()
        if self.sandbox and "cgroup" not in self.without:
            cg = self.cgroups or isolation.CGroups()
            lim.cgroups = cg if cg.kind else None
        return lim


# --- grading one submission -----------------------------------------------------------------------


@dataclass
class QuestionResult:
    question: str
    title: str
    points: float
    max_points: float
    status: str                     # passed, failed, error, timeout
    messages: list = field(default_factory=list)


@dataclass
class SubmissionResult:
    submission: str
    assignment: str
    questions: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    seconds: float = 0.0
    isolation: str = ""             # the layers that held, as the worker reported them
    status: str = "graded"          # graded, unmatched, skipped
    file: str = ""                  # the resolved path: the key when results are merged
    seed: int | None = None

    @property
    def points(self) -> float:
        return sum(q.points for q in self.questions)

    @property
    def max_points(self) -> float:
        return sum(q.max_points for q in self.questions)


def grade_submission(sub: Submission, a: Assignment, limits: Limits) -> SubmissionResult:
    """Grade one matched notebook against assignment ``a`` (prepared). The worker runs in a
    fresh temporary folder; everything together takes at most ``limits.budget`` seconds."""
    t0 = time.monotonic()
    end = t0 + limits.budget
    res = SubmissionResult(sub.label, a.name, file=str(sub.path.resolve()), seed=a.seed)
    cells = None
    if sub.error:
        res.notes.append(sub.error)
    else:
        cells = submission_cells(sub.notebook)
    with tempfile.TemporaryDirectory(prefix="grade-", dir=isolation.workdir_base()) as tmp:
        tmp = Path(tmp)
        worker, ran = None, []
        if cells is not None:
            worker, ran = _load(cells, a, tmp, limits, res.notes, end)
            res.isolation = getattr(worker, "isolation", "")
        try:
            for qname, q in a.questions.items():
                qr = QuestionResult(qname, q.get("title", qname), 0, q["points"], "error")
                res.questions.append(qr)
                left = end - time.monotonic()
                if worker is None:
                    qr.messages.append("not graded: the notebook could not be run")
                    continue
                if left <= 1:
                    qr.status = "timeout"
                    qr.messages.append(f"not graded: grading this notebook took more than its "
                                       f"budget of {limits.budget:g} s")
                    continue
                try:
                    reply = _probe(worker, a, qname, q, limits, left)
                except WorkerLost as e:
                    qr.status, qr.messages = ("timeout" if e.timed_out else "error"), [str(e)]
                    worker = _restart(a, ran, tmp, limits, res.notes, None, end)
                    continue
                _score(qr, a, qname, q, reply)
        finally:  # even if the grader fails on this submission: no worker outlives it
            if worker is not None:
                worker.kill()
    res.seconds = time.monotonic() - t0
    return res


def _load(cells, a, tmp, limits, notes, end):
    """Start a worker and run the submission's cells one by one. A cell that hangs or kills
    the process is skipped (the worker is restarted with the cells that ran before it)."""
    try:
        worker = Worker(a.hidden_path, tmp, limits, limits.cell_timeout + 30)
    except WorkerLost as e:
        notes.append(f"the grading process did not start: {e}")
        return None, []
    ran = []
    deadline = min(time.monotonic() + limits.notebook_timeout, end)
    for label, code in cells:
        left = deadline - time.monotonic()
        if left <= 0:  # many slow cells, each within its limit, must not stall the grader
            notes.append(f"{label} and the cells after it were skipped: the notebook's cells "
                         f"took more than {limits.notebook_timeout:g} s together")
            break
        try:
            r = _exec(worker, label, code, deadline, limits)
        except WorkerLost as e:
            notes.append(f"{label} was skipped: {e}")
            worker = _restart(a, ran, tmp, limits, notes, deadline, end)
            if worker is None:
                return None, ran
            continue
        ran.append((label, code))
        if not r.get("ok"):
            notes.append(f"{label} raised {round_numbers(str(r.get('error'))[:1000])}")
    return worker, ran


def _restart(a, ran, tmp, limits, notes, deadline, end):
    """A fresh worker that has run the cells in ``ran`` again (silently: they ran before),
    all before ``deadline``: while the notebook loads, re-runs count against its time, so
    cells that kill their process cannot make the grader re-run slow cells without end."""
    try:
        deadline = min(deadline or time.monotonic() + limits.notebook_timeout, end)
        if deadline - time.monotonic() <= 1:
            raise WorkerLost(f"grading this notebook took more than its budget of "
                             f"{limits.budget:g} s", True)
        worker = Worker(a.hidden_path, tmp, limits, limits.cell_timeout + 30)
        for label, code in ran:
            _exec(worker, label, code, deadline, limits)
        return worker
    except WorkerLost as e:
        notes.append(f"the notebook could not be run again after a failure: {e}")
        return None


def _exec(worker, label, code, deadline, limits) -> dict:
    """Run one cell within its own time limit and what is left of the notebook's."""
    left = deadline - time.monotonic()
    try:
        if left <= 0:
            worker.kill()
            raise WorkerLost("", True)
        return worker.request({"cmd": "exec", "code": code, "label": label},
                              min(limits.cell_timeout, left))
    except WorkerLost as e:
        if e.timed_out and left < limits.cell_timeout:
            raise WorkerLost(f"the notebook's cells took more than {limits.notebook_timeout:g} s "
                             "together", True) from None
        raise


def _probe(worker, a, qname, q, limits, left):
    msg = {"cmd": "probe", "question": qname, "inputs": a.inputs[qname],
           "cases": len(a.cases[qname])}
    if q.get("recursion_limit"):
        msg["recursion_limit"] = int(q["recursion_limit"])
    return worker.request(msg, min(max(limits.timeout, q.get("timeout", 0)), left))


_NUMBER = re.compile(r"(?<![\w.])-?\d+\.\d{4,}(?:[eE][-+]?\d+)?|(?<![\w.])-?\d\.\d+[eE][-+]?\d+")


def round_numbers(text: str) -> str:
    """Numbers in a message from the worker, to 4 significant digits: an exception message may
    print the grader's inputs, and they must not come back bit-exact (a lookup table)."""
    return _NUMBER.sub(lambda m: f"{float(m.group()):.4g}", text)


def _score(qr, a, qname, q, reply):
    """Compare the worker's outputs with the references; all cases must pass for the points.
    The reply may have been forged by the submission: anything malformed fails the question."""
    cases, expected = a.cases[qname], a.expected[qname]
    errors = reply.get("errors")
    if (not isinstance(errors, list) or len(errors) != len(cases)
            or not all(e is None or isinstance(e, str) for e in errors)
            or not isinstance(reply.get("outputs"), str)):
        qr.messages.append("the grader got no usable answer for this question")
        return
    try:
        flat = _arrays(base64.b64decode(reply["outputs"], validate=True))
    except Exception as e:  # noqa: BLE001 - a malformed or forged answer is a failed question
        qr.messages.append(f"the answers could not be read: {type(e).__name__}: {e}")
        return
    describe = q.get("describe", _describe)
    compare = q.get("compare", _compare)
    failed, seen = 0, {}
    for i, (case, want) in enumerate(zip(cases, expected)):
        prefix = f"c{i}."
        got = {k[len(prefix):]: v for k, v in flat.items() if k.startswith(prefix)}
        where = f"case {i + 1} of {len(cases)} ({describe(case)})"
        if errors[i] is not None:
            failed += 1
            err = round_numbers(errors[i][:1000])  # the worker's are shorter
            if err in seen:  # the same exception in every case: say it once
                seen[err] += 1
                continue
            seen[err] = 1
            qr.messages.append(f"{where}: {err}")
            continue
        try:
            compare(q, case, want, got)
        except AssertionError as e:
            failed += 1
            qr.messages.append(f"{where}: {e}")
        except Exception as e:  # noqa: BLE001 - malformed answers fail the case
            failed += 1
            qr.messages.append(f"{where}: unusable answer: {type(e).__name__}: "
                               f"{round_numbers(str(e))[:300]}")
    for err, n in seen.items():
        if n > 1:
            qr.messages = [m + f" (the same in {n - 1} more cases)" if m.endswith(err) else m
                           for m in qr.messages]
    if failed:
        qr.status = "failed"
    else:
        qr.status, qr.points = "passed", q["points"]


def _arrays(data: bytes) -> dict:
    """The arrays of a savez archive, refusing compressed members: ``numpy.savez`` stores its
    arrays as they are, and a forged archive could otherwise inflate a small answer into more
    memory than the grader has."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        if len(z.infolist()) > MAX_ARRAYS:  # each costs the grader time to load
            raise ValueError(f"more than {MAX_ARRAYS} arrays")
        for info in z.infolist():
            if info.compress_type != zipfile.ZIP_STORED or info.file_size > len(data):
                raise ValueError(f"{info.filename}: not an array as numpy.savez writes it")
    with np.load(io.BytesIO(data), allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _describe(case) -> str:
    return ", ".join(f"{k} of shape {tuple(np.shape(v))}" for k, v in case.items())


def _compare(q, case, want, got) -> None:
    """Same keys, shapes equal exactly, finite, then close (coursework_checks.assert_close)."""
    from coursework_checks import Failure, assert_close
    extra = sorted(set(got) - set(want))
    for key, val in want.items():
        if key not in got:
            raise Failure(f"{key}: no answer")
        assert_close(key, got[key], val, q.get("rtol", 1e-6), q.get("atol", 1e-8))
    if extra:
        raise Failure(f"unexpected answers: {', '.join(extra[:5])}")


# --- grading many submissions ---------------------------------------------------------------------


def grade(path: Path, out: Path | None = None, jobs: int | None = None,
          limits: Limits | None = None, assignments: Path = ASSIGNMENTS, echo=print,
          seed: int | None = None, protect=()) -> list[SubmissionResult]:
    """Grade every submission at ``path`` in parallel and return one result per notebook found
    (graded, unmatched or skipped), in order. Raises SandboxError, before grading anything,
    where the workers could not be isolated (unless ``limits.sandbox`` is off)."""
    protect = [assignments, path, *protect] + ([out] if out is not None else [])
    limits = dataclasses.replace(limits or Limits(),
                                 protect=tuple(p.resolve() for p in protect)).setup()
    jobs = min(jobs or os.cpu_count() or 1, 64)
    seed = new_seed() if seed is None else seed
    known = load_assignments(assignments)
    subs = find_submissions(path)
    results, todo = [], []
    for sub in subs:
        match(sub, known, follow=sub.path == path)
        if sub.skip:
            echo(f"skipped {sub.label}: {sub.skip}")
            results.append(SubmissionResult(sub.label, "", status="skipped",
                                            notes=[sub.skip], file=str(sub.path.absolute())))
        elif sub.assignment is None:
            echo(f"unmatched {sub.label}: {sub.unmatched}")
            results.append(SubmissionResult(sub.label, "", status="unmatched",
                                            notes=[sub.unmatched],
                                            file=str(sub.path.resolve())))
        else:
            results.append(None)
            todo.append((len(results) - 1, sub, known[sub.assignment]))
    for a in {id(t[2]): t[2] for t in todo}.values():
        a.prepare(seed)
    _adopt_orphans()
    _not_dumpable()
    if todo:
        _preflight(todo[0][2], limits, echo)
    # Threads suffice: each one waits on its own worker process, where the work happens.
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [(i, pool.submit(_grade_or_zero, sub, a, limits)) for i, sub, a in todo]
        for i, fut in futures:
            results[i] = fut.result()
            echo(table(results[i]))
    _kill_strays()  # again before the reports exist, so no leftover process can edit them
    for status in sorted({r.isolation for r in results if r.isolation}):
        echo(f"isolation of the workers: {status}")
    return results


def _preflight(a, limits, echo) -> None:
    """Start one worker before grading anything: the run stops here if it cannot be isolated."""
    with tempfile.TemporaryDirectory(prefix="grade-", dir=isolation.workdir_base()) as tmp:
        w = Worker(a.hidden_path, Path(tmp), limits, 60)
        w.kill()
    if not (limits.sandbox and limits.require):
        echo("isolation of the workers: OFF (--no-sandbox): submissions can read the masters "
             "and the hidden tests, and write what the grader may write")


def _grade_or_zero(sub, a, limits) -> SubmissionResult:
    """``grade_submission``, but a failure of the grader on one submission (whatever the
    submission did to cause it) costs that submission its points, not the whole run."""
    try:
        return grade_submission(sub, a, limits)
    except Exception as e:  # noqa: BLE001
        res = SubmissionResult(sub.label, a.name, file=str(sub.path.resolve()), seed=a.seed,
                               notes=[f"the grader failed on this notebook: "
                                      f"{type(e).__name__}: {e}"])
        res.questions = [QuestionResult(q, v.get("title", q), 0, v["points"], "error",
                                        ["not graded: the grader failed on this notebook"])
                         for q, v in a.questions.items()]
        return res


def table(r: SubmissionResult) -> str:
    width = max([len(q.question) for q in r.questions] + [8])
    head = (f"{r.submission} ({r.assignment}): {r.points:g} / {r.max_points:g} "
            f"[{r.seconds:.1f} s]")
    lines = [head]
    for q in r.questions:
        lines.append(f"  {q.question:<{width}}  {q.points:>4g} / {q.max_points:<4g} {q.status}")
    return "\n".join(lines)


__all__ = ["Assignment", "Limits", "SandboxError", "Worker", "WorkerLost", "grade",
           "grade_submission", "load_assignments", "question_rng"]
