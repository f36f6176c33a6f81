"""dagprop needs only numpy and graphviz: with torch made unimportable, the package imports and
the contract example, gradcheck, draw, nn and data all work."""

import json
import subprocess
import sys

import pytest
from engine_helpers import CONTRACT_EXAMPLE

SCRIPT = '''
import json, sys

class NoTorch:
    """Refuse to import torch, as on a machine where it is not installed."""
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"No module named {name!r} (blocked for this test)")
        return None

sys.meta_path.insert(0, NoTorch())
try:
    import torch
except ImportError:
    pass
else:
    raise SystemExit("torch was importable: the test would prove nothing")

exec(CONTRACT)

net = dp.nn.MLP([2, 4, 2], activation="tanh", seed=0)
X, y = dp.data.make_moons(20, seed=0)
loss = dp.cross_entropy(net(dp.Input(X)), y)
report = dp.gradcheck(loss)
svg = dp.draw(g, highlight_path=(W, L)).pipe(format="svg")
print(json.dumps({
    "L": float(L.value),
    "W": W.value.ravel().tolist(),
    "gradcheck_ok": report.ok,
    "svg": svg.decode()[-2000:],
    "torch_modules": sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")),
}))
'''


def test_dagprop_works_without_torch_installed():
    script = SCRIPT.replace("exec(CONTRACT)", CONTRACT_EXAMPLE)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["torch_modules"] == []
    assert out["gradcheck_ok"]
    assert out["svg"].rstrip().endswith("</svg>")

    ns = {}
    exec(CONTRACT_EXAMPLE, ns)  # noqa: S102 - the same text, in this process, with torch around
    assert out["L"] == pytest.approx(float(ns["L"].value), rel=1e-15)
    assert out["W"] == pytest.approx(ns["W"].value.ravel().tolist(), rel=1e-15)
