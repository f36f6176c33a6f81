"""The grading worker: runs one submission's code in its own process and answers the grader.

The grader starts this script as a subprocess, sends one JSON request per line on stdin and reads
one JSON reply per line. Requests:

    {"cmd": "init", "hidden": PATH, "memory_mb": N}   import the assignment's hidden tests file
    {"cmd": "exec", "code": SOURCE, "label": "cell 3"} run one code cell of the submission
    {"cmd": "probe", "question": NAME, "inputs": B64, "cases": K}
                                                      call the submission on the grader's inputs

Arrays travel inside the messages, as base64 of a ``numpy.savez`` archive: the grader's inputs
in the request, the submission's outputs in the reply. No file is shared with the grader or with
other submissions, so none can be swapped for a pipe, a link or someone else's answers. The
grader loads the outputs with ``allow_pickle=False`` and compares them with its own reference
results. Nothing this process says is trusted: a submission that patches numpy or builtins here
only changes what it reports, and the comparison happens in the grader's process.

The worker keeps only what runs next to the submission: each question's ``probe``. Everything
else in the hidden tests file (how the inputs are drawn, the reference implementations) is
deleted before the first cell runs, so a submission that searches the process (stack frames,
``gc.get_objects()``) finds no reference to answer with.

The submission's prints go to /dev/null and its stdin is empty; requests and replies use private
copies of the original stdin and stdout, so a submission cannot break the protocol by accident.
"""

import base64
import builtins
import gc
import io
import importlib.abc
import importlib.util
import json
import linecache
import os
import sys
import traceback
import types


def _private_channels():
    """Keep private copies of stdin and stdout for the protocol; point fds 0, 1 and 2 at
    /dev/null, so `input()` in a submission meets end-of-file and its prints vanish."""
    request_fd, reply_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    return os.fdopen(request_fd, "r"), os.fdopen(reply_fd, "w", buffering=1)


class _Blocker(importlib.abc.MetaPathFinder):
    """Refuse imports of the modules an assignment forbids (torch where the task is by hand)."""

    def __init__(self, names, assignment):
        self.names, self.assignment = set(names), assignment

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.names:
            raise ImportError(f"{fullname} is switched off while grading {self.assignment}: "
                              "this assignment asks for the computation by hand")


def _short_error(exc: BaseException, filename_prefix: str = "<") -> str:
    """The exception and the last lines of its traceback that point into the submission."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f.filename.startswith(filename_prefix)]
    where = ""
    if frames:
        f = frames[-1]
        where = f" (in {f.filename.strip('<>')}, line {f.lineno}: {(f.line or '').strip()})"
    msg = str(exc)
    if len(msg) > 400:
        msg = msg[:400] + "..."
    return f"{type(exc).__name__}: {msg}{where}"


def _strip_magics(code: str) -> str:
    """Turn IPython-only lines (%magic, !shell) into no-ops so plain Python can run the cell."""
    lines = []
    for line in code.splitlines():
        s = line.lstrip()
        lines.append(line[: len(line) - len(s)] + "pass" if s.startswith(("%", "!")) else line)
    return "\n".join(lines)


def main():
    requests, out = _private_channels()
    state = {"probes": None, "ns": None}
    # Python objects the worker needs later, kept before the submission can replace them.
    _json_dumps, _json_loads, _readline = json.dumps, json.loads, requests.readline

    def reply(**msg):
        out.write(_json_dumps(msg) + "\n")
        out.flush()

    while True:
        line = _readline()
        if not line:
            return
        req = _json_loads(line)
        cmd = req["cmd"]
        if cmd == "init":
            _init(req, state)
            reply(ok=True, sandbox=state["sandbox"])
        elif cmd == "exec":
            try:
                src, name = _strip_magics(req["code"]), f"<{req['label']}>"
                linecache.cache[name] = (len(src), None, src.splitlines(True), name)
                code = compile(src, name, "exec")
                exec(code, state["ns"])  # noqa: S102 - running the submission is the point
                reply(ok=True)
            except BaseException as e:  # noqa: BLE001 - a cell may even raise SystemExit
                reply(ok=False, error=_short_error(e))
        elif cmd == "probe":
            reply(**_probe(req, state))
        else:
            reply(ok=False, error=f"unknown command {cmd!r}")


def _init(req, state):
    if req.get("memory_mb"):
        try:
            import resource
            limit = int(req["memory_mb"]) * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            # and no file larger than that (the sandbox confines writes to its own folder)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        except (ImportError, ValueError, OSError):
            pass  # some systems (macOS) refuse an address-space limit: grade without one
    os.environ.setdefault("MPLBACKEND", "Agg")
    spec = importlib.util.spec_from_file_location("coursework_hidden", req["hidden"])
    hidden = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hidden)
    blocked = getattr(hidden, "BLOCK_MODULES", ())
    for name in blocked:
        for mod in [m for m in sys.modules if m.split(".")[0] == name]:
            del sys.modules[mod]
    if blocked:
        sys.meta_path.insert(0, _Blocker(blocked, hidden.ASSIGNMENT))
    if hasattr(hidden, "worker_setup"):
        hidden.worker_setup()
    state["probes"] = _only_probes(hidden)
    del hidden, spec
    gc.collect()  # the deleted functions reference each other: free them now
    linecache.clearcache()  # a warning while loading would have kept the file's lines here
    import dagprop  # noqa: F401 - imported before the sandbox, which also needs its folder
    state["sandbox"] = (_sandbox(os.getcwd(), req.get("protect", []), blocked)
                        if req.get("sandbox") else "off: switched off by the grader's options")
    # The namespace the submission's cells run in, like a notebook's.
    state["ns"] = {"__name__": "__main__", "__builtins__": builtins,
                   "display": lambda *a, **k: None}


def _only_probes(hidden) -> dict:
    """Each question's probe; every global of the hidden tests module that no probe uses is
    deleted, so the grader's side of the file (the seeds that draw the inputs, the reference
    implementations) does not stay in this process for a submission to find."""
    probes = {q: v["probe"] for q, v in hidden.QUESTIONS.items()}
    env, keep, todo = vars(hidden), set(), list(probes.values())
    while todo:  # the globals the probes use, and those their helpers use in turn
        obj = todo.pop()
        if not isinstance(obj, types.FunctionType):
            continue
        for cell in obj.__closure__ or ():
            try:
                todo.append(cell.cell_contents)
            except ValueError:  # a cell not filled yet
                pass
        todo += list(obj.__defaults__ or ()) + list((obj.__kwdefaults__ or {}).values())
        codes = [obj.__code__]
        while codes:
            code = codes.pop()
            codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]
            for name in code.co_names:
                if name in env and name not in keep:
                    keep.add(name)
                    todo.append(env[name])
    for name in [k for k in env if k not in keep and not k.startswith("__")]:
        del env[name]
    return probes


# --- the sandbox: Landlock (Linux 5.13 and later) -----------------------------------------------
#
# Once the hidden tests are loaded, the worker gives up, for itself and every process it starts,
# all access to files except: reading the Python installation, the packages the notebooks import
# (minus the assignment's BLOCK_MODULES) and a few system folders, and everything inside its own
# working folder. So a submission cannot read the masters, the hidden tests or other students'
# notebooks, cannot write outside its folder (the grades, the grader's code), and on kernels with
# Landlock ABI 6 cannot send signals to the grader. Where Landlock is missing it says why, and the
# grader reports that it graded without it.

_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1, 2, 4, 8
_READ = _EXECUTE | _READ_FILE | _READ_DIR
_SYSTEM = ("/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc", "/proc", "/sys")
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


def _sandbox(cwd: str, protect: list, blocked) -> str:
    import ctypes

    if not sys.platform.startswith("linux"):  # the syscall numbers below are Linux's
        return f"off: Landlock is a Linux feature, this is {sys.platform}"
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        abi = libc.syscall(ctypes.c_long(444), None, ctypes.c_long(0), ctypes.c_long(1))
    except (OSError, AttributeError):
        return "off: the system offers no Landlock"
    if abi < 1:
        return "off: the kernel offers no Landlock (Linux 5.13 or later, with Landlock enabled)"
    every = (1 << 13) - 1 | (1 << 13 if abi >= 2 else 0) | (1 << 14 if abi >= 3 else 0)
    file_rights = _EXECUTE | _WRITE_FILE | _READ_FILE | (1 << 14 if abi >= 3 else 0)
    roots = {os.path.realpath(p) for p in sys.path if p and os.path.isdir(p)}
    files = [getattr(m, "__file__", None) for m in list(sys.modules.values())]
    roots |= {os.path.dirname(os.path.realpath(f)) for f in files
              if isinstance(f, str) and os.path.isabs(f)}  # (torch.ops says "_ops.py")
    rules = {p: _READ for p in _SYSTEM if os.path.isdir(p)}
    for root in roots:
        names = set(os.listdir(root)) if os.path.isdir(root) else set()
        hidden = {n for n in names if _top_name(n) in blocked}
        if any(_top_name(part) in blocked for part in root.split(os.sep)):
            continue  # inside a blocked package
        if hidden:  # list the folder, read all in it but the blocked packages
            rules[root] = rules.get(root, 0) | _READ_DIR
            for n in names - hidden:
                rules[os.path.join(root, n)] = _READ
        else:
            rules[root] = _READ
    for p in rules:
        for secret in protect:
            if os.path.commonpath([p, os.path.realpath(secret)]) == p:  # p holds the secret
                return f"off: {p} would be readable and holds {secret}"
    rules.update({d: _READ_FILE | _WRITE_FILE for d in _DEVICES if os.path.exists(d)})
    rules[os.path.realpath(cwd)] = every

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64),
                    ("scoped", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed", ctypes.c_uint64), ("fd", ctypes.c_int32)]

    def call(nr, *args):
        r = libc.syscall(ctypes.c_long(nr), *args)
        if r < 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        return r

    size = 8 if abi < 4 else 16 if abi < 6 else 24
    attr = RulesetAttr(every, 0, 3 if abi >= 6 else 0)  # scoped: signals, abstract sockets
    try:
        ruleset = call(444, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
        for path, rights in rules.items():
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            rights &= every if os.path.isdir(path) else file_rights
            call(445, ctypes.c_int(ruleset), ctypes.c_int(1),
                 ctypes.byref(PathBeneath(rights, fd)), ctypes.c_uint32(0))
            os.close(fd)
        if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS, which Landlock requires
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        call(446, ctypes.c_int(ruleset), ctypes.c_uint32(0))
        os.close(ruleset)
    except OSError as e:
        return f"off: Landlock refused the rules ({e})"
    return f"on: Landlock ABI {abi}"


def _top_name(name: str) -> str:
    """'torch' for torch, torch.libs and torch-2.1.dist-info."""
    return name.split("-")[0].split(".")[0]


def _probe(req, state):
    import numpy as np

    probe = state["probes"][req["question"]]
    with np.load(io.BytesIO(base64.b64decode(req["inputs"])), allow_pickle=False) as f:
        flat = {k: f[k] for k in f.files}
    results, errors = {}, []
    for i in range(req["cases"]):
        prefix = f"c{i}."
        case = {k[len(prefix):]: v for k, v in flat.items() if k.startswith(prefix)}
        try:
            got = probe(state["ns"], case)
            for key, val in got.items():
                arr = np.asarray(val)
                if arr.dtype.kind not in "biuf":
                    raise TypeError(f"{key}: expected numbers, got {type(val).__name__} "
                                    f"(array of dtype {arr.dtype})")
                results[prefix + key] = arr
            errors.append(None)
        except BaseException as e:  # noqa: BLE001 - report anything, keep serving
            errors.append(_short_error(e))
    try:
        buf = io.BytesIO()
        np.savez(buf, **results)
        outputs = base64.b64encode(buf.getvalue()).decode()
    except MemoryError:
        results = buf = None
        errors = ["MemoryError: the answers are too large to send to the grader"] * req["cases"]
        buf = io.BytesIO()
        np.savez(buf)
        outputs = base64.b64encode(buf.getvalue()).decode()
    return {"ok": True, "errors": errors, "outputs": outputs}


if __name__ == "__main__":
    main()
