"""dagprop: backpropagation over a directed acyclic graph of input, parameter and compute nodes.

    import dagprop as dp
    x = dp.Input(np.array([[0.5, -1.0]]), name="x")
    W = dp.Param(np.array([[0.1], [-0.2]]), name="W")
    L = dp.mse_loss(x @ W, np.array([[1.0]]))
    g = dp.Graph(L); g.forward(); g.backward(L); g.sgd(0.1)
"""

from . import cost, data, examples, nn, style
from .check import GradcheckError, GradcheckReport, gradcheck, numerical_grad
from .draw import draw, path_between
from .graph import (Compute, Constant, Graph, Input, Node, Param, as_value, detect_anomaly,
                    topological_order)
from .losses import binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, mse_loss
from .ops import (exp, log, log_softmax, mean, relu, reshape, sigmoid, softmax, sum, tanh,
                  transpose, unbroadcast)

__version__ = "0.1.0"

__all__ = [
    "Node", "Input", "Param", "Constant", "Compute", "Graph", "topological_order",
    "detect_anomaly", "as_value", "exp", "log", "tanh", "sigmoid", "relu", "sum", "mean",
    "softmax", "log_softmax", "transpose", "reshape", "unbroadcast", "mse_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "draw",
    "path_between", "gradcheck", "GradcheckReport", "GradcheckError", "numerical_grad", "nn",
    "data", "examples", "style", "cost",
]
