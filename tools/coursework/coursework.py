"""Coursework tools for the course's programming assignments: student release and grading.

    python tools/coursework/coursework.py student [--out _build/student]
    python tools/coursework/coursework.py grade PATH [--out _build/grades] [--jobs N] [--timeout S]
    python tools/coursework/coursework.py execute [NAME ...]   (re-run masters, store outputs)

A master notebook ``assignments/NAME.ipynb`` holds the instructions, the solution between
``# BEGIN SOLUTION`` and ``# END SOLUTION`` lines, and public tests (cells tagged ``public-test``).
Its hidden tests live in ``assignments/tests/NAME_hidden.py``, never in a notebook.

Grading runs each submission in its own worker process (``worker.py``). For every question the
grader sends inputs it chose, the worker calls the submission and sends back plain arrays, and
the grader compares them with reference results computed in its own process. A question that
loops forever is stopped after its time limit; the worker is restarted for the next question.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import copy
import csv
import dataclasses
import importlib.util
import io
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ASSIGNMENTS = ROOT / "assignments"
WORKER = HERE / "worker.py"

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
TEST_TAGS = {"public-test", "hidden-test"}   # cells the grader never runs
SKIP_TAGS = TEST_TAGS | {"no-grade"}          # plus demonstrations (training runs, plots)

# --- the student release -----------------------------------------------------------------------


class ReleaseError(ValueError):
    """A master notebook whose solution markers do not pair up."""


def strip_solutions(source: str, where: str = "cell") -> tuple[str, list[str]]:
    """Replace every BEGIN/END SOLUTION region of ``source`` with a stub.

    The stub is ``raise NotImplementedError(...)`` at the indentation of the BEGIN line, naming
    the function it sits in. Returns the new source and the removed lines.
    """
    out, removed, inside, scope = [], [], None, []
    for n, line in enumerate(source.splitlines(), 1):
        stripped = line.strip()
        if inside is None:
            if stripped.startswith(BEGIN):
                indent = line[: len(line) - len(line.lstrip())]
                label = _enclosing(scope, len(indent))
                out.append(f'{indent}raise NotImplementedError("{label}: your code here")')
                inside = n
                continue
            if stripped.startswith(END):
                raise ReleaseError(f"{where}, line {n}: {END} without a {BEGIN} above it")
            m = re.match(r"(\s*)(?:async\s+)?(def|class)\s+(\w+)", line)
            if m:
                scope.append((len(m.group(1)), m.group(3)))
            out.append(line)
        else:
            if stripped.startswith(BEGIN):
                raise ReleaseError(f"{where}, line {n}: nested {BEGIN} (the one at line "
                                   f"{inside} is still open)")
            if stripped.startswith(END):
                inside = None
                continue
            removed.append(line)
    if inside is not None:
        raise ReleaseError(f"{where}, line {inside}: {BEGIN} is never closed by {END}")
    return "\n".join(out), removed


def _enclosing(scope: list[tuple[int, str]], indent: int) -> str:
    """Dotted name of the def/class blocks that contain a line indented by ``indent``."""
    names, level = [], indent
    for ind, name in reversed(scope):
        if ind < level:
            names.append(name)
            level = ind
    return ".".join(reversed(names)) or "this cell"


def student_notebook(master: nbformat.NotebookNode, name: str = "notebook"):
    """The student version of a master: solutions stubbed, hidden-test cells dropped, outputs
    and execution counts cleared. Returns (notebook, removed solution lines)."""
    nb = copy.deepcopy(master)
    cells, removed = [], []
    for i, cell in enumerate(nb.cells):
        tags = set(cell.get("metadata", {}).get("tags", []))
        if "hidden-test" in tags:
            continue
        if cell.cell_type == "code":
            cell.source, gone = strip_solutions(cell.source, f"{name}, cell {i}")
            removed += gone
            cell.outputs, cell.execution_count = [], None
        elif BEGIN in cell.source:
            raise ReleaseError(f"{name}, cell {i}: solution markers in a {cell.cell_type} cell")
        cell.metadata.pop("execution", None)
        cells.append(cell)
    nb.cells = cells
    return nb, removed


def release(out: Path, assignments: Path = ASSIGNMENTS) -> list[Path]:
    """Write the student notebook of every master in ``assignments`` into ``out``."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    written = []
    for master in masters(assignments):
        nb, _ = student_notebook(nbformat.read(master, as_version=4), master.name)
        path = out / master.name
        nbformat.write(nb, path)
        written.append(path)
    return written


def masters(assignments: Path = ASSIGNMENTS) -> list[Path]:
    return sorted(p for p in assignments.glob("*.ipynb") if not p.name.startswith("."))


# --- assignments and their hidden tests ---------------------------------------------------------


@dataclass
class Assignment:
    """A master notebook and its hidden tests; inputs and references are computed once."""

    name: str
    master: Path
    hidden_path: Path
    hidden: object = None
    cases: dict = field(default_factory=dict)      # question -> list of dicts of arrays
    expected: dict = field(default_factory=dict)   # question -> list of references
    inputs: dict = field(default_factory=dict)     # question -> the cases as a savez archive

    @property
    def questions(self) -> dict:
        return self.hidden.QUESTIONS

    @property
    def max_points(self) -> float:
        return sum(q["points"] for q in self.questions.values())

    def prepare(self) -> None:
        """Import the hidden tests, draw every question's inputs and compute the references
        here. The inputs (plain arrays) are kept as a savez archive for the workers: they
        travel in the probe request, never through a file another submission could replace."""
        spec = importlib.util.spec_from_file_location(f"hidden_{self.name}", self.hidden_path)
        self.hidden = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.hidden)
        for qname, q in self.questions.items():
            self.cases[qname] = q["cases"]()
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


def match_assignment(path: Path, names) -> str | None:
    """The assignment a submission answers: the longest assignment name in its file name."""
    hits = [n for n in names if n in path.stem]
    return max(hits, key=len) if hits else None


def submission_cells(nb) -> list[tuple[str, str]]:
    """(label, source) of the code cells the grader runs: all but test and demo cells."""
    cells = []
    for i, cell in enumerate(nb.cells):
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell.cell_type == "code" and not tags & SKIP_TAGS and cell.source.strip():
            cells.append((f"cell {i + 1}", cell.source))
    return cells


# --- the worker process, seen from the grader ---------------------------------------------------


class WorkerLost(Exception):
    """The worker did not answer in time (``timed_out``), or died."""

    def __init__(self, message: str, timed_out: bool = False):
        super().__init__(message)
        self.timed_out = timed_out


MAX_REPLY = 64 * 2**20  # bytes: far above any honest answer, far below the grader's memory
MAX_NOTEBOOK = 64 * 2**20  # bytes of a submitted notebook, outputs and pictures included
MAX_ARRAYS = 10_000  # arrays in one answer (all cases of a question together)


class Worker:
    """One worker subprocess. ``request`` sends a JSON line and waits, with a deadline, for
    the JSON reply; on a timeout or a crash it raises ``WorkerLost``.

    Both directions obey the deadline. The request is written without blocking, since a worker
    that stops reading (a submission can stop its own process or swap its input channel) would
    otherwise hold the grader in ``write`` forever once the pipe is full. The reply may be at
    most ``MAX_REPLY`` bytes, since a submission can write endlessly to the grader's channel.
    """

    def __init__(self, hidden_path: Path, cwd: Path, limits: Limits, timeout: float):
        # temporary files and matplotlib's cache stay in the worker's folder, the only one
        # the sandbox lets it write to
        env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   OPENBLAS_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1", TMPDIR=str(cwd),
                   MPLCONFIGDIR=str(cwd / ".matplotlib"))
        with _PROCESSES.lock:  # so that a sweep for strays never sees it unregistered
            self.proc = subprocess.Popen(
                [sys.executable, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, cwd=cwd, env=env, start_new_session=True)
            _PROCESSES.workers.add(self.proc.pid)
        os.set_blocking(self.proc.stdin.fileno(), False)
        self.buf = bytearray()
        reply = self.request({"cmd": "init", "hidden": str(hidden_path),
                              "memory_mb": limits.memory_mb, "sandbox": limits.sandbox,
                              "protect": [str(p) for p in limits.protect]}, timeout)
        self.sandbox = str(reply.get("sandbox"))

    def request(self, msg: dict, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        data = memoryview((json.dumps(msg) + "\n").encode())
        fd_in = self.proc.stdin.fileno()
        while data:
            self._wait(fd_in, "w", deadline, timeout)
            try:
                data = data[os.write(fd_in, data):]
            except BlockingIOError:
                continue
            except OSError:  # the worker is gone (BrokenPipeError)
                raise WorkerLost(self._death()) from None
        fd, scanned = self.proc.stdout.fileno(), 0
        while (end := self.buf.find(b"\n", scanned)) < 0:
            scanned = len(self.buf)
            if scanned > MAX_REPLY:
                self.kill()
                raise WorkerLost(f"the answer was larger than {MAX_REPLY // 2**20} MB")
            self._wait(fd, "r", deadline, timeout)
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise WorkerLost(self._death())
            self.buf += chunk
        line, self.buf = bytes(self.buf[:end]), self.buf[end + 1:]
        try:
            reply = json.loads(line)
        except (ValueError, RecursionError):  # a forged line may nest deeper than json parses
            reply = None
        if not isinstance(reply, dict):
            self.kill()
            raise WorkerLost("the worker's reply was garbled (did the code write to the "
                             "grader's channel?)")
        return reply

    def _wait(self, fd: int, mode: str, deadline: float, timeout: float) -> None:
        """Wait until ``fd`` is readable ("r") or writable ("w"); past the deadline, kill."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise WorkerLost(f"did not finish within {timeout:g} s (an endless loop?)", True)
            r, w, _ = select.select([fd] if mode == "r" else [], [fd] if mode == "w" else [],
                                    [], left)
            if r or w:
                return

    def _death(self) -> str:
        # The channel closed, so the worker is probably exiting: give it a moment, so that its
        # exit code says why, but do not reap it (its pid must stay its group's id for kill).
        deadline = time.monotonic() + 2
        while hasattr(os, "waitid") and time.monotonic() < deadline:
            try:
                if os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
                    break
            except ChildProcessError:
                break
            time.sleep(0.01)
        self.kill()  # the process and its children, whatever they are doing
        code = self.proc.returncode
        if code < 0:
            sig = signal.Signals(-code).name
            why = " (out of memory?)" if sig in ("SIGKILL", "SIGSEGV", "SIGABRT") else ""
            return f"the process running the notebook was killed by {sig}{why}"
        return f"the process running the notebook exited with code {code} (sys.exit or os._exit?)"

    def kill(self) -> None:
        if self.proc.returncode is None:  # not reaped yet, so its process group id is still ours
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the worker and anything it started
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
            with _PROCESSES.lock:
                _PROCESSES.workers.discard(self.proc.pid)
            _kill_strays()  # and what it started that left its process group
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass


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
    sandbox: str = ""               # what the worker said about its sandbox

    @property
    def points(self) -> float:
        return sum(q.points for q in self.questions)

    @property
    def max_points(self) -> float:
        return sum(q.max_points for q in self.questions)


@dataclass
class Limits:
    timeout: float = 20.0       # seconds per question (a question may ask for more)
    cell_timeout: float = 20.0  # seconds per notebook cell
    notebook_timeout: float = 120.0  # seconds for all cells together (and for each re-run)
    memory_mb: int = 3072       # address-space limit of a worker
    sandbox: bool = True        # Landlock, where the kernel has it (see worker.py)
    protect: tuple = ()         # folders the sandbox must keep from the worker


def grade_submission(path: Path, label: str, a: Assignment, limits: Limits) -> SubmissionResult:
    """Grade one notebook against assignment ``a`` (prepared with ``a.prepare``). The worker
    runs in a fresh temporary folder."""
    t0 = time.monotonic()
    res = SubmissionResult(label, a.name)
    try:
        if path.stat().st_size > MAX_NOTEBOOK:  # parsed, it would take ten times as much
            raise ValueError(f"larger than {MAX_NOTEBOOK // 2**20} MB")
        nb = nbformat.read(path, as_version=4)
        cells = submission_cells(nb)
    except Exception as e:  # noqa: BLE001 - any unreadable file scores zero with a reason
        cells = None
        res.notes.append(f"the notebook could not be read: {type(e).__name__}: {e}")
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        tmp = Path(tmp)
        worker, ran = None, []
        if cells is not None:
            worker, ran = _load(cells, a, tmp, limits, res.notes)
            res.sandbox = getattr(worker, "sandbox", "")
        try:
            for qname, q in a.questions.items():
                qr = QuestionResult(qname, q.get("title", qname), 0, q["points"], "error")
                res.questions.append(qr)
                if worker is None:
                    qr.messages.append("not graded: the notebook could not be run")
                    continue
                try:
                    reply = _probe(worker, a, qname, q, limits)
                except WorkerLost as e:
                    qr.status, qr.messages = ("timeout" if e.timed_out else "error"), [str(e)]
                    worker = _restart(a, ran, tmp, limits, res.notes)
                    continue
                _score(qr, a, qname, q, reply)
        finally:  # even if the grader fails on this submission: no worker outlives it
            if worker is not None:
                worker.kill()
    res.seconds = time.monotonic() - t0
    return res


def _load(cells, a, tmp, limits, notes):
    """Start a worker and run the submission's cells one by one. A cell that hangs or kills
    the process is skipped (the worker is restarted with the cells that ran before it)."""
    try:
        worker = Worker(a.hidden_path, tmp, limits, limits.cell_timeout + 30)
    except WorkerLost as e:
        notes.append(f"the grading process did not start: {e}")
        return None, []
    ran, deadline = [], time.monotonic() + limits.notebook_timeout
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
            worker = _restart(a, ran, tmp, limits, notes, deadline)
            if worker is None:
                return None, ran
            continue
        ran.append((label, code))
        if not r.get("ok"):
            notes.append(f"{label} raised {str(r.get('error'))[:1000]}")
    return worker, ran


def _restart(a, ran, tmp, limits, notes, deadline=None):
    """A fresh worker that has run the cells in ``ran`` again (silently: they ran before),
    all before ``deadline``: while the notebook loads, re-runs count against its time, so
    cells that kill their process cannot make the grader re-run slow cells without end."""
    try:
        worker = Worker(a.hidden_path, tmp, limits, limits.cell_timeout + 30)
        deadline = deadline or time.monotonic() + limits.notebook_timeout
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


def _probe(worker, a, qname, q, limits):
    return worker.request(
        {"cmd": "probe", "question": qname, "inputs": a.inputs[qname],
         "cases": len(a.cases[qname])},
        max(limits.timeout, q.get("timeout", 0)))


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
            if errors[i] in seen:  # the same exception in every case: say it once
                seen[errors[i]] += 1
                continue
            seen[errors[i]] = 1
            qr.messages.append(f"{where}: {errors[i][:1000]}")  # the worker's are shorter
            continue
        try:
            compare(q, case, want, got)
        except AssertionError as e:
            failed += 1
            qr.messages.append(f"{where}: {e}")
        except Exception as e:  # noqa: BLE001 - malformed answers fail the case
            failed += 1
            qr.messages.append(f"{where}: unusable answer: {type(e).__name__}: {e}")
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
    from coursework_checks import Failure, assert_close
    for key, val in want.items():
        if key not in got:
            raise Failure(f"{key}: no answer")
        assert_close(key, got[key], val, q.get("rtol", 1e-6), q.get("atol", 1e-8))


# --- grading many submissions ---------------------------------------------------------------------


def find_submissions(path: Path) -> list[tuple[Path, str]]:
    """(file, label) of every notebook at ``path``; the label is the path relative to it.
    Symbolic links are listed (``grade`` skips them) but never followed into folders."""
    if path.is_file():
        return [(path, path.name)]
    if not path.is_dir():
        raise FileNotFoundError(f"no notebook or folder at {path}")
    files = []
    for folder, dirs, names in os.walk(path):  # does not descend into linked folders
        dirs[:] = [d for d in dirs if d != ".ipynb_checkpoints"]
        files += [Path(folder, n) for n in names if n.endswith(".ipynb")]
        files += [Path(folder, d) for d in dirs if Path(folder, d).is_symlink()]
    return [(p, p.relative_to(path).as_posix()) for p in sorted(files)]


def grade(path: Path, out: Path, jobs: int | None = None, limits: Limits | None = None,
          assignments: Path = ASSIGNMENTS, echo=print) -> list[SubmissionResult]:
    """Grade every submission at ``path`` in parallel; write grades.csv, totals.csv and one
    feedback file per submission into ``out``. Returns the results in submission order."""
    limits = dataclasses.replace(limits or Limits(),
                                 protect=tuple(p.resolve() for p in (assignments, path, out)))
    jobs = jobs or os.cpu_count() or 1
    known = load_assignments(assignments)
    subs = find_submissions(path)
    todo = []
    for file, label in subs:
        name = match_assignment(file, known)
        if file.is_symlink() and file != path:  # in a folder of submissions, a link could
            # point at a master notebook, or at someone else's work
            echo(f"skipped {label}: a symbolic link (copy the notebook itself into the folder)")
        elif name is None:
            echo(f"skipped {label}: its file name contains no assignment name "
                 f"({', '.join(known)})")
        else:
            todo.append((file, label, known[name]))
    results = []
    for a in {id(t[2]): t[2] for t in todo}.values():
        a.prepare()
    _adopt_orphans()
    # Threads suffice: each one waits on its own worker process, where the work happens.
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_grade_or_zero, f, lab, a, limits) for f, lab, a in todo]
        for fut in futures:
            results.append(fut.result())
            echo(table(results[-1]))
    _kill_strays()  # again before the reports exist, so no leftover process can edit them
    for status in sorted({r.sandbox for r in results if r.sandbox}):
        echo(f"sandbox of the workers: {status}" + ("" if status.startswith("on") else
             " (submissions could read the masters and hidden tests; see assignments/README)"))
    write_reports(results, out)
    return results


def _grade_or_zero(path, label, a, limits) -> SubmissionResult:
    """``grade_submission``, but a failure of the grader on one submission (whatever the
    submission did to cause it) costs that submission its points, not the whole run."""
    try:
        return grade_submission(path, label, a, limits)
    except Exception as e:  # noqa: BLE001
        res = SubmissionResult(label, a.name, notes=[f"the grader failed on this notebook: "
                                                     f"{type(e).__name__}: {e}"])
        res.questions = [QuestionResult(q, v.get("title", q), 0, v["points"], "error",
                                        ["not graded: the grader failed on this notebook"])
                         for q, v in a.questions.items()]
        return res


# A process a submission starts can leave the worker's process group (setsid) and so outlive
# the worker: to rewrite grades.csv once the grader is done, or to eat the CPU the next
# submissions are timed on. On Linux the grader becomes a "subreaper": such orphans are
# re-parented to it instead of to init. Its only legitimate children are the workers, so any
# other child that appeared since grading began is a stray, and is killed whenever a worker is.


class _Processes:
    lock = threading.Lock()
    workers: set = set()        # pids of the live workers
    before: set | None = None   # children the grader had before it adopted orphans


_PROCESSES = _Processes()


def _adopt_orphans() -> None:
    with _PROCESSES.lock:
        if _PROCESSES.before is not None or not sys.platform.startswith("linux"):
            return
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
                return
        except (OSError, AttributeError):
            return
        _PROCESSES.before = _children() - _PROCESSES.workers


def _children() -> set[int]:
    me, kids = os.getpid(), set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
        if ppid == me:
            kids.add(int(stat.parent.name))
    return kids


def _kill_strays() -> None:
    """Kill the children that are neither workers nor there before grading began, and the
    children they leave behind (which become ours in turn), until none is left."""
    if _PROCESSES.before is None:
        return
    for _ in range(1000):
        with _PROCESSES.lock:  # held while reaping too, so no pid is reused meanwhile
            strays = _children() - _PROCESSES.before - _PROCESSES.workers
            if not strays:
                return
            for pid in strays:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for pid in strays:
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass


def table(r: SubmissionResult) -> str:
    width = max([len(q.question) for q in r.questions] + [8])
    head = (f"{r.submission} ({r.assignment}): {r.points:g} / {r.max_points:g} "
            f"[{r.seconds:.1f} s]")
    lines = [head]
    for q in r.questions:
        lines.append(f"  {q.question:<{width}}  {q.points:>4g} / {q.max_points:<4g} {q.status}")
    return "\n".join(lines)


def feedback(r: SubmissionResult) -> str:
    """The feedback a student reads: the score, each question, and why a question failed."""
    lines = [f"# Feedback on {r.submission}", "",
             f"Assignment `{r.assignment}`: **{r.points:g} / {r.max_points:g} points**.", "",
             "| question | points | result |", "| --- | --- | --- |"]
    for q in r.questions:
        lines.append(f"| {q.title} | {q.points:g} / {q.max_points:g} | {q.status} |")
    for q in r.questions:
        if q.status == "passed":
            continue
        lines += ["", f"## {q.title}: {q.status}", ""]
        shown = q.messages[:3]
        lines += [f"- {m}" for m in shown]
        if len(q.messages) > len(shown):
            lines.append(f"- ... and {len(q.messages) - len(shown)} more failing cases")
    if r.notes:
        lines += ["", "## While running your notebook", ""]
        lines += [f"- {n}" for n in r.notes]
        lines += ["", ("The grader runs every code cell except test cells and cells tagged "
                       "`no-grade`; an error in a cell costs nothing by itself, but functions "
                       "it should have defined are then missing.")]
    return "\n".join(lines) + "\n"


def write_reports(results: list[SubmissionResult], out: Path) -> None:
    fb = out / "feedback"
    if fb.exists():
        shutil.rmtree(fb)
    fb.mkdir(parents=True)
    with open(out / "grades.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["submission", "assignment", "question", "points", "max_points", "status",
                    "message"])
        for r in results:
            for q in r.questions:
                msg = q.messages[0] if q.messages else ""
                w.writerow([r.submission, r.assignment, q.question, f"{q.points:g}",
                            f"{q.max_points:g}", q.status, msg[:300]])
    with open(out / "totals.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["submission", "assignment", "points", "max_points", "seconds"])
        for r in results:
            w.writerow([r.submission, r.assignment, f"{r.points:g}", f"{r.max_points:g}",
                        f"{r.seconds:.1f}"])
    for r in results:
        name = re.sub(r"\.ipynb$", "", r.submission).replace("/", "__")
        (fb / f"{name}.md").write_text(feedback(r))


# --- executing the masters ------------------------------------------------------------------------


def execute_masters(names: list[str], assignments: Path = ASSIGNMENTS) -> None:
    """Run master notebooks top to bottom and store their outputs (for the instructor)."""
    from nbclient import NotebookClient
    for master in masters(assignments):
        if names and master.stem not in names:
            continue
        nb = nbformat.read(master, as_version=4)
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(assignments)}}).execute()
        for cell in nb.cells:
            cell.metadata.pop("execution", None)
            if cell.cell_type == "code":
                cell.outputs = _coalesce(cell.outputs)
        nbformat.write(nb, master)
        print(f"executed {master.name}")


def _coalesce(outputs):
    """Merge consecutive stream outputs, so a stored notebook does not depend on when the
    kernel flushed its prints."""
    merged = []
    for out in outputs:
        if (merged and out.output_type == "stream" and merged[-1].output_type == "stream"
                and merged[-1].name == out.name):
            merged[-1].text += out.text
        else:
            merged.append(out)
    return merged


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="coursework", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("student", help="write the student release")
    s.add_argument("--out", type=Path, default=ROOT / "_build" / "student")
    g = sub.add_parser("grade", help="grade a notebook or a folder of notebooks")
    g.add_argument("path", type=Path)
    g.add_argument("--out", type=Path, default=ROOT / "_build" / "grades")
    g.add_argument("--jobs", type=int, default=None, help="parallel workers (default: cores)")
    g.add_argument("--timeout", type=float, default=Limits.timeout,
                   help="seconds per question")
    g.add_argument("--cell-timeout", type=float, default=Limits.cell_timeout,
                   help="seconds per notebook cell")
    g.add_argument("--notebook-timeout", type=float, default=Limits.notebook_timeout,
                   help="seconds for all cells of a notebook together")
    g.add_argument("--memory-mb", type=int, default=Limits.memory_mb)
    g.add_argument("--no-sandbox", dest="sandbox", action="store_false",
                   help="let workers read and write files like the grader (not recommended)")
    e = sub.add_parser("execute", help="run master notebooks and store their outputs")
    e.add_argument("names", nargs="*")
    for q in (s, g, e):
        q.add_argument("--assignments", type=Path, default=ASSIGNMENTS)
    args = p.parse_args(argv)
    if args.cmd == "student":
        for path in release(args.out, args.assignments):
            print(f"wrote {path}")
    elif args.cmd == "grade":
        t0 = time.monotonic()
        limits = Limits(args.timeout, args.cell_timeout, args.notebook_timeout, args.memory_mb,
                        args.sandbox)
        results = grade(args.path, args.out, args.jobs, limits, args.assignments)
        print(f"graded {len(results)} submission(s) in {time.monotonic() - t0:.1f} s; "
              f"wrote {args.out / 'grades.csv'} and {args.out / 'feedback'}/")
    else:
        execute_masters(args.names, args.assignments)
    return 0


if __name__ == "__main__":
    sys.exit(main())
