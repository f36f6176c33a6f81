"""Mistakes get clear errors that name the op, the nodes and the shapes; detect_anomaly and
gradcheck point at the node that went wrong."""

import operator
import re

import numpy as np
import pytest

import dagprop as dp
from dagprop.ops import Tanh

# log of a negative number and the like warn in numpy; here they are the point of the test.
pytestmark = pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")

# --- shapes ----------------------------------------------------------------------------------------


def test_add_of_unbroadcastable_shapes_names_op_nodes_and_shapes():
    a = dp.Input(np.ones((2, 3)), name="a")
    b = dp.Param(np.ones(4), name="b")
    with pytest.raises(ValueError, match=r"add.*\(2, 3\).*\(a\).*\(4,\).*\(b\)"):
        a + b


@pytest.mark.parametrize("op,fn", [("sub", operator.sub), ("mul", operator.mul),
                                   ("div", operator.truediv)])
def test_every_elementwise_op_reports_bad_broadcasts(op, fn):
    a, b = dp.Input(np.ones((2, 3)), name="a"), dp.Input(np.ones((3, 2)), name="b")
    with pytest.raises(ValueError, match=rf"^{op}: shapes \(2, 3\) \(a\) and \(3, 2\) \(b\)"):
        fn(a, b)


def test_matmul_of_unaligned_shapes_names_both_shapes_and_the_axes():
    a = dp.Input(np.ones((2, 3)), name="a")
    W = dp.Param(np.ones((4, 5)), name="W")
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) \(a\) and \(4, 5\) \(W\) are "
                                         r"not aligned: 3 .* != 4"):
        a @ W


def test_matmul_of_a_scalar_suggests_multiplication():
    with pytest.raises(ValueError, match=r"matmul.*use \*"):
        dp.Input(2.0) @ dp.Input(np.ones(3))


def test_mse_loss_refuses_to_broadcast_n_by_1_against_n():
    pred = dp.Input(np.ones((5, 1)), name="pred")
    t = dp.Input(np.ones(5), name="t")
    with pytest.raises(ValueError, match=r"mse_loss: prediction pred has shape \(5, 1\) but "
                                         r"target t has shape \(5,\)"):
        dp.mse_loss(pred, t)


def test_binary_cross_entropy_wants_probabilities():
    with pytest.raises(ValueError, match="binary_cross_entropy.*must lie in \\[0, 1\\].*sigmoid"):
        dp.binary_cross_entropy(dp.Input(np.array([1.5, 0.2])), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"binary_cross_entropy.*\(3,\).*\(2,\)"):
        dp.binary_cross_entropy(dp.Input(np.full(3, 0.5)), np.array([1.0, 0.0]))


@pytest.mark.parametrize("labels,pattern", [
    (np.array([0, 1, 3]), r"labels y must be integers in \[0, 3\), got 3 at position 2$"),
    (np.array([0, -1, 2]), r"labels y must be integers in \[0, 3\), got -1 at position 1$"),
    (np.array([0.0, 1.5, 2.0]), r"labels y must be integers in \[0, 3\), got 1.5 at position 1$"),
    (np.array([0, 1]), (r"expected logits of shape \(N, C\) and labels of shape \(N,\), "
                        r"got \(3, 3\) \(z\) and \(2,\) \(y\)")),
    (np.array([[0], [1], [2]]), r"expected .* got \(3, 3\) \(z\) and \(3, 1\) \(y\)"),
], ids=["label too large", "negative label", "fractional label", "too few labels",
        "labels as a column"])
def test_cross_entropy_reports_bad_labels(labels, pattern):
    z = dp.Input(np.zeros((3, 3)), name="z")
    with pytest.raises(ValueError, match="cross_entropy: " + pattern):
        dp.cross_entropy(z, dp.Input(labels, name="y"))


def test_cross_entropy_checks_labels_again_when_they_change():
    z = dp.Param(np.zeros((3, 3)), name="z")
    y = dp.Input(np.array([0, 1, 2]), name="y")
    g = dp.Graph(dp.cross_entropy(z, y))
    y.value = np.array([0, 1, 7])
    with pytest.raises(ValueError, match=r"cross_entropy: labels y must be integers in \[0, 3\)"):
        g.forward()


def test_rerun_with_incompatible_new_shape_names_the_op_it_breaks():
    x = dp.Input(np.ones((2, 3)), name="x")
    W = dp.Param(np.ones((3, 1)), name="W")
    L = dp.mse_loss(x @ W, np.ones((2, 1)))
    g = dp.Graph(L)
    x.value = np.ones((2, 4))
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 4\) \(x\) and \(3, 1\) \(W\)"):
        g.forward()
    x.value = np.ones((5, 3))  # a new batch size, but the target was left at 2 rows
    with pytest.raises(ValueError, match=r"mse_loss: .* \(5, 1\) .* \(2, 1\)"):
        g.forward()


@pytest.mark.parametrize("build,pattern", [
    (lambda a: dp.sum(a, axis=2), r"sum: axis 2 is out of range for a of shape \(2, 3\)"),
    (lambda a: dp.mean(a, axis=(0, -3)), r"mean: axis -3 is out of range"),
    (lambda a: dp.softmax(a, axis=3), r"softmax: axis 3 is out of range"),
    (lambda a: dp.log_softmax(a, axis=-3), r"log_softmax: axis -3 is out of range"),
    (lambda a: a[5], r"index: 5 is not a valid index for a of shape \(2, 3\)"),
    (lambda a: a.reshape(4, 2), r"reshape: cannot reshape a of shape \(2, 3\) into \(4, 2\)"),
    (lambda a: dp.transpose(a, (0, 0)), r"transpose: axes \(0, 0\) are not a permutation"),
], ids=["sum", "mean", "softmax", "log_softmax", "index", "reshape", "transpose"])
def test_bad_axes_indices_and_shapes_name_the_op(build, pattern):
    with pytest.raises(ValueError, match=pattern):
        build(dp.Input(np.ones((2, 3)), name="a"))


# --- types -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda x: x * "a", lambda x: "a" * x, lambda x: x + None,
                                  lambda x: x - [1, "b"], lambda x: x @ {"k": 1}],
                         ids=["node * str", "str * node", "node + None", "node - list",
                              "node @ dict"])
def test_non_numeric_operand_is_a_type_error_naming_the_op(make):
    x = dp.Input(np.ones(2), name="x")
    with pytest.raises(TypeError, match=r"^(mul|add|sub|matmul): unsupported operand of type"):
        make(x)


def test_node_values_must_be_numeric():
    with pytest.raises(TypeError, match="node 'x': value must be a number or a numpy array, "
                                        "got str"):
        dp.Input("abc", name="x")
    with pytest.raises(TypeError, match="value must be numeric"):
        dp.Param(np.array(["a", "b"]))
    x = dp.Input(np.ones(2), name="x")
    with pytest.raises(TypeError, match="node 'x'"):
        x.value = "not numbers"


def test_power_refuses_a_non_numeric_exponent():
    x = dp.Input(np.ones(2), name="x")
    with pytest.raises(TypeError, match="pow: unsupported operand of type str"):
        x ** "2"
    with pytest.raises(TypeError, match="pow: unsupported operand of type list"):
        [1.0] ** x


def test_graph_of_something_that_is_not_a_node_is_a_type_error():
    with pytest.raises(TypeError, match="Graph expects dagprop nodes, got str"):
        dp.Graph("not a node")
    with pytest.raises(TypeError, match="Graph expects dagprop nodes, got ndarray"):
        dp.Graph(np.ones(3))
    with pytest.raises(TypeError, match="at least one output"):
        dp.Graph()


# --- backward ----------------------------------------------------------------------------------------

def test_backward_of_a_non_scalar_without_v_says_a_scalar_is_needed():
    y = dp.Input(np.ones((2, 3)), name="x") * 2.0
    g = dp.Graph(y)
    with pytest.raises(ValueError, match=r"backward: .*mul.* has shape \(2, 3\), but a scalar is "
                                         r"needed.*pass v.*dp\.sum"):
        g.backward(y)


def test_backward_with_v_of_the_wrong_shape_names_both_shapes():
    y = dp.tanh(dp.Input(np.ones((2, 3))), name="y")
    g = dp.Graph(y)
    with pytest.raises(ValueError, match=r"backward: v has shape \(3,\) but node 'y' \(op tanh\) "
                                         r"has shape \(2, 3\)"):
        g.backward(y, np.ones(3))


def test_backward_from_a_node_outside_the_graph_is_refused():
    y = dp.Input(1.0) * 2.0
    other = dp.Param(3.0, name="other")
    with pytest.raises(ValueError, match="node 'other' .* is not a node of this graph"):
        dp.Graph(y).backward(other)


# --- detect_anomaly --------------------------------------------------------------------------------

def test_detect_anomaly_names_the_node_that_takes_log_of_a_negative_number():
    x = dp.Input(np.array([1.0, -1.0, 2.0]), name="x")
    with dp.detect_anomaly(), pytest.raises(
            FloatingPointError, match=r"node 'logx' \(op log\): value is not finite at index "
                                      r"\(1,\); parents: x \(3,\)"):
        dp.log(x, name="logx")
    assert np.isnan(dp.log(x).value[1]), "outside the block, NaN propagates silently"


def test_detect_anomaly_stops_forward_at_the_first_bad_node_not_its_descendants():
    x = dp.Input(np.array([1.0, 0.5]), name="x")
    y = dp.log(x - 0.5, name="logx")  # log 0 = -inf at index 1 once forward runs
    L = dp.sum(dp.exp(y * 2.0, name="z"), name="L")
    g = dp.Graph(L)
    with dp.detect_anomaly(), pytest.raises(FloatingPointError) as info:
        g.forward()
    msg = str(info.value)
    assert msg.startswith("node 'logx' (op log): value is not finite at index (1,)"), msg
    assert "'z'" not in msg and "'L'" not in msg


def test_detect_anomaly_names_the_node_whose_gradient_is_not_finite():
    w = dp.Param(np.array([0.0, 4.0]), name="w")
    s = dp.sum(w ** 0.5, name="s")  # finite value, infinite slope of sqrt at 0
    g = dp.Graph(s)
    g.backward(s)
    assert np.isinf(w.grad[0])  # silently, without the block
    with dp.detect_anomaly(), pytest.raises(
            FloatingPointError, match=r"node 'w' \(op param\): gradient \(sent by node of op "
                                      r"'pow'\) is not finite at index \(0,\)$"):
        g.backward(s)


def test_detect_anomaly_is_off_again_after_the_block_even_after_an_error():
    x = dp.Input(np.array([-1.0]), name="x")
    with pytest.raises(FloatingPointError), dp.detect_anomaly():
        dp.log(x)
    assert np.isnan(dp.log(x).value[0])


# --- gradcheck -------------------------------------------------------------------------------------

class WrongTanh(Tanh):
    """tanh with a wrong local gradient, 1 - y instead of 1 - y^2."""

    __slots__ = ()

    def backward(self):
        self.parents[0].grad += self.grad * (1 - self.value)


def test_gradcheck_reports_the_worst_element_of_a_wrong_op():
    av = np.array([[0.5, -1.0, 2.0], [0.1, 0.3, -0.2]])
    weights = np.array([1.0, 2.0, 3.0])
    a = dp.Param(av, name="a")
    L = dp.sum(WrongTanh(a, name="bad") * weights)
    with pytest.raises(dp.GradcheckError) as info:
        dp.gradcheck(L)

    y = np.tanh(av)
    wrong = weights * (1 - y)
    right = weights * (1 - y**2)
    worst = np.unravel_index(np.argmax(np.abs(wrong - right)), av.shape)
    rep = info.value.report
    assert not rep.ok and rep.checked == 6
    assert rep.worst_node == "a" and rep.worst_index == tuple(int(i) for i in worst)
    assert rep.analytic == pytest.approx(wrong[worst], rel=1e-12)
    assert rep.numeric == pytest.approx(right[worst], rel=1e-6)
    msg = str(info.value)
    assert re.match(rf"gradcheck FAILED: 6 elements checked; worst mismatch at "
                    rf"a\[{worst[0]}, {worst[1]}\]: backprop {wrong[worst]:.6g}, central "
                    rf"difference {right[worst]:.4g}\d* \(abs err .*, rel err .*\)", msg), msg


def test_gradcheck_passes_a_correct_graph_and_leaves_its_state_as_it_was():
    rng = np.random.default_rng(0)
    x = dp.Input(rng.standard_normal((4, 3)), name="x")
    W = dp.Param(rng.standard_normal((3, 2)), name="W")
    L = dp.cross_entropy(dp.tanh(x @ W), np.array([0, 1, 1, 0]))
    g = dp.Graph(L)
    g.backward(L)
    grad, value, W0 = W.grad.copy(), float(L.value), W.value.copy()
    rep = dp.gradcheck(g)
    assert rep.ok and rep.checked == W.value.size + x.value.size
    assert set(rep.per_node) == {"W", "x"}
    np.testing.assert_array_equal(W.value, W0)
    np.testing.assert_array_equal(W.grad, grad)
    assert float(L.value) == value
    assert str(rep).startswith("gradcheck passed")


def test_gradcheck_leaves_integer_labels_alone():
    z = dp.Param(np.random.default_rng(1).standard_normal((4, 3)), name="z")
    y = dp.Input(np.array([0, 1, 2, 1]), name="y")
    x = dp.Input(np.ones((4, 3)), name="x")
    rep = dp.gradcheck(dp.cross_entropy(z * x, y))
    assert rep.ok and set(rep.per_node) == {"z", "x"}
    np.testing.assert_array_equal(y.value, [0, 1, 2, 1])


def test_gradcheck_of_a_vector_output_checks_the_vector_jacobian_product():
    x = dp.Param(np.array([0.3, -0.7, 1.1]), name="x")
    y = dp.sigmoid(x) * x
    rep = dp.gradcheck(y, v=np.array([1.0, -2.0, 0.5]))
    assert rep.ok
    bad = dp.sum(WrongTanh(x) * np.array([1.0, -2.0, 0.5]))
    assert not dp.gradcheck(bad, raise_exception=False).ok
