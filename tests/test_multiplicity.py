"""Holm and Benjamini-Hochberg adjustments against plain references and statsmodels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from clipbias.metrics.multiplicity import benjamini_hochberg, holm


def ref_holm(p):
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def ref_bh(p):
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out, running = [0.0] * m, 1.0
    for rank in range(m - 1, -1, -1):
        i = order[rank]
        running = min(running, min(1.0, m * p[i] / (rank + 1)))
        out[i] = running
    return out


p_lists = st.lists(st.floats(0, 1), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(p_lists)
def test_match_plain_references(p):
    np.testing.assert_allclose(holm(p), ref_holm(p), rtol=0, atol=1e-15)
    np.testing.assert_allclose(benjamini_hochberg(p), ref_bh(p), rtol=0, atol=1e-15)


@settings(max_examples=60, deadline=None)
@given(p_lists)
def test_properties(p):
    p = np.array(p)
    h, b = holm(p), benjamini_hochberg(p)
    assert (h >= p).all() and (b >= p).all() and (h <= 1).all()
    assert (b <= h + 1e-15).all()
    order = np.argsort(p, kind="stable")
    assert (np.diff(h[order]) >= 0).all() and (np.diff(b[order]) >= 0).all()


def test_match_statsmodels_and_keep_shape():
    p = np.random.default_rng(0).uniform(size=(6, 5)) ** 3
    np.testing.assert_allclose(holm(p).ravel(), multipletests(p.ravel(), method="holm")[1])
    np.testing.assert_allclose(benjamini_hochberg(p).ravel(),
                               multipletests(p.ravel(), method="fdr_bh")[1])
    assert holm(p).shape == (6, 5)
    assert holm([]).shape == (0,)


@pytest.mark.parametrize("bad", [[0.1, np.nan], [0.2, 1.5], [-0.1]])
def test_bad_p_values_are_refused(bad):
    for adjust in (holm, benjamini_hochberg):
        with pytest.raises(ValueError, match="p-values"):
            adjust(bad)
