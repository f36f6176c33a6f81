"""The grading worker: runs one submission's code in its own process and answers the grader.

The grader starts this script (``python -I``, with a clean environment) as a subprocess, sends one
JSON request per line on stdin and reads one JSON reply per line. Requests:

    {"cmd": "init", "hidden": PATH, "memory_mb": N, "sandbox": {...}, "protect": [...]}
                          import the hidden tests, keep only the probes, lock the process in
    {"cmd": "exec", "code": SOURCE, "label": "..."}   run one code cell of the submission
    {"cmd": "probe", "question": NAME, "inputs": B64, "cases": K, "recursion_limit": N}
                          call the submission on the grader's inputs

Arrays travel inside the messages, as base64 of a ``numpy.savez`` archive: the grader's inputs
in the request, the submission's outputs in the reply. Nothing this process says is trusted: the
comparison with the references happens in the grader's process.

The worker keeps only what runs next to the submission: each question's ``probe``, rebuilt as a
function whose globals hold just the names that question's probe needs (so a frame of a probe,
``sys._getframe(1).f_globals``, shows nothing of the other questions); everything else in the
hidden tests file (the inputs' recipes, ``expect``, ``QUESTIONS``) is deleted before the first
cell runs. Blocked modules (``BLOCK_MODULES``) are blocked before anything is imported: a
top-level name cannot be imported at all, a dotted one (``dagprop.ops``) is replaced by a stub
whose every attribute raises when used, so its package still imports. Their files are covered
or unreadable once the process is locked in (sandbox.py), so no reload brings them back.
"""

import ast
import base64
import builtins
import gc
import importlib.abc
import importlib.machinery
import importlib.util
import io
import json
import linecache
import os
import sys
import traceback
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # python -I leaves it out

import sandbox  # noqa: E402

_setrecursionlimit, _getrecursionlimit = sys.setrecursionlimit, sys.getrecursionlimit


def _private_channels():
    """Keep private copies of stdin and stdout for the protocol; point fds 0, 1 and 2 at
    /dev/null, so `input()` in a submission meets end-of-file and its prints vanish."""
    request_fd, reply_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    return os.fdopen(request_fd, "r"), os.fdopen(reply_fd, "w", buffering=1)


class _Off:
    """What a blocked module's attribute is: anything done with it raises."""

    def __init__(self, what, why):
        self._what, self._why = what, why

    def _refuse(self, *args, **kwargs):
        raise RuntimeError(f"{self._what} is switched off while grading {self._why}")

    __call__ = _refuse

    def __mro_entries__(self, bases):
        raise TypeError(f"{self._what} is switched off while grading {self._why} "
                        "(it cannot be subclassed)")

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        self._refuse()


class _Blocker(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Refuse the modules an assignment forbids: a top-level name raises ImportError; a dotted
    name becomes a stub module (its package may import it; nothing in it works)."""

    def __init__(self, names, assignment):
        self.names, self.assignment = tuple(names), assignment

    def _blocked(self, fullname):
        return next((n for n in self.names if fullname == n or fullname.startswith(n + ".")),
                    None)

    def find_spec(self, fullname, path=None, target=None):
        name = self._blocked(fullname)
        if name is None:
            return None
        if "." not in name:
            raise ImportError(f"{fullname} is switched off while grading {self.assignment}: "
                              "this assignment asks for the computation by hand")
        return importlib.machinery.ModuleSpec(fullname, self, is_package=False)

    def create_module(self, spec):
        why = (f"{self.assignment}: write this part yourself ({spec.name} is the engine's own "
               "solution)")
        mod = types.ModuleType(spec.name)
        mod.__getattr__ = lambda attr: _Off(f"{spec.name}.{attr}", why)
        return mod

    def exec_module(self, module):
        pass


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
    state = {"probes": {}, "ns": None}
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
            try:
                _init(req, state)
            except Exception as e:  # noqa: BLE001 - said to the grader, which gives up
                reply(ok=False, error=f"the worker could not start: {type(e).__name__}: {e}",
                      layers={"isolated": False})
                return
            reply(ok=True, layers=state["layers"])
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


def _declared(path: str, name: str, default):
    """A literal assigned at the top level of the hidden tests file, read without running it."""
    if not path:
        return default
    with open(path) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name
                                                for t in node.targets):
            return ast.literal_eval(node.value)
    return default


def _init(req, state):
    os.environ.setdefault("MPLBACKEND", "Agg")
    hidden_path = req.get("hidden")
    blocked = tuple(_declared(hidden_path, "BLOCK_MODULES", ()))
    assignment = _declared(hidden_path, "ASSIGNMENT", "this assignment")
    for mod in [m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in blocked)]:
        del sys.modules[mod]
    if blocked:  # before anything is imported, so no blocked module is ever in this process
        sys.meta_path.insert(0, _Blocker(blocked, assignment))
    if hidden_path:
        spec = importlib.util.spec_from_file_location("coursework_hidden", hidden_path)
        hidden = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(hidden)
        if hasattr(hidden, "worker_setup"):
            hidden.worker_setup()
        state["probes"] = _only_probes(hidden)
        del hidden, spec
    gc.collect()  # the deleted functions reference each other: free them now
    linecache.clearcache()  # a warning while loading would have kept the file's lines here
    try:
        import dagprop  # noqa: F401 - imported before the sandbox, which needs its folder
    except ImportError:
        pass
    sb = req.get("sandbox") or {}
    if sb.get("off"):
        state["layers"] = {"isolated": False, "landlock": "off: --no-sandbox",
                           "uid": "off: --no-sandbox", "environment": "clean"}
        sandbox.set_limits(req.get("memory_mb"))
    else:
        state["layers"] = sandbox.lock_in(os.getcwd(), req.get("protect", []), blocked,
                                          dict(sb, memory_mb=req.get("memory_mb")))
    # The namespace the submission's cells run in, like a notebook's.
    state["ns"] = {"__name__": "__main__", "__builtins__": builtins,
                   "display": lambda *a, **k: None}


def _needed(fn, env) -> list:
    """Names of ``env`` that the code of ``fn`` (and the functions nested in it) refers to."""
    names, codes = [], [fn.__code__]
    while codes:
        code = codes.pop()
        codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]
        names += [n for n in code.co_names if n in env]
    return names


def _only_probes(hidden) -> dict:
    """Each question's probe, rebuilt (with the functions of the hidden tests it uses) over a
    globals dict of its own holding only what that probe needs. Every global of the module
    that no probe uses is deleted, so the grader's side of the file (the recipes of the
    inputs, the reference implementations, QUESTIONS) does not stay in this process."""
    env = vars(hidden)
    probes, keep = {}, set()
    for q, spec in hidden.QUESTIONS.items():
        g = {"__builtins__": builtins, "__name__": f"probe_{q}"}
        memo = {}

        def conv(obj, g=g, memo=memo):
            if isinstance(obj, types.FunctionType) and obj.__globals__ is env:
                if id(obj) in memo:
                    return memo[id(obj)]
                cells = []
                for c in obj.__closure__ or ():
                    try:
                        cells.append(c.cell_contents)
                    except ValueError:
                        cells.append(c)
                closure = tuple(c if isinstance(c, types.CellType) else types.CellType(conv(c))
                                for c in cells) or None
                new = types.FunctionType(obj.__code__, g, obj.__name__,
                                         tuple(conv(d) for d in obj.__defaults__ or ()) or None,
                                         closure)
                new.__kwdefaults__ = {k: conv(v) for k, v in (obj.__kwdefaults__ or {}).items()}
                new.__kwdefaults__ = new.__kwdefaults__ or None
                memo[id(obj)] = new
                for name in _needed(obj, env):
                    if name not in g and name != "QUESTIONS":
                        keep.add(name)
                        g[name] = None  # (mutual recursion)
                        g[name] = conv(env[name])
                for c in cells:
                    if isinstance(c, types.FunctionType):
                        conv(c)
                return new
            return obj

        probes[q] = conv(spec["probe"])
    for name in [k for k in env if k not in keep and not k.startswith("__")]:
        del env[name]
    return probes


def _probe(req, state):
    import numpy as np

    probe = state["probes"].pop(req["question"], None)  # each question is asked once
    if probe is None:
        return {"ok": True, "errors": ["the question was already asked"] * req["cases"],
                "outputs": ""}
    with np.load(io.BytesIO(base64.b64decode(req["inputs"])), allow_pickle=False) as f:
        flat = {k: f[k] for k in f.files}
    limit = req.get("recursion_limit")
    results, errors = {}, []
    for i in range(req["cases"]):
        prefix = f"c{i}."
        case = {k[len(prefix):]: v for k, v in flat.items() if k.startswith(prefix)}
        try:
            if limit:
                got = _limited(probe, state["ns"], case, int(limit))
            else:
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


def _refuse_limit(n):
    raise RuntimeError("the recursion limit cannot be changed while this question is graded: "
                       "the question asks for a solution without recursion")


def _limited(probe, ns, case, limit):
    """Call the probe with at most ``limit`` frames of recursion on top of the current stack;
    sys.setrecursionlimit is switched off meanwhile, and a change of the limit fails the case."""
    depth, f = 0, sys._getframe()
    while f is not None:
        depth, f = depth + 1, f.f_back
    old, want = _getrecursionlimit(), depth + limit
    _setrecursionlimit(want)
    sys.setrecursionlimit = _refuse_limit
    try:
        got = probe(ns, case)
    except RecursionError:
        raise RecursionError(f"more than {limit} nested calls: the question asks for a "
                             "solution without recursion") from None
    finally:
        changed = _getrecursionlimit() != want
        sys.setrecursionlimit = _setrecursionlimit
        _setrecursionlimit(old)
    if changed:
        raise RuntimeError("the recursion limit was changed while the question was graded")
    return got


if __name__ == "__main__":
    main()
