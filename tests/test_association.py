"""Zero-shot accuracy, representation and association bias, and ABLE."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from clipbias.metrics.association import (
    able,
    association_bias,
    preference,
    representation_bias,
    zero_shot_accuracy,
    zero_shot_correct,
)


def test_zero_shot_matches_reference_with_ties():
    rng = np.random.default_rng(0)
    sim = rng.integers(0, 3, size=(200, 6)).astype(float)
    labels = rng.integers(0, 6, size=200)
    for k in (1, 2, 6):
        expected = [labels[i] in sorted(range(6), key=lambda j, r=sim[i]: (-r[j], j))[:k]
                    for i in range(200)]
        np.testing.assert_array_equal(zero_shot_correct(sim, labels, k=k), expected)
        assert zero_shot_accuracy(sim, labels, k=k) == pytest.approx(np.mean(expected))
    assert zero_shot_accuracy(sim, labels, k=6) == 1.0


def test_zero_shot_on_planted_classes_and_torch_input():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, size=100)
    sim = rng.normal(scale=0.1, size=(100, 4))
    sim[np.arange(100), labels] += 1.0
    assert zero_shot_accuracy(torch.as_tensor(sim, dtype=torch.float32), labels) == 1.0
    sim[:10, :] = -sim[:10, :]  # the first ten now rank their class last
    assert zero_shot_accuracy(sim, labels) == pytest.approx(0.9)


def test_preference_and_representation_bias():
    sim = np.array([[0.3, 0.1], [0.1, 0.3], [0.2, 0.2], [0.5, 0.4]])
    np.testing.assert_array_equal(preference(sim, a=0, b=1), [1.0, 0.0, 0.5, 1.0])
    assert representation_bias(sim) == pytest.approx(0.625)
    assert representation_bias(sim, a=1, b=0) == pytest.approx(0.375)


def test_association_bias_matches_group_means():
    rng = np.random.default_rng(2)
    groups = rng.choice(["female", "male"], size=400)
    sim = rng.normal(size=(400, 3))
    sim[groups == "female", 2] += 0.8  # column 2 ("nurse") planted towards women
    res = association_bias(sim, groups, a=2, b=0)
    pf = np.mean(sim[groups == "female", 2] > sim[groups == "female", 0])
    pm = np.mean(sim[groups == "male", 2] > sim[groups == "male", 0])
    assert res.groups == ("female", "male")
    np.testing.assert_allclose(res.preference, [pf, pm])
    assert res.gap == pytest.approx(pf - pm) and res.gap > 0.2
    flipped = association_bias(sim, groups, a=2, b=0, group_order=("male", "female"))
    assert flipped.gap == pytest.approx(-res.gap)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_swapping_labels_mirrors_biases(seed):
    rng = np.random.default_rng(seed)
    sim = rng.integers(0, 3, size=(50, 2)).astype(float)
    groups = rng.choice(["a", "b"], size=50)
    groups[:2] = ["a", "b"]
    assert representation_bias(sim, a=0, b=1) + representation_bias(sim, a=1, b=0) == (
        pytest.approx(1.0))
    ab = association_bias(sim, groups, a=0, b=1).gap
    assert association_bias(sim, groups, a=1, b=0).gap == pytest.approx(-ab)


# Published (MaxSkew@1000, ImageNet top-1 %, ABLE %) of Zhang et al.'s table: original CLIP,
# CLIP-clip, joint method, age original, age joint, two ablations; the biased-prompts row (73.78)
# is off by 0.02 from its rounded inputs.
PUBLISHED_ABLE = [
    (0.218, 68.31, 73.87), (0.103, 68.00, 77.55), (0.080, 68.05, 78.35), (0.657, 68.31, 58.94),
    (0.608, 68.34, 60.61), (0.167, 68.28, 75.58), (0.095, 67.84, 77.71), (0.161, 65.07, 73.78),
]


@pytest.mark.parametrize(("skew", "acc", "published"), PUBLISHED_ABLE)
def test_able_reproduces_published_values(skew, acc, published):
    assert 100 * able(skew, acc / 100) == pytest.approx(published, abs=0.025)


def test_able_is_harmonic_mean_and_vectorised():
    assert able(0.0, 1.0) == pytest.approx(1.0)
    values = able(np.array([0.0, np.log(2)]), 0.5)
    np.testing.assert_allclose(values, [2 / 3, 0.5])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: able(0.2, 68.3), "fraction"),
        (lambda: able(np.nan, 0.5), "finite"),
        (lambda: zero_shot_accuracy(np.zeros((3, 2)), [0, 1, 2]), r"lie in \[0, 2\)"),
        (lambda: zero_shot_accuracy(np.zeros((3, 2)), [0, 1]), "shape"),
        (lambda: zero_shot_accuracy(np.zeros((3, 2)), [0, 1, 1], k=3), "number of classes"),
        (lambda: zero_shot_accuracy(np.zeros((3, 2)), [0.0, 1.0, 1.0]), "integer"),
        (lambda: representation_bias(np.zeros((3, 2)), a=0, b=0), "different"),
        (lambda: representation_bias(np.zeros((3, 2)), a=0, b=2), "column index"),
        (lambda: association_bias(np.zeros((3, 2)), ["a", "b", "c"]), "group_order"),
        (lambda: association_bias(np.zeros((3, 2)), ["a", "b", "c"], group_order=("a", "z")),
         "does not occur"),
        (lambda: representation_bias(np.full((2, 2), np.nan)), "NaN"),
    ],
)
def test_bad_input_raises_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
