"""dp.data: the toy data sets have the promised shapes, dtypes, balance and geometry, and the
same seed always gives the same data."""

import numpy as np
import pytest

import dagprop as dp

GENERATORS = {
    "moons": (dp.data.make_moons, 2),
    "circles": (dp.data.make_circles, 2),
    "spirals": (dp.data.make_spirals, 3),
}


@pytest.mark.parametrize("name", list(GENERATORS))
@pytest.mark.parametrize("n", [1, 2, 7, 200, 301])
def test_shapes_dtypes_and_class_balance(name, n):
    make, classes = GENERATORS[name]
    X, y = make(n, seed=0)
    assert X.shape == (n, 2) and X.dtype == np.float64
    assert y.shape == (n,) and y.dtype == np.int64
    counts = np.bincount(y, minlength=classes)
    assert len(counts) == classes and counts.sum() == n
    assert counts.max() - counts.min() <= 1  # balanced up to the remainder of n / classes
    assert np.all(np.isfinite(X))


@pytest.mark.parametrize("name", list(GENERATORS))
def test_same_seed_same_data_other_seed_other_data(name):
    make, _ = GENERATORS[name]
    X1, y1 = make(100, seed=3)
    X2, y2 = make(100, seed=3)
    X3, _ = make(100, seed=4)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)


@pytest.mark.parametrize("name", list(GENERATORS))
def test_classes_are_shuffled_not_in_blocks(name):
    make, _ = GENERATORS[name]
    _, y = make(200, seed=0)
    assert np.count_nonzero(np.diff(y)) > 50  # sorted labels would change class only once or twice


def test_spirals_take_a_number_of_classes():
    X, y = dp.data.make_spirals(200, classes=4, seed=1)
    assert X.shape == (200, 2) and set(np.unique(y)) == {0, 1, 2, 3}
    assert np.bincount(y).tolist() == [50, 50, 50, 50]


def test_noise_free_circles_lie_on_two_radii():
    X, y = dp.data.make_circles(60, noise=0.0, factor=0.4, seed=0)
    r = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(r[y == 0], 1.0)
    np.testing.assert_allclose(r[y == 1], 0.4)


def test_noise_free_moons_are_two_unit_half_circles():
    X, y = dp.data.make_moons(50, noise=0.0, seed=0)
    upper, lower = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0)
    assert np.all(upper[:, 1] >= -1e-12) and np.all(lower[:, 1] <= 0.5 + 1e-12)


def test_more_noise_spreads_the_points_further():
    spread = []
    for noise in (0.0, 0.05, 0.2):
        X, y = dp.data.make_circles(400, noise=noise, seed=0)
        spread.append(np.std(np.hypot(X[y == 0, 0], X[y == 0, 1])))
    assert spread[0] < 1e-12 < spread[1] < spread[2]


def test_data_feed_straight_into_a_graph():
    X, y = dp.data.make_spirals(30, seed=0)
    L = dp.cross_entropy(dp.Input(X) @ dp.Param(np.zeros((2, 3))), y)
    assert float(L.value) == pytest.approx(np.log(3))
