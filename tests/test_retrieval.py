"""Retrieval-bias kernels against slow plain references (loops over queries and ranks)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from clipbias.metrics import _arrays
from clipbias.metrics.retrieval import (
    bias_at_k,
    max_skew_at_k,
    min_skew_at_k,
    ndkl_at_k,
    recall_at_k,
    recall_kl_at_k,
    skew_at_k,
    top_k_indices,
)

# ---------------------------------------------------------------- slow references

#: Devices the torch paths are checked on: the CPU always, CUDA where present.
DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


def ref_ranking(row, k):
    return sorted(range(len(row)), key=lambda j: (-row[j], j))[:k]


def ref_targets(groups, target):
    labels = sorted(set(groups))
    if target == "uniform":
        return labels, {g: 1.0 / len(labels) for g in labels}
    return labels, {g: groups.count(g) / len(groups) for g in labels}


def ref_skews(sim, groups, k, target):
    groups = list(groups)
    labels, q = ref_targets(groups, target)
    out = []
    for row in sim:
        top = ref_ranking(list(row), k)
        row_skews = []
        for g in labels:
            count = sum(1 for j in top if groups[j] == g)
            p = count / k if count > 0 else 1.0 / k
            row_skews.append(math.log(p / q[g]))
        out.append(row_skews)
    return np.array(out)


def ref_ndkl(sim, groups, k, target):
    groups = list(groups)
    labels, q = ref_targets(groups, target)
    out = []
    for row in sim:
        top = ref_ranking(list(row), k)
        total, z = 0.0, 0.0
        for i in range(1, k + 1):
            kl = 0.0
            for g in labels:
                p = sum(1 for j in top[:i] if groups[j] == g) / i
                if p > 0:
                    kl += p * math.log(p / q[g])
            total += kl / math.log2(i + 1)
            z += 1 / math.log2(i + 1)
        out.append(total / z)
    return np.array(out)


def random_case(seed, n_queries=7, n_items=40, n_groups=3, tie_levels=None):
    rng = np.random.default_rng(seed)
    sim = rng.standard_normal((n_queries, n_items))
    if tie_levels is not None:  # deliberate ties: few distinct values
        sim = rng.integers(0, tie_levels, size=(n_queries, n_items)).astype(float)
    names = np.array(["asian", "black", "white", "latino", "indian", "mideast", "other"])[:n_groups]
    groups = names[rng.integers(0, n_groups, size=n_items)]
    groups[:n_groups] = names  # every group present
    return sim, groups


# ---------------------------------------------------------------- ranking


@pytest.mark.parametrize("tie_levels", [None, 2, 4])
@pytest.mark.parametrize("k", [1, 5, 39, 40])
def test_top_k_matches_stable_reference_with_ties(tie_levels, k):
    sim, _ = random_case(1, tie_levels=tie_levels)
    got = top_k_indices(sim, k=k)
    expected = np.array([ref_ranking(list(row), k) for row in sim])
    np.testing.assert_array_equal(got, expected)


def test_all_equal_scores_rank_by_item_index():
    np.testing.assert_array_equal(top_k_indices(np.zeros((2, 6)), k=4), [[0, 1, 2, 3]] * 2)


def test_chunking_does_not_change_results(monkeypatch):
    sim, groups = random_case(2, n_queries=13, tie_levels=3)
    whole = ndkl_at_k(sim, groups, k=10), max_skew_at_k(sim, groups, k=10)
    monkeypatch.setattr(_arrays, "CHUNK_ELEMENTS", 50)  # one query per chunk
    np.testing.assert_array_equal(ndkl_at_k(sim, groups, k=10), whole[0])
    np.testing.assert_array_equal(max_skew_at_k(sim, groups, k=10), whole[1])


# ---------------------------------------------------------------- skew and NDKL vs reference


@pytest.mark.parametrize("target", ["uniform", "dataset"])
@pytest.mark.parametrize("tie_levels", [None, 3])
@pytest.mark.parametrize("k", [1, 7, 40])
def test_skew_family_matches_reference(target, tie_levels, k):
    sim, groups = random_case(3, tie_levels=tie_levels)
    expected = ref_skews(sim, groups, k, target)
    np.testing.assert_allclose(skew_at_k(sim, groups, k=k, target=target), expected,
                               rtol=0, atol=1e-9)
    np.testing.assert_allclose(max_skew_at_k(sim, groups, k=k, target=target), expected.max(1),
                               rtol=0, atol=1e-9)
    np.testing.assert_allclose(min_skew_at_k(sim, groups, k=k, target=target), expected.min(1),
                               rtol=0, atol=1e-9)


@pytest.mark.parametrize("target", ["uniform", "dataset"])
@pytest.mark.parametrize("tie_levels", [None, 3])
@pytest.mark.parametrize("k", [1, 13, 40])
def test_ndkl_matches_reference(target, tie_levels, k):
    sim, groups = random_case(4, n_groups=4, tie_levels=tie_levels)
    np.testing.assert_allclose(ndkl_at_k(sim, groups, k=k, target=target),
                               ref_ndkl(sim, groups, k, target), rtol=0, atol=1e-9)


def test_published_bounds_and_balanced_lists():
    # binary groups, top k all one group: MaxSkew = ln 2; a perfect 50/50 top k: 0
    sim = np.array([[4.0, 3.0, 2.0, 1.0], [4.0, 2.0, 3.0, 1.0]])
    groups = ["f", "f", "m", "m"]
    np.testing.assert_allclose(max_skew_at_k(sim, groups, k=2), [math.log(2), 0.0], atol=1e-12)
    # the absent group gets p = 1/k = 1/2 = q: its skew is ln 1 = 0, not minus infinity
    np.testing.assert_allclose(min_skew_at_k(sim, groups, k=2), [0.0, 0.0], atol=1e-12)
    # k = 1: the absent group's p = 1/k = 1 equals the present group's, so every skew is ln 2
    np.testing.assert_allclose(min_skew_at_k(sim, groups, k=1), [math.log(2)] * 2, atol=1e-12)
    for n_groups in (3, 7):
        sim, groups = random_case(5, n_items=60, n_groups=n_groups)
        k = 5
        assert np.all(max_skew_at_k(sim, groups, k=k) <= math.log(n_groups) + 1e-12)


def test_absent_group_uses_one_over_k():
    sim = np.array([[3.0, 2.0, 1.0, 0.0]])
    groups = np.array([0, 0, 1, 2])
    # top 2 = both group 0; groups 1, 2 absent -> p = 1/2, uniform q = 1/3
    np.testing.assert_allclose(skew_at_k(sim, groups, k=2), [[math.log(3), math.log(1.5),
                                                            math.log(1.5)]], atol=1e-12)


def test_ndkl_zero_for_target_matching_prefixes_only_at_full_length():
    # alternating groups: prefixes of even length match uniform exactly
    sim = np.array([[6.0, 5, 4, 3, 2, 1]])
    groups = ["a", "b", "a", "b", "a", "b"]
    value = ndkl_at_k(sim, groups, k=6)[0]
    expected = ref_ndkl(sim, groups, 6, "uniform")[0]
    assert value == pytest.approx(expected, abs=1e-12)
    assert value > 0  # odd prefixes are unbalanced
    assert ndkl_at_k(np.array([[1.0, 1.0]]), ["a", "b"], k=1)[0] == pytest.approx(math.log(2))


# ---------------------------------------------------------------- invariants


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 30), n_groups=st.integers(2, 4),
       target=st.sampled_from(["uniform", "dataset"]))
def test_joint_permutation_of_items_and_labels_changes_nothing(seed, k, n_groups, target):
    sim, groups = random_case(seed, n_items=30, n_groups=n_groups)  # continuous: no ties
    perm = np.random.default_rng(seed + 1).permutation(30)
    for fn in (max_skew_at_k, min_skew_at_k, ndkl_at_k):
        np.testing.assert_allclose(fn(sim[:, perm], groups[perm], k=k, target=target),
                                   fn(sim, groups, k=k, target=target), rtol=0, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 25))
def test_skew_bounds_and_ndkl_nonnegative(seed, k):
    sim, groups = random_case(seed, n_items=25, tie_levels=4)
    mx, mn = max_skew_at_k(sim, groups, k=k), min_skew_at_k(sim, groups, k=k)
    assert np.all(mx >= -1e-12) and np.all(mx <= math.log(3) + 1e-12)
    assert np.all(mn <= mx)
    if k >= 3:  # with at least one slot per group some group is at or below its share
        assert np.all(mn <= 1e-12)
    assert np.all(ndkl_at_k(sim, groups, k=k) >= -1e-12)


def test_labels_may_be_ints_or_strings_and_input_torch():
    sim, groups = random_case(6, tie_levels=3)
    codes = np.unique(groups, return_inverse=True)[1]
    expected = ndkl_at_k(sim, groups, k=9)
    np.testing.assert_allclose(ndkl_at_k(sim, codes, k=9), expected, atol=1e-12)
    np.testing.assert_allclose(ndkl_at_k(torch.as_tensor(sim), torch.as_tensor(codes), k=9),
                               expected, atol=1e-12)
    np.testing.assert_allclose(max_skew_at_k(torch.as_tensor(sim, dtype=torch.float32), groups, k=9),
                               max_skew_at_k(sim.astype(np.float32), groups, k=9), atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_torch_tensors_on_each_device_agree_with_numpy(device):
    sim, groups = random_case(7, n_queries=20, n_items=500, tie_levels=5)
    codes = np.unique(groups, return_inverse=True)[1]
    on_device = torch.as_tensor(sim, device=device)
    np.testing.assert_array_equal(top_k_indices(on_device, k=50), top_k_indices(sim, k=50))
    np.testing.assert_allclose(ndkl_at_k(on_device, torch.as_tensor(codes, device=device), k=50),
                               ndkl_at_k(sim, codes, k=50), atol=1e-12)
    np.testing.assert_allclose(max_skew_at_k(on_device, groups, k=50, target="dataset"),
                               max_skew_at_k(sim, groups, k=50, target="dataset"), atol=1e-12)


# ---------------------------------------------------------------- recall, KL of recall, Bias@k


def test_recall_at_k_matches_reference_for_indices_and_masks():
    rng = np.random.default_rng(8)
    sim = rng.integers(0, 5, size=(30, 20)).astype(float)
    truth = rng.integers(0, 20, size=30)
    mask = rng.random((30, 20)) < 0.1
    mask[np.arange(30), truth] = True
    for k in (1, 3, 20):
        ref_idx = [float(truth[i] in ref_ranking(list(sim[i]), k)) for i in range(30)]
        ref_mask = [float(any(mask[i, j] for j in ref_ranking(list(sim[i]), k)))
                    for i in range(30)]
        np.testing.assert_array_equal(recall_at_k(sim, truth, k=k), ref_idx)
        np.testing.assert_array_equal(recall_at_k(sim, mask, k=k), ref_mask)


def test_recall_kl_matches_reference():
    rng = np.random.default_rng(9)
    sim = rng.standard_normal((60, 60)) + 2.0 * np.eye(60)
    qgroups = rng.choice(["f", "m", "x"], size=60)
    truth = np.arange(60)
    res = recall_kl_at_k(sim, truth, qgroups, k=5)
    hits = [truth[i] in ref_ranking(list(sim[i]), 5) for i in range(60)]
    labels = sorted(set(qgroups))
    rec = [np.mean([h for h, g in zip(hits, qgroups, strict=True) if g == lab]) for lab in labels]
    p = np.array(rec) / sum(rec)
    kl = sum(pi * math.log(pi * 3) for pi in p if pi > 0)
    assert list(res.groups) == labels
    np.testing.assert_allclose(res.recall, rec, atol=1e-12)
    assert res.kl == pytest.approx(kl, abs=1e-12)


def test_recall_kl_zero_for_equal_recall_and_nan_for_no_hits():
    sim = np.eye(4)
    assert recall_kl_at_k(sim, np.arange(4), ["a", "a", "b", "b"], k=1).kl == pytest.approx(0.0)
    res = recall_kl_at_k(-np.eye(4), np.arange(4), ["a", "a", "b", "b"], k=1)
    assert math.isnan(res.kl)


def test_bias_at_k_matches_reference():
    rng = np.random.default_rng(10)
    sim = rng.integers(0, 6, size=(25, 30)).astype(float)
    groups = rng.choice(["male", "female", "none"], size=30)
    for k in (1, 4, 10):
        expected = []
        for row in sim:
            top = ref_ranking(list(row), k)
            m = sum(groups[j] == "male" for j in top)
            f = sum(groups[j] == "female" for j in top)
            expected.append((m - f) / (m + f) if m + f else 0.0)
        np.testing.assert_allclose(bias_at_k(sim, groups, k=k, positive="male", negative="female"),
                                   expected, atol=1e-12)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s, g: max_skew_at_k(s, g, k=11), r"k must be an integer in \[1, 10\] \(the number"),
        (lambda s, g: ndkl_at_k(s, g, k=0), r"k must be an integer in \[1, 10\]"),
        (lambda s, g: max_skew_at_k(s, ["a"] * 10, k=3), "at least two distinct groups"),
        (lambda s, g: ndkl_at_k(s, g[:-1], k=3), "has 9 labels"),
        (lambda s, g: max_skew_at_k(s, g, k=3, target="parity"), "unknown target"),
        (lambda s, g: ndkl_at_k(np.where(s > 0, np.nan, s), g, k=3), "NaN"),
        (lambda s, g: max_skew_at_k(s[0], g, k=3), "2-D"),
        (lambda s, g: max_skew_at_k(s, np.array([None, *g[1:]], dtype=object), k=3),
         "missing labels"),
        (lambda s, g: recall_at_k(s, np.arange(2), k=3), "entries"),
        (lambda s, g: bias_at_k(s, g, k=3, positive="a", negative="z"), "does not occur"),
    ],
)
def test_bad_input_raises_clear_value_error(call, message):
    rng = np.random.default_rng(11)
    sim = rng.standard_normal((3, 10))
    groups = np.array(list("ababababab"), dtype=object)
    with pytest.raises(ValueError, match=message):
        call(sim, groups)
