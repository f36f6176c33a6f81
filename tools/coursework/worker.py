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
            reply(ok=True)
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
            # no single file larger than the memory limit: a submission cannot fill the disk
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
        todo += [c.cell_contents for c in obj.__closure__ or () if c.cell_contents is not None]
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
    buf = io.BytesIO()
    np.savez(buf, **results)
    return {"ok": True, "errors": errors, "outputs": base64.b64encode(buf.getvalue()).decode()}


if __name__ == "__main__":
    main()
