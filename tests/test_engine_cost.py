"""dp.cost.count: the work of forward, backward and SGD counted from shapes, checked by hand on
small graphs, and the course's cost story (backward about 2x forward, a step about 3 forward
passes) on an MLP whose work is dominated by matrix products."""

import numpy as np
import pytest

import dagprop as dp


def test_fanout_graph_counts_one_op_per_compute_node_forward_and_one_per_edge_backward():
    # y = w*x, u = tanh(y), v = y*b, L = u + v: 4 compute nodes, 7 edges, all scalars.
    g, _ = dp.examples.fanout()
    c = dp.cost.count(g)
    assert c == dict(nodes=7, edges=7, params=2, values=7, forward_macs=4, backward_macs=7,
                     sgd_macs=2)


def test_count_accepts_an_output_node():
    g, n = dp.examples.fanout()
    assert dp.cost.count(n["L"]) == dp.cost.count(g)


def test_count_rejects_other_objects():
    with pytest.raises(TypeError, match="dp.Graph or a node"):
        dp.cost.count([1, 2])


@pytest.mark.parametrize("sa, sb, macs", [
    ((3, 4), (4, 5), 3 * 4 * 5),
    ((4,), (4, 5), 4 * 5),           # a vector times a matrix: one row
    ((3, 4), (4,), 3 * 4),           # a matrix times a vector: one column
    ((2, 3, 4), (4, 5), 2 * 3 * 4 * 5),  # a stack of two products
])
def test_matmul_forward_is_nkm_and_backward_twice_that(sa, sb, macs):
    a = dp.Input(np.ones(sa), name="a")
    b = dp.Param(np.ones(sb), name="b")
    assert dp.cost.node_macs(a @ b) == (macs, 2 * macs)


def test_a_dense_layer_by_hand():
    # X (8, 3) @ W (3, 2) + b (2,), then the sum: forward 8*3*2 + 8*2 + 8*2 multiply-adds;
    # backward 2*48 for the product, 16 per edge of the add (b's gradient sums 16 numbers),
    # 16 to spread the sum's gradient back.
    X = dp.Input(np.ones((8, 3)), name="X")
    W = dp.Param(np.ones((3, 2)), name="W")
    b = dp.Param(np.zeros(2), name="b")
    L = dp.sum(X @ W + b)
    c = dp.cost.count(L)
    assert c["forward_macs"] == 48 + 16 + 16
    assert c["backward_macs"] == 96 + 2 * 16 + 16
    assert c["params"] == c["sgd_macs"] == 3 * 2 + 2
    assert c["nodes"] == 6 and c["edges"] == 5
    assert c["values"] == 24 + 6 + 2 + 16 + 16 + 1


def test_leaves_do_no_work():
    assert dp.cost.node_macs(dp.Param(np.ones(5))) == (0, 0)


def test_counting_changes_no_value_or_gradient():
    g, n = dp.examples.fanout()
    before = {k: (v.value, v.grad) for k, v in n.items()}
    dp.cost.count(g)
    assert {k: (v.value, v.grad) for k, v in n.items()} == before


def test_matmul_dominated_mlp_backward_is_about_twice_forward_and_a_step_three_forwards():
    rng = np.random.default_rng(0)
    X = dp.Input(rng.normal(size=(64, 100)), name="X")
    y = dp.Input(rng.integers(0, 10, size=64), name="y")
    net = dp.nn.MLP([100, 256, 256, 10], activation="relu", seed=0)
    c = dp.cost.count(dp.cross_entropy(net(X), y))
    ratio = c["backward_macs"] / c["forward_macs"]
    assert 1.95 < ratio <= 2.0
    step = (c["forward_macs"] + c["backward_macs"] + c["sgd_macs"]) / c["forward_macs"]
    assert 2.9 < step < 3.1


def test_counts_grow_linearly_with_depth():
    # Each extra tanh layer of width 32 adds the same work, so the counts are affine in depth.
    def counts(depth):
        X = dp.Input(np.ones((16, 32)), name="X")
        net = dp.nn.MLP([32] * (depth + 1) + [1], activation="tanh", seed=0)
        return dp.cost.count(dp.sum(net(X)))

    c1, c2, c3 = counts(1), counts(2), counts(3)
    for key in ("nodes", "edges", "forward_macs", "backward_macs", "values"):
        assert c3[key] - c2[key] == c2[key] - c1[key] > 0, key


def test_no_backward_work_is_counted_towards_integer_labels():
    # cross_entropy sends no gradient to its labels, so backward costs one multiply-add per logit
    # (along the logits' edge) and nothing along the labels' edge.
    logits = dp.Param(np.zeros((4, 3)), name="z")
    labels = dp.Input(np.array([0, 2, 1, 1]), name="y")
    loss = dp.cross_entropy(logits, labels)
    forward, backward = dp.cost.node_macs(loss)
    assert backward == logits.value.size
