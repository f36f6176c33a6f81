"""The grader's side of the isolation layers: a uid per worker, a cgroup per worker, and the
clean environment the worker starts with (the worker applies the layers itself: sandbox.py)."""

from __future__ import annotations

import os
import signal
import stat
import tempfile
import threading
import time
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")
PIDS_MAX = 128


class SandboxError(RuntimeError):
    """Grading would run without the isolation it needs: the grader refuses (fails closed)."""


def worker_env(cwd: Path) -> dict:
    """The whole environment of a worker: nothing of the grader's (no tokens, no PYTHONPATH)."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(cwd), "LANG": "C.UTF-8",
            "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1", "TMPDIR": str(cwd),
            "MPLCONFIGDIR": str(cwd / ".matplotlib")}


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


class UidPool:
    """Unprivileged uids without a passwd entry, one per live worker: derived from the grader's
    pid, so two graders on one machine do not share them."""

    def __init__(self, size: int = 64):
        self.base = 2_000_000 + (os.getpid() % 100_000) * size
        self.free = list(range(self.base, self.base + size))
        self.lock = threading.Lock()

    def take(self) -> int:
        with self.lock:
            if not self.free:
                raise SandboxError("more workers than uids")
            return self.free.pop(0)

    def give(self, uid: int) -> None:
        kill_uid(uid)
        with self.lock:
            self.free.append(uid)


def kill_uid(uid: int) -> None:
    """SIGKILL every process whose real uid is ``uid`` (what a worker left behind)."""
    for _ in range(100):
        pids = []
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            pids.append(int(status.parent.name))
                        break
            except (OSError, ValueError, IndexError):
                continue
        if not pids:
            return
        _kill_all(pids)


def _kill_all(pids) -> None:
    """SIGKILL each process (gone already, or not ours to kill: skipped), then give the kernel a
    moment to reap them."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    time.sleep(0.01)


def workdir_base() -> str | None:
    """A folder for the workers' folders that any uid may enter (the default temporary folder
    may sit inside a private one)."""
    path = Path(tempfile.gettempdir()).resolve()
    for p in [path, *path.parents]:
        try:
            if not os.stat(p).st_mode & stat.S_IXOTH:
                return "/tmp"
        except OSError:
            return "/tmp"
    return None


# --- cgroups -----------------------------------------------------------------------------------


def _own_cgroups() -> dict:
    """controller (or "" for v2) -> this process's cgroup path."""
    found = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, ctrls, path = line.split(":", 2)
            for c in ctrls.split(",") if ctrls else [""]:
                found[c] = path
    except OSError:
        pass
    return found


class CGroups:
    """Creates one cgroup per worker with a memory and a process limit that hold for all its
    processes together; ``kill`` ends them all (a process that left the worker's session
    stays in its cgroup)."""

    def __init__(self):
        self.kind, self.parents = None, []
        self.count, self.lock = 0, threading.Lock()
        own = _own_cgroups()
        v2 = CGROUP / "cgroup.controllers"
        if v2.exists():
            parent = CGROUP / own.get("", "/").lstrip("/")
            try:
                ctrls = (parent / "cgroup.subtree_control").read_text().split()
                if not {"memory", "pids"} <= set(ctrls):
                    (parent / "cgroup.subtree_control").write_text("+memory +pids")
                self.kind, self.parents = "v2", [parent]
            except OSError:
                pass
        elif (CGROUP / "memory" / "cgroup.procs").exists() and (CGROUP / "pids").is_dir():
            parents = [CGROUP / c / own.get(c, "/").lstrip("/") for c in ("memory", "pids")]
            if all(os.access(p, os.W_OK) for p in parents):
                self.kind, self.parents = "v1", parents

    def note(self, memory_mb: int) -> str:
        return (f"cgroup {self.kind}: {memory_mb} MB and {PIDS_MAX} processes for the worker "
                "and all its children")

    def create(self, memory_mb: int) -> list[str] | None:
        if not self.kind:
            return None
        with self.lock:
            self.count += 1
            name = f"coursework-{os.getpid()}-{self.count}"
        dirs = []
        try:
            for parent in self.parents:
                d = parent / name
                d.mkdir()
                dirs.append(d)
                if self.kind == "v2":
                    (d / "memory.max").write_text(str(memory_mb * 2**20))
                    (d / "memory.swap.max").exists() and (d / "memory.swap.max").write_text("0")
                    (d / "pids.max").write_text(str(PIDS_MAX))
                elif (d / "memory.limit_in_bytes").exists():
                    (d / "memory.limit_in_bytes").write_text(str(memory_mb * 2**20))
                else:
                    (d / "pids.max").write_text(str(PIDS_MAX))
        except OSError:
            self.remove([str(d) for d in dirs])
            return None
        return [str(d) for d in dirs]

    @staticmethod
    def remove(dirs) -> None:
        """Kill every process in the cgroups, then delete them."""
        for d in dirs or ():
            procs = Path(d) / "cgroup.procs"
            for _ in range(200):
                try:
                    pids = [int(p) for p in procs.read_text().split()]
                except OSError:
                    break
                if not pids:
                    break
                _kill_all(pids)
            try:
                os.rmdir(d)
            except OSError:
                pass


def describe(layers: dict) -> str:
    """One line for the console and the CSV: the layers that held."""
    if not layers:
        return "unknown"
    if not layers.get("isolated") and "--no-sandbox" in str(layers.get("landlock")):
        return "OFF (--no-sandbox): submissions could read the masters and hidden tests"
    parts = []
    for key in ("landlock", "uid", "network", "limits", "environment"):
        val = str(layers.get(key, "off"))
        if not val.startswith("off"):
            parts.append(f"{key}: {val.removeprefix('on: ')}")
    return "; ".join(parts) if parts else "none"
