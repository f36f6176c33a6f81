"""A worker process seen from the grader: start it with its isolation layers, talk to it with
deadlines in both directions, and kill it with everything it started (its process group, its
cgroup, its uid, and the orphans the grader adopts as a subreaper)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import isolation
from isolation import SandboxError

HERE = Path(__file__).resolve().parent
WORKER = HERE / "worker.py"
MAX_REPLY = 64 * 2**20  # bytes: far above any honest answer, far below the grader's memory


# --- the worker process, seen from the grader ---------------------------------------------------


class WorkerLost(Exception):
    """The worker did not answer in time (``timed_out``), or died."""

    def __init__(self, message: str, timed_out: bool = False):
        super().__init__(message)
        self.timed_out = timed_out


class Worker:
    """One worker subprocess. ``request`` sends a JSON line and waits, with a deadline, for
    the JSON reply; on a timeout or a crash it raises ``WorkerLost``.

    Both directions obey the deadline. The request is written without blocking, since a worker
    that stops reading would otherwise hold the grader in ``write`` forever once the pipe is
    full. The reply may be at most ``MAX_REPLY`` bytes.
    """

    def __init__(self, hidden_path: Path | None, cwd: Path, limits, timeout: float):
        self._uids = limits.uids
        self.uid = limits.uids.take() if limits.uids else None
        self.cgroup = limits.cgroups.create(limits.memory_mb) if limits.cgroups else None
        if self.uid is not None:
            os.chown(cwd, self.uid, self.uid)
        with _PROCESSES.lock:  # so that a sweep for strays never sees it unregistered
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-B", str(WORKER)], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=cwd,
                env=isolation.worker_env(cwd), start_new_session=True)
            _PROCESSES.workers.add(self.proc.pid)
        os.set_blocking(self.proc.stdin.fileno(), False)
        self.buf = bytearray()
        sandbox = {"off": not limits.sandbox, "uid": self.uid, "cgroups": self.cgroup,
                   "landlock": "landlock" not in limits.without}
        if self.cgroup:
            sandbox["cgroup_note"] = limits.cgroups.note(limits.memory_mb)
        try:
            reply = self.request({"cmd": "init", "hidden": str(hidden_path or ""),
                                  "memory_mb": limits.memory_mb, "sandbox": sandbox,
                                  "protect": [str(p) for p in limits.protect]}, timeout)
        except WorkerLost:
            self.kill()
            raise
        self.layers = reply.get("layers") if isinstance(reply.get("layers"), dict) else {}
        if not reply.get("ok"):
            self.kill()
            raise SandboxError(str(reply.get("error"))[:1000])
        if limits.sandbox and limits.require and not self.layers.get("isolated"):
            self.kill()
            raise SandboxError(
                "no isolation layer holds on this machine: " + "; ".join(
                    f"{k}: {v}" for k, v in self.layers.items() if k != "isolated")
                + ". Grade as root (a separate uid per worker) or on Linux 5.13+ (Landlock), "
                "or, knowing that submissions could then read the masters and the hidden "
                "tests, pass --no-sandbox")
        self.isolation = isolation.describe(self.layers)

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
        if self.cgroup:  # everything in its cgroup, wherever it went
            isolation.CGroups.remove(self.cgroup)
            self.cgroup = None
        if self.uid is not None:  # and anything still running under its uid
            uid, self.uid = self.uid, None
            self._uids.give(uid)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass



# A process a submission starts can leave the worker's process group (setsid) and so outlive
# the worker. On Linux the grader becomes a "subreaper": such orphans are re-parented to it
# instead of to init. Its only legitimate children are the workers, so any other child that
# appeared since grading began is a stray, and is killed whenever a worker is. (Cgroups and
# the worker's own uid catch such processes too, where they are available.)


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


def _not_dumpable() -> None:
    """Make the grader's /proc files (environ, memory, open files) readable by root only, so a
    worker running under the grader's own uid (Landlock without the uid layer) cannot read the
    instructor's environment from /proc."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
        except (OSError, AttributeError):
            pass


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
