"""The layers that lock a grading worker in, applied by the worker to itself before it runs a
line of the submission (see worker.py), and reported back to the grader.

* **Landlock** (Linux 5.13+, no privileges needed): the worker and every process it starts may
  read only the Python installation, the packages (minus the blocked modules) and system
  folders, and write only in its own folder; from ABI 4 it may not open or accept TCP
  connections, from ABI 6 it may not signal processes outside its own domain.
* **A separate uid** (when the grader runs as root, as in Docker or on Gradescope): the worker
  drops to an unprivileged uid of its own, which owns nothing but the worker's folder, in a
  private mount namespace where the protected folders (masters, hidden tests, submissions,
  grades) and the blocked modules are covered by empty, read-only file systems, and in a
  network namespace of its own (no network at all). A uid per worker also means no worker can
  signal or trace the grader or another worker, and limits per uid (RLIMIT_NPROC) hold.
* **Limits covering all processes**: a cgroup (v2, else v1 memory and pids controllers) with a
  memory and a process limit when the grader may create one; otherwise RLIMIT_NPROC under the
  separate uid. RLIMIT_AS and RLIMIT_FSIZE bound each process in any case.

The grader refuses to grade unless the files are protected by Landlock or by the uid layer
(``isolated`` below), except with ``--no-sandbox``.
"""

from __future__ import annotations

import ctypes
import os
import stat
import sys

CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_RDONLY, MS_BIND, MS_REC, MS_PRIVATE, MS_REMOUNT = 1, 4096, 16384, 1 << 18, 32
NPROC = 128  # processes and threads of one worker (torch and BLAS start a few)

_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1, 2, 4, 8
_READ = _EXECUTE | _READ_FILE | _READ_DIR
SYSTEM = ("/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc", "/proc", "/sys")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _check(r):
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def landlock_abi() -> int:
    """The kernel's Landlock version, 0 where there is none."""
    if not sys.platform.startswith("linux"):  # the syscall numbers are Linux's
        return 0
    try:
        return max(0, _libc().syscall(ctypes.c_long(444), None, ctypes.c_long(0),
                                      ctypes.c_long(1)))
    except (OSError, AttributeError):
        return 0


def top_name(name: str) -> str:
    """'torch' for torch, torch.libs and torch-2.1.dist-info."""
    return name.split("-")[0].split(".")[0]


def blocked_paths(blocked, roots) -> set[str]:
    """The files and folders of the blocked modules, found without importing them: a top-level
    name blocks every entry of the import roots with that name (the package, its .libs and
    .dist-info); a dotted name (``dagprop.ops``) blocks that module's file or folder and its
    compiled copies."""
    import importlib.util

    paths = set()
    for name in blocked:
        top, *rest = name.split(".")
        if not rest:
            for root in roots:
                if os.path.isdir(root):
                    paths |= {os.path.join(root, n) for n in os.listdir(root)
                              if top_name(n) == top}
            continue
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            spec = None
        where = list(spec.submodule_search_locations or []) if spec else []
        for part in rest:
            nxt = []
            for d in where:
                pkg, mod = os.path.join(d, part), os.path.join(d, part + ".py")
                cache = os.path.join(d, "__pycache__")
                if os.path.isdir(cache):
                    paths |= {os.path.join(cache, n) for n in os.listdir(cache)
                              if n.split(".")[0] == part}
                if os.path.isdir(pkg):
                    nxt.append(pkg)
                if part == rest[-1]:
                    paths |= {p for p in (pkg, mod) if os.path.exists(p)}
            where = nxt
    return {os.path.realpath(p) for p in paths}


def import_roots() -> set[str]:
    """Folders the worker imports from: sys.path and the folders of the loaded modules."""
    roots = {os.path.realpath(p) for p in sys.path if p and os.path.isdir(p)}
    files = [getattr(m, "__file__", None) for m in list(sys.modules.values())]
    roots |= {os.path.dirname(os.path.realpath(f)) for f in files
              if isinstance(f, str) and os.path.isabs(f)}  # (torch.ops says "_ops.py")
    roots |= {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    return {r for r in roots if os.path.isdir(r)}


def _holds(folder: str, path: str) -> bool:
    return os.path.commonpath([folder, path]) == folder


# --- cgroups: joined by the worker while it is still root ------------------------------------


def join_cgroups(dirs) -> None:
    for d in dirs:
        with open(os.path.join(d, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))


# --- the uid layer -----------------------------------------------------------------------------


def _mount(src, target, fstype, flags, data=None):
    enc = (lambda s: None if s is None else s.encode())
    _check(_libc().mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)))


def _cover(path: str, blank: str) -> None:
    """Hide ``path`` under an empty read-only file system (a folder) or under ``blank``, an
    empty file of root's that nobody may read (a file)."""
    if os.path.isdir(path) and not os.path.islink(path):
        _mount("none", path, "tmpfs", MS_RDONLY, "size=4k,mode=000")
    else:
        _mount(blank, path, None, MS_BIND)
        _mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY)


def _reach(roots) -> None:
    """Make the import roots reachable for an unprivileged uid: a folder above one that others
    may not enter (/root, where pyenv installs Python) is covered by a fresh file system in which
    only the needed folders are bound back, so nothing else in it becomes visible."""
    closed = {}
    for root in sorted(roots):
        parts = root.split(os.sep)
        for k in range(2, len(parts)):
            anc = os.sep.join(parts[:k])
            try:
                mode = os.stat(anc).st_mode
            except OSError:
                break
            if not mode & stat.S_IXOTH:
                closed.setdefault(anc, set()).add(root)
                break
    for anc, needed in closed.items():
        fds = {r: os.open(r, os.O_PATH | os.O_CLOEXEC) for r in needed}
        _mount("none", anc, "tmpfs", 0, "size=64k,mode=755")
        for r, fd in fds.items():
            os.makedirs(r, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", r, None, MS_BIND | MS_REC)
            os.close(fd)
        _mount(None, anc, None, MS_REMOUNT | MS_RDONLY)


def separate(uid: int, hide, roots, memory_mb: int, cgroup: bool) -> dict:
    """As root: a network and mount namespace of its own, the protected paths hidden, then the
    uid ``uid`` with no groups and no capabilities. Returns the layers that hold."""
    libc, layers = _libc(), {}
    _check(libc.unshare(CLONE_NEWNS | CLONE_NEWNET))
    layers["network"] = "none (a network namespace of its own)"
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing done here reaches the host
    blank = os.path.join(os.getcwd(), ".covered")
    os.close(os.open(blank, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o000))
    os.chmod(blank, 0)
    for p in sorted(hide, key=len):
        if os.path.lexists(p):
            _cover(p, blank)
    _reach(roots)
    if not cgroup:  # processes of this uid, the worker's threads included
        import resource
        resource.setrlimit(resource.RLIMIT_NPROC, (NPROC, NPROC))
        layers["limits"] = f"RLIMIT_NPROC {NPROC} under the worker's uid"
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.geteuid() == 0 or os.getuid() == 0:
        raise OSError("the uid did not change")
    layers["uid"] = ("a uid of its own, in a mount namespace that hides the masters, hidden "
                     "tests, submissions and grades")
    return layers


def _drop_capabilities() -> None:
    """Give up every capability while staying uid 0 (the grader's /proc files then stay out
    of reach: they belong to a process that is not dumpable)."""
    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    libc = _libc()
    for cap in range(64):
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP
    _check(libc.capset(ctypes.byref(Header(0x20080522, 0)), (Data * 2)()))


# --- Landlock --------------------------------------------------------------------------------


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("fd", ctypes.c_int32)]


def landlock_rules(cwd: str, protect, blocked: set, roots) -> tuple[dict, str | None]:
    """Path -> rights: read the import roots and system folders except the blocked paths, read
    and write ``cwd``. Returns (rules, reason it cannot be done)."""
    rules = {p: _READ for p in SYSTEM if os.path.isdir(p)}

    def grant(path):
        if path in blocked:
            return
        if not any(_holds(path, b) for b in blocked):
            rules[path] = rules.get(path, 0) | _READ
            return
        rules[path] = rules.get(path, 0) | _READ_DIR  # list it, read all but the blocked
        for n in os.listdir(path):
            grant(os.path.join(path, n))

    for root in roots:
        if not any(_holds(b, root) for b in blocked):
            grant(root)
    for p in rules:
        for secret in protect:
            if _holds(p, os.path.realpath(secret)):
                return rules, f"{p} would be readable and holds {secret}"
    rules.update({d: _READ_FILE | _WRITE_FILE for d in DEVICES if os.path.exists(d)})
    rules[os.path.realpath(cwd)] = -1
    return rules, None


def landlock_prepare(rules: dict, abi: int) -> int:
    """Create the ruleset (while the paths can still be opened); returns its fd."""
    every = (1 << 13) - 1 | (1 << 13 if abi >= 2 else 0) | (1 << 14 if abi >= 3 else 0)
    every |= (1 << 15) if abi >= 5 else 0  # ioctl on devices
    file_rights = _EXECUTE | _WRITE_FILE | _READ_FILE | (1 << 14 if abi >= 3 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    net = 3 if abi >= 4 else 0  # bind and connect TCP: no rule allows them
    attr = _RulesetAttr(every, net, 3 if abi >= 6 else 0)  # scoped: signals, abstract sockets
    libc = _libc()
    ruleset = _check(libc.syscall(ctypes.c_long(444), ctypes.byref(attr), ctypes.c_size_t(size),
                                  ctypes.c_uint32(0)))
    for path, rights in rules.items():
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        rights = every if rights == -1 else rights
        rights &= every if os.path.isdir(path) else file_rights
        _check(libc.syscall(ctypes.c_long(445), ctypes.c_int(ruleset), ctypes.c_int(1),
                            ctypes.byref(_PathBeneath(rights, fd)), ctypes.c_uint32(0)))
        os.close(fd)
    return ruleset


def landlock_enforce(ruleset: int) -> None:
    libc = _libc()
    _check(libc.prctl(38, 1, 0, 0, 0))  # PR_SET_NO_NEW_PRIVS, which Landlock requires
    _check(libc.syscall(ctypes.c_long(446), ctypes.c_int(ruleset), ctypes.c_uint32(0)))
    os.close(ruleset)


def set_limits(memory_mb) -> None:
    """RLIMIT_AS and RLIMIT_FSIZE of ``memory_mb`` for this process and its children."""
    import resource

    limit = int(memory_mb or 0) * 2**20
    if limit:
        try:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            # and no file larger than that (the sandbox confines writes to its own folder)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        except (ValueError, OSError):
            pass  # some systems (macOS) refuse an address-space limit: grade without one


def lock_in(cwd: str, protect, blocked_names, opts: dict) -> dict:
    """Apply every layer ``opts`` asks for and the machine offers. Returns a dict of layer ->
    description (``off: why`` where a layer does not hold) and ``isolated``: whether the
    protected files are out of reach (Landlock, or the separate uid)."""
    layers = {"environment": "clean (only the variables the worker needs)"}
    set_limits(opts.get("memory_mb"))
    roots = import_roots()
    blocked = blocked_paths(blocked_names, roots)
    if opts.get("cgroups"):
        join_cgroups(opts["cgroups"])
        layers["limits"] = opts.get("cgroup_note", "cgroup")
    abi = landlock_abi() if opts.get("landlock", True) else 0
    ruleset, why = None, None
    if not opts.get("landlock", True):
        layers["landlock"] = "off: switched off by the grader's options"
    elif not abi:
        layers["landlock"] = "off: the kernel offers none (Linux 5.13 or later)"
    else:
        rules, why = landlock_rules(cwd, protect, blocked, roots)
        if why:
            layers["landlock"] = f"off: {why}"
        else:
            try:
                ruleset = landlock_prepare(rules, abi)
            except OSError as e:
                layers["landlock"] = f"off: Landlock refused the rules ({e})"
    uid = opts.get("uid")
    if uid is not None:
        try:
            layers.update(separate(int(uid), set(protect) | blocked, roots, 0,
                                   bool(opts.get("cgroups"))))
        except OSError as e:
            layers["uid"] = f"off: {e}"
            uid = None
    else:
        layers["uid"] = ("off: switched off by the grader's options" if os.geteuid() == 0
                         else "off: the grader does not run as root")
        if os.geteuid() == 0:  # root without the uid layer still leaves the network behind
            try:
                _check(_libc().unshare(CLONE_NEWNET))
                layers["network"] = "none (a network namespace of its own)"
            except OSError:
                pass
            _drop_capabilities()  # and keeps no power over other processes
    if ruleset is not None:
        try:
            landlock_enforce(ruleset)
            layers["landlock"] = f"on: ABI {abi}"
            if abi >= 4 and "network" not in layers:
                layers["network"] = "no TCP (Landlock)"
        except OSError as e:
            layers["landlock"] = f"off: Landlock refused the rules ({e})"
    layers.setdefault("network", "off: the worker has the machine's network")
    layers.setdefault("limits", "per process only (RLIMIT_AS)")
    layers["isolated"] = bool(layers["landlock"].startswith("on") or uid is not None)
    return layers
