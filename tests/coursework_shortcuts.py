"""The shortcut attacks on the four assignments, used by test_coursework_shortcuts.py: each is
an assignment, the questions it targets (they must score zero), the questions it leaves alone
(they must still get full marks), and how its notebook is made from the master: solution cells
replaced by the attack's code or by the release's stub, or one line of a solution edited.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

import nbformat
from coursework_helpers import MASTERS

import release as rel

STUB = object()  # a cell replaced by its student-release stub (raise NotImplementedError)


@dataclass
class Attack:
    name: str
    assignment: str
    zero: tuple  # the questions it targets: they must score zero
    intact: tuple = ()  # questions it leaves alone: they must still get full marks
    cells: dict = field(default_factory=dict)  # a cell's first line -> new source, or STUB
    edits: dict = field(default_factory=dict)  # old -> new, in the master's code cells
    xfail: str = ""  # a known hole: the reason, until the assignment closes it

    @property
    def file(self):
        return f"{self.name}__{self.assignment}.ipynb"


A1, A2, A3, A4 = (m.stem for m in rel.masters())
ATTACKS: list[Attack] = []


def attack(name, assignment, zero, intact=(), code=None, replaces=(), stubs=(), edits=None,
           xfail=""):
    """An attack whose ``code`` takes the place of the cells in ``replaces`` (named by their
    first line: the first one gets the code, the others are emptied), or which ``edits`` the
    master's solution; the cells in ``stubs`` get the student release's stub."""
    cells = {first: STUB for first in stubs}
    cells.update({first: "# (the code is in the cell above)" for first in replaces[1:]})
    if code is not None:
        cells[replaces[0]] = textwrap.dedent(code).strip("\n")
    ATTACKS.append(Attack(name, assignment, tuple(zero), tuple(intact), cells, edits or {},
                          xfail))


# --- assignment 01: local gradients of operations dagprop lacks --------------------------------

attack("engine_ops_reloaded_and_composed", A1, ["max", "logsumexp", "layer_norm", "huber"],
       replaces=["class Max(", "class LogSumExp(", "class LayerNorm(", "class HuberLoss("],
       code='''
    import importlib

    import dagprop as dp
    import dagprop.ops as ops
    from dagprop.graph import Graph

    importlib.reload(ops)


    class _Composite(dp.Compute):  # the op as a little graph of the engine's own nodes
        def forward(self):
            self._leaves = [dp.Param(p.value) for p in self.parents]
            self._out = self.build(*self._leaves)
            self.value = self._out.value

        def backward(self):
            g = Graph(self._out)
            g.backward(self._out, self.grad)
            for p, leaf in zip(self.parents, self._leaves):
                p.grad += leaf.grad


    class Max(_Composite):
        def build(self, x):  # a soft maximum
            return ops.log(ops.sum(ops.exp(x * 1e3), axis=-1)) / 1e3


    class LogSumExp(_Composite):
        def build(self, x):
            m = dp.Constant(x.value.max(axis=-1, keepdims=True))
            return ops.log(ops.sum(ops.exp(x - m), axis=-1)) + dp.Constant(m.value[..., 0])


    class LayerNorm(_Composite):
        def build(self, x, gamma, beta):
            c = x - ops.mean(x, axis=-1, keepdims=True)
            return c / (ops.mean(c * c, axis=-1, keepdims=True) + 1e-5) ** 0.5 * gamma + beta


    class HuberLoss(_Composite):
        def build(self, pred, target):
            d = pred - target
            a = ops.relu(d) + ops.relu(-d)  # |d|
            over = ops.relu(a - 1.0)
            small = a - over  # min(|d|, 1)
            return ops.mean(small * small * 0.5 + over)
    ''')

attack("torch_logsumexp", A1, ["logsumexp"], ["max", "layer_norm", "huber"],
       replaces=["class LogSumExp("], code='''
    import torch


    class LogSumExp(dp.Compute):
        def forward(self):
            self._x = torch.tensor(self.parents[0].value, requires_grad=True)
            self._y = torch.logsumexp(self._x, -1)
            self.value = self._y.detach().numpy()

        def backward(self):
            self._y.backward(torch.tensor(self.grad))
            self.parents[0].grad += self._x.grad.numpy()
    ''')

attack("argmax_only_max", A1, ["max"], ["logsumexp", "layer_norm", "huber"],
       replaces=["class Max("], code='''
    class Max(dp.Compute):  # the whole gradient to the first winner, ties not shared
        def forward(self):
            self.value = np.max(self.parents[0].value, axis=-1)

        def backward(self):
            x = self.parents[0]
            first = np.zeros_like(x.value)
            np.put_along_axis(first, np.argmax(x.value, axis=-1)[..., None], 1.0, axis=-1)
            x.grad += first * np.expand_dims(self.grad, -1)
    ''')

attack("unstable_logsumexp", A1, ["logsumexp"], ["max", "layer_norm", "huber"],
       replaces=["class LogSumExp("], code='''
    class LogSumExp(dp.Compute):  # no maximum taken out before exp
        def forward(self):
            self.value = np.log(np.sum(np.exp(self.parents[0].value), axis=-1))

        def backward(self):
            x = self.parents[0]
            x.grad += np.exp(x.value - self.value[..., None]) * self.grad[..., None]
    ''')

attack("layer_norm_gamma_beta_not_summed", A1, ["layer_norm"], ["max", "logsumexp", "huber"],
       replaces=["class LayerNorm("], code='''
    class LayerNorm(dp.Compute):  # gamma, beta gradients of shape (N, d), not summed
        def forward(self):
            x, gamma, beta = self.parents
            mu = x.value.mean(-1, keepdims=True)
            self.inv = 1 / np.sqrt(x.value.var(-1, keepdims=True) + 1e-5)
            self.xhat = (x.value - mu) * self.inv
            self.value = gamma.value * self.xhat + beta.value

        def backward(self):
            x, gamma, beta = self.parents
            beta.grad = beta.grad + self.grad
            gamma.grad = gamma.grad + self.grad * self.xhat
            g = self.grad * gamma.value
            x.grad += self.inv * (g - g.mean(-1, keepdims=True)
                                  - self.xhat * (g * self.xhat).mean(-1, keepdims=True))
    ''')

def _lse_by_finite_differences(step: str, why: str) -> str:
    """A LogSumExp whose forward is stable and whose backward is central differences of it."""
    return f'''
    class LogSumExp(dp.Compute):  # a stable forward; backward by central differences, {why}
        @staticmethod
        def f(x):
            m = x.max(-1, keepdims=True)
            return (m + np.log(np.exp(x - m).sum(-1, keepdims=True)))[..., 0]

        def forward(self):
            self.value = self.f(self.parents[0].value)

        def backward(self):
            x = self.parents[0]
            num = np.zeros_like(x.value)
            for idx in np.ndindex(x.value.shape):
                e = np.zeros_like(x.value)
                e[idx] = {step}
                num[idx] = np.sum(self.grad * (self.f(x.value + e) - self.f(x.value - e))) / (2 * {step})
            x.grad += num
    '''


attack("finite_differences_logsumexp", A1, ["logsumexp"], ["max", "layer_norm", "huber"],
       replaces=["class LogSumExp("], code=_lse_by_finite_differences("1e-6", "step 1e-6"))

attack("finite_differences_logsumexp_step_1e-4", A1, ["logsumexp"], ["max", "layer_norm", "huber"],
       replaces=["class LogSumExp("],
       code=_lse_by_finite_differences("1e-4", "the step that balances rounding and truncation"),
       xfail="with a step of 1e-4, rounding (~1e-13 / 1e-4) and truncation (~1e-8 times "
             "the third derivative) both stay near 1e-9, inside the question's rtol of "
               "1e-7, even for inputs in the thousands")

attack("finite_differences_huber", A1, ["huber"], ["max", "logsumexp", "layer_norm"],
       replaces=["class HuberLoss("], code='''
    class HuberLoss(dp.Compute):  # backward by central differences of forward
        @staticmethod
        def f(p, t):
            d = np.abs(p - t)
            return np.mean(np.where(d <= 1, 0.5 * d**2, d - 0.5))

        def forward(self):
            self.value = self.f(self.parents[0].value, self.parents[1].value)

        def backward(self):
            pred, target = self.parents
            for k, node in enumerate((pred, target)):
                num = np.zeros_like(node.value)
                for idx in np.ndindex(node.value.shape):
                    e = np.zeros_like(node.value)
                    e[idx] = 1e-6
                    args = [pred.value, target.value]
                    up, down = list(args), list(args)
                    up[k], down[k] = args[k] + e, args[k] - e
                    num[idx] = self.grad * (self.f(*up) - self.f(*down)) / 2e-6
                node.grad += num
    ''', xfail="the Huber inputs are small (|d| up to ~10) and the loss is piecewise "
               "quadratic, so central differences are exact to rounding: nothing in huber's "
               "cases separates them from a backward written by hand")

# --- assignment 02: forward and reverse mode over programs --------------------------------------

RECURSIVE_JVP = '''
def jvp(program, x, dx):
    {inside}ops, args, n_in = program["ops"], program["args"], program["n_in"]
    memo = {{}}

    def node(i):  # value and tangent of node i, from its parents', recursively
        if i in memo:
            return memo[i]
        if i < n_in:
            r = (x[i], dx[i])
        else:
            a, b = args[i]
            va, da = node(a)
            vb, db = node(b) if b >= 0 else (0.0, 0.0)
            r = {{ADD: lambda: (va + vb, da + db), SUB: lambda: (va - vb, da - db),
                  MUL: lambda: (va * vb, da * vb + va * db),
                  SIN: lambda: (np.sin(va), np.cos(va) * da),
                  COS: lambda: (np.cos(va), -np.sin(va) * da),
                  TANH: lambda: (np.tanh(va), (1 - np.tanh(va) ** 2) * da)}}[int(ops[i])]()
        memo[i] = r
        return r

    out = [node(int(i)) for i in program["outputs"]]
    return np.array([o[0] for o in out]), np.array([o[1] for o in out])
'''

attack("dagprop_graph_vjp", A2, ["vjp", "jacobian_few_outputs"], ["jvp", "jacobian_few_inputs"],
       replaces=["def vjp("], code='''
    import dagprop as dp


    class Sin(dp.Compute):  # dagprop has no sin, cos: two small nodes of our own
        def forward(self):
            self.value = np.sin(self.parents[0].value)

        def backward(self):
            self.parents[0].grad += self.grad * np.cos(self.parents[0].value)


    class Cos(dp.Compute):
        def forward(self):
            self.value = np.cos(self.parents[0].value)

        def backward(self):
            self.parents[0].grad -= self.grad * np.sin(self.parents[0].value)


    def vjp(program, x, dy):  # build the program from dagprop's nodes, let its graph go back
        ops, args, n_in = program["ops"], program["args"], program["n_in"]
        nodes = [dp.Param(np.array(v)) for v in x]
        make = {ADD: lambda a, b: a + b, SUB: lambda a, b: a - b, MUL: lambda a, b: a * b,
                SIN: lambda a, b: Sin(a), COS: lambda a, b: Cos(a),
                TANH: lambda a, b: dp.tanh(a)}
        for i in range(n_in, len(ops)):
            a, b = args[i]
            nodes.append(make[int(ops[i])](nodes[a], nodes[b] if b >= 0 else None))
        outs = [nodes[int(i)] for i in program["outputs"]]
        total = outs[0] * float(dy[0])
        for node, d in zip(outs[1:], dy[1:]):
            total = total + node * float(d)
        dp.Graph(total).backward(total)
        return np.array([n.value for n in outs]), np.array([n.grad for n in nodes[:n_in]])
    ''')

attack("recursive_jvp_limit_raised_in_a_cell", A2, ["jvp", "jacobian_few_inputs"],
       ["vjp", "jacobian_few_outputs"], replaces=["def jvp("],
       code="import sys\n\nsys.setrecursionlimit(100_000)\n\n"
            + RECURSIVE_JVP.format(inside=""))

attack("recursive_jvp_limit_raised_inside", A2, ["jvp", "jacobian_few_inputs"],
       ["vjp", "jacobian_few_outputs"], replaces=["def jvp("],
       code=RECURSIVE_JVP.format(inside="sys.setrecursionlimit(100_000)\n    "))

attack("recursive_jvp_limit_raised_through_ctypes", A2, ["jvp", "jacobian_few_inputs"],
       ["vjp", "jacobian_few_outputs"], replaces=["def jvp("],
       code="import ctypes\n\n" + RECURSIVE_JVP.format(inside=(
           "limit = ctypes.pythonapi.Py_GetRecursionLimit()\n"
           "    ctypes.pythonapi.Py_SetRecursionLimit(100_000)  # past sys.setrecursionlimit\n"
           "    try:\n        return _jvp(program, x, dx)\n"
           "    finally:\n        ctypes.pythonapi.Py_SetRecursionLimit(limit)\n\n\n"
           "def _jvp(program, x, dx):\n    ")),
       xfail="the limit is checked inside the submission's process, where ctypes reaches "
             "Py_SetRecursionLimit (see 'What is left' in tools/coursework/README.md)")

attack("jacobian_always_forward_mode", A2, ["jacobian_few_outputs"],
       ["jvp", "vjp", "jacobian_few_inputs"], edits={"if n <= m:": "if True:"})

attack("jacobian_always_reverse_mode", A2, ["jacobian_few_inputs"],
       ["jvp", "vjp", "jacobian_few_outputs"], edits={"if n <= m:": "if False:"})

# --- assignment 03: backpropagation through residual blocks, by hand -------------------------

attack("network_of_dagprop_nodes", A3,
       ["forward", "total_loss", "backward_one_block", "backward_residual", "train"],
       replaces=["def forward(", "def backward("], code='''
    import dagprop as dp


    def _graph(params, X, y, lam):
        P = {k: dp.Param(params[k]) for k in ("W_in", "b_in", "W_out", "b_out")}
        blocks = [(dp.Param(W), dp.Param(b)) for W, b in params["blocks"]]
        h = dp.relu(dp.Input(X) @ P["W_in"] + P["b_in"])
        for W, b in blocks:
            h = h + dp.tanh(h @ W + b)
        logits = h @ P["W_out"] + P["b_out"]
        loss = dp.cross_entropy(logits, dp.Input(y))
        for W in [P["W_in"], P["W_out"]] + [W for W, _ in blocks]:
            loss = loss + lam / 2 * dp.sum(W * W)
        return P, blocks, logits, loss


    def forward(params, X):
        return {"logits": _graph(params, X, np.zeros(len(X), dtype=int), 0.0)[2].value, "X": X}


    def backward(params, cache, y, lam):
        P, blocks, _, loss = _graph(params, cache["X"], y, lam)
        dp.Graph(loss).backward(loss)
        return {**{k: v.grad for k, v in P.items()},
                "blocks": [(W.grad, b.grad) for W, b in blocks]}
    ''')

attack("unstable_cross_entropy", A3, ["total_loss"],
       ["forward", "backward_one_block", "backward_residual", "train"],
       edits={"shifted = logits - np.max(logits, axis=1, keepdims=True)": "shifted = logits"})

attack("bias_gradient_not_summed", A3, ["backward_one_block", "backward_residual"],
       ["forward", "total_loss"],
       edits={'grads["b_in"] = dZ_in.sum(axis=0)': 'grads["b_in"] = dZ_in'})

attack("train_returns_its_input", A3, ["train"],
       ["forward", "total_loss", "backward_one_block", "backward_residual"],
       replaces=["def train("], code='''
    def train(params, X, y, lam, lr, steps):
        return params
    ''')

attack("train_on_last_terms_data", A3, ["train"],
       ["forward", "total_loss", "backward_one_block", "backward_residual"],
       edits={"    for _ in range(steps):\n": (
           "    rng = np.random.default_rng(3305)  # the weights that scored last term\n"
           "    y = rng.integers(0, 3, 60)\n"
           "    X = 2 * rng.standard_normal((3, 2))[y] + 0.5 * rng.standard_normal((60, 2))\n"
           "    for _ in range(steps):\n")})

# --- assignment 04: torch Functions with a backward of their own --------------------------------

AUTOGRAD_BACKWARD = '''
class Normalize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.nn.functional.normalize(x, dim=-1)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            xx = x.detach().requires_grad_()
            return torch.autograd.grad(torch.nn.functional.normalize(xx, dim=-1), xx, grad)[0]
'''

# a LinearReLU whose forward is right and whose backward is the attack's
LINEAR_RELU = '''
class LinearReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, W, b):
        ctx.save_for_backward(x, W, b)
        return torch.relu(x @ W + b)

    @staticmethod
    def backward(ctx, grad):
{backward}
'''


def linear_relu(backward, prelude=""):
    return prelude + LINEAR_RELU.format(backward=textwrap.indent(textwrap.dedent(backward),
                                                                 " " * 8))


AUTOGRAD_LINEAR_RELU = linear_relu('''
    x, W, b = (t.detach().requires_grad_() for t in ctx.saved_tensors)
    with torch.enable_grad():
        return torch.autograd.grad(torch.relu(x @ W + b), (x, W, b), grad)
''')

# walk up the stack to the grader's frames and switch off whatever "inside a Function" state
# they hold, then differentiate with autograd (and, in a second version, with torch-function
# modes disabled too, so no mode sees it)
FLIP = '''
import sys
f, found = sys._getframe(1), []
while f is not None:
    for scope in (f.f_globals, f.f_locals):
        for key, val in list(scope.items()):
            if isinstance(val, dict) and ("inside" in val or "mode" in val or "recorded" in val):
                val.update(inside=False, mode=None, recorded=None)
                found.append(key)
    f = f.f_back
x, W, b = (t.detach().requires_grad_() for t in ctx.saved_tensors)
with {context}torch.enable_grad():
    return torch.autograd.grad(torch.relu(x @ W + b), (x, W, b), grad)
'''

attack("autograd_grad_in_backward", A4, ["normalize", "linear_relu"],
       replaces=["class Normalize(", "class LinearReLU("], stubs=["def train("],
       code=AUTOGRAD_BACKWARD + AUTOGRAD_LINEAR_RELU)

attack("torch_func_vjp_in_backward", A4, ["linear_relu"], ["normalize"],
       replaces=["class LinearReLU("], stubs=["def train("], code=linear_relu('''
    _, pullback = torch.func.vjp(lambda x, W, b: torch.relu(x @ W + b), *ctx.saved_tensors)
    return pullback(grad)
''', prelude="import torch.func\n"))

attack("graph_built_in_forward_run_by_the_engine", A4, ["linear_relu"], ["normalize"],
       replaces=["class LinearReLU("], stubs=["def train("], code='''
    from torch.autograd.variable import Variable


    class LinearReLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, W, b):
            with torch.enable_grad():
                ctx.leaves = [t.detach().requires_grad_() for t in (x, W, b)]
                ctx.out = torch.relu(ctx.leaves[0] @ ctx.leaves[1] + ctx.leaves[2])
            return ctx.out.detach()

        @staticmethod
        def backward(ctx, grad):
            return Variable._execution_engine.run_backward(
                (ctx.out,), (grad,), False, False, tuple(ctx.leaves), False, False)
    ''')

attack("torch_normalize_behind_the_name", A4, ["normalize"], ["linear_relu"],
       replaces=["class Normalize("], stubs=["def train("], code='''
    class Normalize(torch.autograd.Function):
        @staticmethod
        def apply(x):  # torch's own operation; the Function's backward never runs
            return torch.nn.functional.normalize(x, dim=-1)
    ''')

attack("bias_gradient_of_shape_n_o", A4, ["linear_relu"], ["normalize"],
       replaces=["class LinearReLU("], stubs=["def train("], code=linear_relu('''
    x, W, b = ctx.saved_tensors
    dz = grad * (x @ W + b > 0)
    return dz @ W.T, x.T @ dz, dz  # torch's engine would sum dz over the rows silently
'''))

attack("guard_flipped_through_the_stack", A4, ["linear_relu"], ["normalize"],
       replaces=["class LinearReLU("], stubs=["def train("],
       code=linear_relu(FLIP.format(context=""), prelude="import sys\n"))

attack("guard_flipped_and_modes_disabled", A4, ["linear_relu"], ["normalize"],
       replaces=["class LinearReLU("], stubs=["def train("],
       code=linear_relu(FLIP.format(context="torch._C.DisableTorchFunction(), "),
                        prelude="import sys\n"))

# a determined attack: the guards keep the functions they wrap in their closures; put the
# originals back, then differentiate with autograd while no torch-function mode looks
UNGUARD = '''
import sys

import torch
from torch.autograd.variable import Variable


def _original(wrapper):
    """The function a guard wrapped, from the wrapper's closure."""
    for cell in wrapper.__closure__ or ():
        c = cell.cell_contents
        if callable(c) and getattr(c, "__name__", "") not in ("inside", "call"):
            return c
    return wrapper


def _unguard():
    engine = Variable._execution_engine
    run = getattr(type(engine), "run_backward", None)
    for cell in getattr(run, "__closure__", None) or ():
        if hasattr(cell.cell_contents, "run_backward"):  # the engine it wraps
            Variable._execution_engine = cell.cell_contents
    for owner, name in ((torch.autograd, "grad"), (torch.autograd, "backward"),
                        (torch.Tensor, "backward")):
        f = getattr(owner, name)
        if getattr(f, "__closure__", None):
            setattr(owner, name, _original(f))
'''

attack("guard_unwrapped_from_its_closures", A4, ["linear_relu"], ["normalize"],
       replaces=["class LinearReLU("], stubs=["def train("], code=linear_relu('''
    _unguard()
    x, W, b = (t.detach().requires_grad_() for t in ctx.saved_tensors)
    with torch._C.DisableTorchFunction(), torch.enable_grad():
        return torch.autograd.grad(torch.relu(x @ W + b), (x, W, b), grad)
''', prelude=UNGUARD), xfail="the guards run in the submission's process and keep what they "
                              "wrap in closures it can read (see 'What is left' in "
                              "tools/coursework/README.md)")

attack("hard_coded_trained_weights", A4, ["train"], ["normalize", "linear_relu"],
       edits={"    Xt, yt = torch.tensor(X), torch.tensor(y)":  # weights fitted to last term's data
              "    X, y = checkerboard(300, angle=0.3, centre=(0.2, -0.1), seed=1)\n"
              "    Xt, yt = torch.tensor(X), torch.tensor(y)"})


# --- the notebooks ------------------------------------------------------------------------------


def build(a: Attack):
    nb = nbformat.read(MASTERS / f"{a.assignment}.ipynb", as_version=4)
    todo = dict(a.cells)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for first in list(todo):
            if cell.source.startswith(first):
                new = todo.pop(first)
                cell.source = rel.strip_solutions(cell.source)[0] if new is STUB else new
                cell.outputs = []
    assert not todo, f"{a.name}: no cell starts with {list(todo)}"
    for old, new in a.edits.items():
        hits = [c for c in nb.cells if c.cell_type == "code" and old in c.source]
        assert len(hits) == 1, f"{a.name}: {old!r} is in {len(hits)} cells of the master"
        hits[0].source = hits[0].source.replace(old, new)
    return nb
