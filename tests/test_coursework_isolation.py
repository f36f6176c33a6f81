"""The grader fails closed, and each isolation layer holds on its own: a submission cannot read
the masters or the hidden tests, write the grades, signal the grader or kill another student's
worker, reach the network, see the instructor's environment, or use more processes or memory
(with all its children together) than its limits. Every attack runs with all layers, with the
uid layer alone (Landlock off; as root) and with Landlock alone (uid layer off); a layer the
machine lacks is skipped with the reason, and which layer then protects is in the test's name.
"""

from __future__ import annotations

import os
import socket
import threading

import nbformat
import pytest
from coursework_helpers import (TOY, feedback, grades, isolation_holds, run_grader, scores,
                                toy_assignments, totals, with_cells)

import sandbox
from release import release

ROOT_USER = os.geteuid() == 0
LANDLOCK = sandbox.landlock_abi()
TOKEN = "coursework-token-5f2b9e"

# The grader's command line names the folders: read it from /proc, as a submission could.
WHERE = """
import os
argv = open(f"/proc/{os.getppid()}/cmdline", "rb").read().split(b"\\0")
def arg(name):
    return argv[argv.index(name.encode()) + 1].decode()
"""
READ_MASTER = WHERE + """
import json
with open(os.path.join(arg("--assignments"), "07_toy.ipynb")) as f:
    nb = json.load(f)
for c in nb["cells"]:
    if c["cell_type"] == "code" and not c["metadata"].get("tags"):
        exec("".join(c["source"]), globals())
"""
READ_HIDDEN = WHERE + """
src = open(os.path.join(arg("--assignments"), "tests", "07_toy_hidden.py")).read()
raise RuntimeError("ATTACK read the hidden tests")
"""
WRITE = WHERE + """
try:  # the grader's own source (opened for appending, nothing written)
    os.close(os.open(argv[1].decode(), os.O_WRONLY | os.O_APPEND))
    raise RuntimeError("ATTACK could append to the grader's source")
except OSError:
    pass
with open(os.path.join(arg("--out"), "planted.txt"), "w") as f:
    f.write("a worker wrote here")
raise RuntimeError("ATTACK wrote into the grades folder")
"""
SIGNAL = """
import os, signal
os.kill(os.getppid(), signal.SIGCONT)  # harmless, but SIGSTOP would hold the grader
raise RuntimeError("ATTACK could signal the grader")
"""
KILL_OTHERS = """
import glob, os, signal, time
killed, end = 0, time.time() + 6
while time.time() < end and not killed:
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        pid = int(path.split("/")[2])
        try:
            if pid != os.getpid() and b"worker.py" in open(path, "rb").read():
                os.kill(pid, signal.SIGKILL)
                killed += 1
        except OSError:
            pass
    time.sleep(0.1)
if killed:
    raise RuntimeError(f"ATTACK killed {killed} other workers")
"""
ENVIRON = """
import os
seen = dict(os.environ)
try:
    seen["grader"] = open(f"/proc/{os.getppid()}/environ", "rb").read().decode(errors="replace")
except OSError:
    pass
if any("TOKEN_FOR_TEST" in k or "coursework-token" in v for k, v in seen.items()):
    raise RuntimeError("ATTACK saw " + repr(seen)[:3000])
"""
NETWORK = """
import socket
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=2).close()
except OSError:
    pass
else:
    raise RuntimeError("ATTACK reached the network")
"""
PROCESSES = """
import os, time
kids = []
for _ in range(300):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(20)
        os._exit(0)
    kids.append(pid)
if len(kids) >= 300:
    raise RuntimeError(f"ATTACK started {len(kids)} processes")
"""
MEMORY = """
import os
kids = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        try:
            block = b"x" * (500 * 2**20)  # touched: really held
            import time; time.sleep(2)
            os._exit(0)
        except MemoryError:
            os._exit(1)
    kids.append(pid)
codes = [os.waitpid(pid, 0)[1] for pid in kids]
if all(c == 0 for c in codes):
    raise RuntimeError("ATTACK three forks held 1.5 GB together")
"""
SLOW = "import time\ntime.sleep(2.5)  # so the other submissions run meanwhile"

CONFIGS = {
    "all layers": [],
    "uid layer alone": ["--without", "landlock"],
    "Landlock alone": ["--without", "uid"],
}


def _config_skip(config):
    without = tuple(CONFIGS[config][1::2])
    if config == "uid layer alone" and not isolation_holds(without):
        pytest.skip("the uid layer needs the grader to run as root, allowed to make namespaces; "
                    "Landlock protects here" if LANDLOCK else "nothing protects here")
    if config != "uid layer alone" and not LANDLOCK:
        pytest.skip("the kernel offers no Landlock; the uid layer (as root) protects here")
    if not isolation_holds(without):
        pytest.skip("no isolation layer holds here: the grader refuses to grade")


class _Listener:
    """A TCP server on the loopback that counts the connections it gets."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port, self.accepted = self.sock.getsockname()[1], 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()


@pytest.fixture(scope="module", params=list(CONFIGS))
def attacked(request, tmp_path_factory):
    config = request.param
    _config_skip(config)
    base = tmp_path_factory.mktemp("isolation")
    assignments = toy_assignments(base)
    rel = base / "release"
    release(rel, assignments)
    master, blank = assignments / f"{TOY}.ipynb", rel / f"{TOY}.ipynb"
    listener = _Listener()
    subs = base / "subs"
    subs.mkdir()
    notebooks = {
        "read_master": with_cells(blank, READ_MASTER),
        "read_hidden": with_cells(master, READ_HIDDEN),
        "escape": with_cells(master, WRITE, SIGNAL, ENVIRON,
                             NETWORK.replace("PORT", str(listener.port)), KILL_OTHERS),
        "victim": with_cells(master, SLOW, at=1),
        "limits": with_cells(master, PROCESSES, MEMORY),
    }
    for label, nb in notebooks.items():
        nbformat.write(nb, subs / f"{label}_{TOY}.ipynb")
    out = base / "grades"
    # PYTHONPATH naming a folder that holds the masters (or /) used to switch Landlock off
    env = dict(os.environ, TOKEN_FOR_TEST=TOKEN,
               PYTHONPATH=f"{assignments.parent}{os.pathsep}/")
    proc = run_grader("grade", subs, "--out", out, "--assignments", assignments, "--jobs", 5,
                      "--memory-mb", 1200, "--cell-timeout", 15, *CONFIGS[config], env=env)
    assert proc.returncode == 0, proc.stderr
    return {"out": out, "proc": proc, "config": config, "listener": listener}


def _sub(label):
    return f"{label}_{TOY}.ipynb"


def test_the_masters_and_hidden_tests_cannot_be_read(attacked):
    assert scores(attacked["out"])[_sub("read_master")] == 0
    fb = feedback(attacked["out"], _sub("read_master"))
    assert "PermissionError" in fb or "FileNotFoundError" in fb, fb
    assert "ATTACK" not in feedback(attacked["out"], _sub("read_hidden"))


def test_the_grades_and_the_grader_cannot_be_written(attacked):
    assert not (attacked["out"] / "planted.txt").exists()
    fb = feedback(attacked["out"], _sub("escape"))
    assert "ATTACK wrote" not in fb and "ATTACK could append" not in fb


def test_the_grader_cannot_be_signalled(attacked):
    assert "ATTACK could signal" not in feedback(attacked["out"], _sub("escape"))


def test_other_students_workers_cannot_be_killed(attacked):
    assert scores(attacked["out"])[_sub("victim")] == 4
    assert "ATTACK killed" not in feedback(attacked["out"], _sub("escape"))


def test_the_instructors_environment_does_not_reach_the_worker(attacked):
    fb = feedback(attacked["out"], _sub("escape"))
    assert "ATTACK saw" not in fb and TOKEN not in fb


def test_no_network(attacked):
    assert "ATTACK reached" not in feedback(attacked["out"], _sub("escape"))
    assert attacked["listener"].accepted == 0


def test_processes_and_memory_are_limited_for_all_children_together(attacked):
    fb = feedback(attacked["out"], _sub("limits"))
    if attacked["config"] == "Landlock alone" and "cgroup" not in attacked["proc"].stdout:
        pytest.skip("without cgroups and without a uid of its own, nothing limits the "
                    "processes of a worker together")
    assert "ATTACK started" not in fb and "ATTACK three forks" not in fb, fb


def test_honest_answers_still_count_and_the_layers_are_stated(attacked):
    got = scores(attacked["out"])
    assert got[_sub("escape")] == 4 and got[_sub("limits")] == 4, got
    stdout = attacked["proc"].stdout
    if attacked["config"] != "uid layer alone":
        assert f"landlock: ABI {LANDLOCK}" in stdout
    if attacked["config"] != "Landlock alone":
        assert "uid: a uid of its own" in stdout
    rows = grades(attacked["out"])
    assert rows and all(r["isolation"] for r in rows)
    assert all("OFF" not in r["isolation"] for r in rows)


# --- failing closed -----------------------------------------------------------------------------


def _toy_submission(tmp_path):
    assignments = toy_assignments(tmp_path)
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(nbformat.read(assignments / f"{TOY}.ipynb", as_version=4),
                   subs / f"{TOY}.ipynb")
    return assignments, subs


def test_no_grading_without_isolation(tmp_path):
    assignments, subs = _toy_submission(tmp_path)
    off = ["--without", "landlock"] + (["--without", "uid"] if ROOT_USER else [])
    proc = run_grader("grade", subs, "--out", tmp_path / "out", "--assignments", assignments,
                      *off, auto_sandbox=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "refusing to grade: no isolation layer holds" in proc.stderr
    assert not (tmp_path / "out" / "grades.csv").exists()


def test_nothing_in_the_environment_switches_isolation_off(attacked):
    # the run above had PYTHONPATH set to the folder holding the masters and to /
    assert scores(attacked["out"])[_sub("read_master")] == 0
    assert "OFF" not in attacked["proc"].stdout and "isolation of the workers" in attacked["proc"].stdout


def test_without_the_sandbox_every_row_says_so(tmp_path):
    assignments, subs = _toy_submission(tmp_path)
    proc = run_grader("grade", subs, "--out", tmp_path / "out", "--assignments", assignments,
                      "--no-sandbox")
    assert proc.returncode == 0, proc.stderr
    assert "isolation of the workers: OFF (--no-sandbox)" in proc.stdout
    rows = grades(tmp_path / "out")
    assert rows and all(r["isolation"].startswith("OFF (--no-sandbox)") for r in rows)
    assert all(r["isolation"].startswith("OFF") for r in totals(tmp_path / "out").values())
    assert scores(tmp_path / "out") == {f"{TOY}.ipynb": 4}
