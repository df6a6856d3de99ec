"""EAT kernels against plain references (loops, itertools enumeration), invariants, bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from clipbias.metrics.eat import (
    association_scores,
    effect_size,
    permutation_test,
    sc_effect_size,
    sc_permutation_test,
)

# ---------------------------------------------------------------- plain references


def ref_cos(u, v):
    dot = sum(a * b for a, b in zip(u, v, strict=True))
    return dot / (math.sqrt(sum(a * a for a in u)) * math.sqrt(sum(b * b for b in v)))


def ref_s(w, A, B):
    return (sum(ref_cos(w, a) for a in A) / len(A)) - (sum(ref_cos(w, b) for b in B) / len(B))


def ref_d_from(values, n_x, ddof=1):
    mean_x = sum(values[:n_x]) / n_x
    mean_y = sum(values[n_x:]) / (len(values) - n_x)
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - ddof))
    return (mean_x - mean_y) / sd


def ref_d(X, Y, A, B, ddof=1):
    return ref_d_from([ref_s(w, A, B) for w in [*X, *Y]], len(X), ddof)


def ref_exact_p(values, n_x, alternative, tol=1e-10):
    """Enumerate every n_x-subset; extreme within a rounding tolerance (genuine ties count)."""
    n = len(values)
    observed = sum(values[:n_x])
    mu = n_x * sum(values) / n
    hits = total = 0
    for combo in itertools.combinations(range(n), n_x):
        stat = sum(values[i] for i in combo)
        if alternative == "greater":
            hits += stat >= observed - tol
        elif alternative == "less":
            hits += stat <= observed + tol
        else:
            hits += abs(stat - mu) >= abs(observed - mu) - tol
        total += 1
    return hits / total, total


def ref_ties(values, n_x, tol=1e-10):
    observed = sum(values[:n_x])
    combos = list(itertools.combinations(range(len(values)), n_x))
    return sum(abs(sum(values[i] for i in c) - observed) <= tol for c in combos) / len(combos)


def sets(rng, sizes, dim=5, shift=0.0):
    out = [rng.normal(size=(n, dim)) for n in sizes]
    out[0] = out[0] + shift * out[2].mean(0)
    return out


# ---------------------------------------------------------------- against references


@pytest.mark.parametrize("seed", range(4))
def test_scores_and_effect_size_match_reference(seed):
    rng = np.random.default_rng(seed)
    X, Y, A, B = sets(rng, (7, 5, 6, 9), dim=6, shift=0.5)
    W = np.vstack([X, Y])
    np.testing.assert_allclose(association_scores(W, A, B), [ref_s(w, A, B) for w in W],
                               rtol=0, atol=1e-12)
    assert abs(effect_size(X, Y, A, B) - ref_d(X, Y, A, B)) < 1e-9
    assert abs(effect_size(X, Y, A, B, ddof=0) - ref_d(X, Y, A, B, ddof=0)) < 1e-9


@pytest.mark.parametrize(("sizes", "alternative"), [
    ((6, 6, 5, 7), "greater"), ((6, 6, 5, 7), "less"), ((6, 6, 5, 7), "two-sided"),
    ((7, 4, 8, 6), "greater"), ((7, 4, 8, 6), "two-sided"), ((3, 9, 4, 4), "less"),
])
def test_exact_p_matches_enumeration(sizes, alternative):
    rng = np.random.default_rng(sum(sizes))
    X, Y, A, B = sets(rng, sizes, shift=0.4)
    result = permutation_test(X, Y, A, B, alternative=alternative)
    values = [ref_s(w, A, B) for w in [*X, *Y]]
    p, total = ref_exact_p(values, len(X), alternative)
    assert result.exact and result.n_permutations == total
    assert result.p_value == p
    assert result.mc_standard_error == 0.0
    assert abs(result.effect_size - ref_d(X, Y, A, B)) < 1e-9


def test_sc_eat_matches_reference():
    rng = np.random.default_rng(11)
    W, A, B = rng.normal(size=(3, 5)), rng.normal(size=(6, 5)), rng.normal(size=(5, 5))
    c = [sum(ref_cos(w, v) for w in W) / len(W) for v in [*A, *B]]
    assert abs(sc_effect_size(W, A, B) - ref_d_from(c, len(A))) < 1e-9
    for alternative in ("greater", "less", "two-sided"):
        result = sc_permutation_test(W, A, B, alternative=alternative)
        assert result.p_value == ref_exact_p(c, len(A), alternative)[0]
    single = sc_effect_size(W[0], A, B)
    c1 = [ref_cos(W[0], v) for v in [*A, *B]]
    assert abs(single - ref_d_from(c1, len(A))) < 1e-9


def test_sampled_p_is_close_to_exact_and_has_the_plus_one_form():
    rng = np.random.default_rng(5)
    X, Y, A, B = sets(rng, (7, 7, 6, 6), shift=0.3)
    exact = permutation_test(X, Y, A, B)
    sampled = permutation_test(X, Y, A, B, exact_threshold=0, n_permutations=20_000, seed=3)
    assert not sampled.exact and sampled.n_permutations == 20_000
    hits = sampled.p_value * 20_001 - 1
    assert abs(hits - round(hits)) < 1e-6
    assert sampled.mc_standard_error == pytest.approx(
        math.sqrt(sampled.p_value * (1 - sampled.p_value) / 20_000))
    assert abs(sampled.p_value - exact.p_value) < 5 * sampled.mc_standard_error + 1e-4


def test_sampled_test_is_reproducible_and_seed_dependent():
    rng = np.random.default_rng(8)
    X, Y, A, B = sets(rng, (12, 12, 6, 6), shift=0.1)
    runs = [permutation_test(X, Y, A, B, n_permutations=5000, exact_threshold=0, seed=s)
            for s in (1, 1, 2)]
    assert runs[0] == runs[1]
    assert runs[0].p_value != runs[2].p_value


def test_torch_inputs_of_any_float_dtype_give_the_same_result():
    rng = np.random.default_rng(2)
    X, Y, A, B = (v.astype(np.float32) for v in sets(rng, (5, 6, 4, 4)))
    base = permutation_test(X, Y, A, B)
    as_torch = permutation_test(*(torch.from_numpy(v) for v in (X, Y, A, B)))
    assert base == as_torch
    half = [torch.from_numpy(v).to(torch.bfloat16) for v in (X, Y, A, B)]
    assert abs(effect_size(*half) - base.effect_size) < 0.05


# ---------------------------------------------------------------- invariants (hypothesis)

small_ints = st.integers(-3, 3)


@st.composite
def eat_sets(draw, max_size=5, dim=3):
    """Sets of small-integer vectors (duplicates, hence genuine ties, are common)."""
    sizes = [draw(st.integers(2, max_size)) for _ in range(2)] + \
        [draw(st.integers(1, 4)) for _ in range(2)]
    vec = st.lists(small_ints, min_size=dim, max_size=dim).filter(lambda v: any(v))
    return [np.array(draw(st.lists(vec, min_size=n, max_size=n)), dtype=float) for n in sizes]


def _defined(X, Y, A, B):
    values = association_scores(np.vstack([X, Y]), A, B)
    return np.ptp(values) > 1e-9


@settings(max_examples=40, deadline=None)
@given(eat_sets(), st.lists(st.floats(0.01, 100), min_size=4, max_size=4))
def test_d_invariant_to_rescaling(data, factors):
    X, Y, A, B = data
    if not _defined(X, Y, A, B):
        return
    scaled = [v * f for v, f in zip(data, factors, strict=True)]
    assert abs(effect_size(*scaled) - effect_size(X, Y, A, B)) < 1e-9


@settings(max_examples=40, deadline=None)
@given(eat_sets())
def test_d_flips_sign_when_swapping_targets_or_attributes(data):
    X, Y, A, B = data
    if not _defined(X, Y, A, B):
        return
    d = effect_size(X, Y, A, B)
    assert abs(effect_size(Y, X, A, B) + d) < 1e-9
    assert abs(effect_size(X, Y, B, A) + d) < 1e-9


@settings(max_examples=30, deadline=None)
@given(eat_sets(), st.randoms(use_true_random=False))
def test_order_within_sets_does_not_matter(data, rnd):
    X, Y, A, B = data
    if not _defined(X, Y, A, B):
        return
    shuffled = [v[rnd.sample(range(len(v)), len(v))] for v in data]
    first, second = permutation_test(X, Y, A, B), permutation_test(*shuffled)
    assert abs(first.effect_size - second.effect_size) < 1e-9
    assert first.p_value == second.p_value


@settings(max_examples=30, deadline=None)
@given(eat_sets())
def test_greater_plus_less_is_one_plus_tie_probability(data):
    X, Y, A, B = data
    if not _defined(X, Y, A, B):
        return
    greater = permutation_test(X, Y, A, B, alternative="greater").p_value
    less = permutation_test(X, Y, A, B, alternative="less").p_value
    values = list(association_scores(np.vstack([X, Y]), A, B))
    assert greater + less == pytest.approx(1 + ref_ties(values, len(X)), abs=1e-12)
    assert greater == ref_exact_p(values, len(X), "greater")[0]


# ---------------------------------------------------------------- bad input


def _good():
    rng = np.random.default_rng(0)
    return sets(rng, (4, 4, 3, 3))


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda s: [s[0][:0], *s[1:]], "X is empty"),
    (lambda s: [s[0], s[1][:, :3], *s[2:]], "dimensions differ"),
    (lambda s: [np.where(np.arange(5) == 2, np.nan, s[0]), *s[1:]], "NaN"),
    (lambda s: [*s[:2], np.vstack([s[2], np.zeros(5)]), s[3]], "zero-norm"),
    (lambda s: [s[0][0], *s[1:]], "shape"),
])
def test_bad_input_is_named(mutate, message):
    with pytest.raises(ValueError, match=message):
        permutation_test(*mutate(_good()))


@pytest.mark.parametrize(("options", "message"), [
    ({"alternative": "both"}, "alternative"),
    ({"n_permutations": 0}, "n_permutations"),
    ({"exact_threshold": -1}, "exact_threshold"),
    ({"seed": -3}, "seed"),
])
def test_bad_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        permutation_test(*_good(), **options)


def test_zero_variance_scores_are_refused():
    v = np.ones((3, 4))
    with pytest.raises(ValueError, match="zero variance"):
        effect_size(v, v, np.eye(4)[:2], np.eye(4)[2:])


def test_progress_bar_is_shown_only_when_asked(monkeypatch, capsys):
    monkeypatch.delenv("CLIPBIAS_PROGRESS", raising=False)
    rng = np.random.default_rng(3)
    X, Y, A, B = (rng.normal(size=(6, 4)) for _ in range(4))
    permutation_test(X, Y, A, B, n_permutations=100, exact_threshold=0, progress=False)
    assert capsys.readouterr().err == ""
    permutation_test(X, Y, A, B, n_permutations=100, exact_threshold=0)
    assert "EAT 6+6" in capsys.readouterr().err
