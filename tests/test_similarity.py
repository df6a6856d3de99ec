"""CKA and mutual k-NN alignment against textbook references, with invariants."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group

from clipbias.metrics import _arrays
from clipbias.metrics.similarity import (
    knn_indices,
    linear_cka,
    mutual_knn_alignment,
    pairwise_linear_cka,
    pairwise_mutual_knn,
)

# ---------------------------------------------------------------- slow references

#: Devices the torch paths are checked on: the CPU always, CUDA where present.
DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


def ref_hsic(kx, ky):
    """Biased HSIC with the centring matrix: tr(K H L H) (the 1/(n-1)^2 factor cancels in CKA)."""
    n = kx.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    return np.trace(kx @ h @ ky @ h)


def ref_unbiased_hsic(kx, ky):
    """Song et al.'s unbiased HSIC on raw kernels with zeroed diagonals."""
    n = kx.shape[0]
    kt, lt = kx - np.diag(np.diag(kx)), ky - np.diag(np.diag(ky))
    one = np.ones(n)
    value = (np.trace(kt @ lt) + (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
             - 2 / (n - 2) * (one @ kt @ lt @ one))
    return value / (n * (n - 3))


def ref_cka(x, y, debiased=False):
    hsic = ref_unbiased_hsic if debiased else ref_hsic
    kx, ky = x @ x.T, y @ y.T
    return hsic(kx, ky) / np.sqrt(hsic(kx, kx) * hsic(ky, ky))


def ref_knn(x, k):
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    out = []
    for r in range(x.shape[0]):
        cos = [float(xn[r] @ xn[j]) for j in range(x.shape[0])]
        others = [j for j in range(x.shape[0]) if j != r]
        out.append(sorted(others, key=lambda j, c=cos: (-c[j], j))[:k])
    return out


def models(seed, n=30, widths=(5, 8, 12)):
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((n, 4))
    return [shared @ rng.standard_normal((4, w)) + 0.7 * rng.standard_normal((n, w)) + 3.0
            for w in widths]


# ---------------------------------------------------------------- CKA


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("method", ["auto", "gram", "feature"])
def test_pairwise_cka_matches_reference(debiased, method):
    xs = models(0)
    got = pairwise_linear_cka(xs, debiased=debiased, method=method)
    expected = np.array([[ref_cka(a, b, debiased) for b in xs] for a in xs])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(np.diag(got), 1.0, atol=1e-12)


def test_gram_blocks_give_the_same_answer(monkeypatch):
    xs = models(1, n=25)
    whole = pairwise_linear_cka(xs, method="gram", debiased=True)
    monkeypatch.setattr(_arrays, "CHUNK_ELEMENTS", 100)  # one Gram row per block
    np.testing.assert_allclose(pairwise_linear_cka(xs, method="gram", debiased=True), whole,
                               atol=1e-12)


def test_stack_torch_and_float32_inputs():
    xs = models(2, widths=(6, 6, 6))
    expected = pairwise_linear_cka(xs)
    np.testing.assert_allclose(pairwise_linear_cka(np.stack(xs)), expected, atol=1e-12)
    np.testing.assert_allclose(pairwise_linear_cka([torch.as_tensor(x) for x in xs]), expected,
                               atol=1e-12)
    np.testing.assert_allclose(pairwise_linear_cka(xs, dtype=torch.float32), expected, atol=1e-5)
    assert linear_cka(xs[0], xs[1]) == pytest.approx(expected[0, 1], abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), scale=st.floats(0.01, 100.0),
       debiased=st.booleans())
def test_cka_invariant_to_rotation_and_isotropic_scaling(seed, scale, debiased):
    x, y = models(seed, n=20, widths=(6, 9))
    q = ortho_group.rvs(6, random_state=np.random.default_rng(seed))
    base = linear_cka(x, y, debiased=debiased)
    assert linear_cka(scale * x @ q, y, debiased=debiased) == pytest.approx(base, abs=1e-9)
    assert linear_cka(x, x @ q * scale, debiased=debiased) == pytest.approx(1.0, abs=1e-9)
    assert linear_cka(y, x, debiased=debiased) == pytest.approx(base, abs=1e-12)
    if not debiased:
        assert 0.0 <= base <= 1.0


def test_cka_separates_related_from_unrelated_representations():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((400, 10))
    related = x @ rng.standard_normal((10, 10)) + 0.1 * rng.standard_normal((400, 10))
    unrelated = rng.standard_normal((400, 10))
    assert linear_cka(x, related) > 0.5  # a non-orthogonal map lowers CKA below 1
    assert abs(linear_cka(x, unrelated, debiased=True)) < 0.05  # the biased form is inflated
    assert linear_cka(x, unrelated) > linear_cka(x, unrelated, debiased=True)


@pytest.mark.parametrize("device", DEVICES)
def test_torch_tensors_on_each_device_agree_with_numpy(device):
    xs = models(4, n=60)
    on_device = [torch.as_tensor(x, device=device) for x in xs]
    np.testing.assert_allclose(pairwise_linear_cka(on_device, debiased=True),
                               pairwise_linear_cka(xs, debiased=True), atol=1e-10)
    np.testing.assert_allclose(pairwise_mutual_knn(on_device, k=5), pairwise_mutual_knn(xs, k=5))


# ---------------------------------------------------------------- mutual k-NN


def test_knn_and_alignment_match_reference():
    xs = models(5, n=25)
    for k in (1, 4, 24):
        lists = [ref_knn(x, k) for x in xs]
        for x, ref in zip(xs, lists, strict=True):
            np.testing.assert_array_equal(knn_indices(x, k=k), ref)
        expected = np.array([[np.mean([len(set(a[r]) & set(b[r])) / k for r in range(25)])
                              for b in lists] for a in lists])
        np.testing.assert_allclose(pairwise_mutual_knn(xs, k=k), expected, atol=1e-12)


def test_knn_ties_break_by_lower_index():
    x = np.array([[1.0, 0.0], [1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])  # rows 0-2 share a direction
    np.testing.assert_array_equal(knn_indices(x, k=2), [[1, 2], [0, 2], [0, 1], [0, 1]])


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 19), scale=st.floats(0.1, 10.0))
def test_mutual_knn_symmetric_and_one_for_identical(seed, k, scale):
    x, y = models(seed, n=20, widths=(6, 7))
    q = ortho_group.rvs(6, random_state=np.random.default_rng(seed))
    value = mutual_knn_alignment(x, y, k=k)
    assert 0.0 <= value <= 1.0
    assert mutual_knn_alignment(y, x, k=k) == pytest.approx(value, abs=1e-12)
    assert mutual_knn_alignment(x, scale * x @ q, k=k) == pytest.approx(1.0)
    assert mutual_knn_alignment(x, y, k=19) == pytest.approx(1.0)  # everyone but self


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: pairwise_linear_cka([x, x[:-1]]), "same inputs"),
        (lambda x: linear_cka(x, np.where(x > 1, np.nan, x)), "NaN"),
        (lambda x: linear_cka(x, np.ones_like(x)), "constant"),
        (lambda x: linear_cka(x[:3], x[:3], debiased=True), "at least 4"),
        (lambda x: pairwise_linear_cka(x), "sequence of 2-D"),
        (lambda x: pairwise_linear_cka([x, x], method="svd"), "unknown method"),
        (lambda x: pairwise_linear_cka([x, x[:, 0]]), "2-D"),
        (lambda x: mutual_knn_alignment(x, x, k=10), r"\[1, 9\]"),
        (lambda x: mutual_knn_alignment(x, np.zeros_like(x), k=2), "zero-norm"),
        (lambda x: pairwise_mutual_knn([], k=2), "empty"),
    ],
)
def test_bad_input_raises_clear_value_error(call, message):
    x = np.random.default_rng(6).standard_normal((10, 4))
    with pytest.raises(ValueError, match=message):
        call(x)
