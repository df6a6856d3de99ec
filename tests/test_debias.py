"""Tests of clipbias.interventions.debias against slow, obviously correct references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from clipbias.interventions.debias import (
    JointConfig,
    JointDebiaser,
    bend_queries,
    bias_alignment_loss,
    calibrated_projection,
    calibration_matrix,
    clip_dimensions,
    counterfactual_loss,
    dimension_information,
    equal_distance,
    project_texts,
    spurious_projection,
    train_joint,
)


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# --- biased-prompt projection ---------------------------------------------------------------

def test_projected_texts_have_no_component_along_the_spurious_prompts():
    rng = np.random.default_rng(0)
    spurious = _unit(rng.standard_normal((2, 8)))
    first, second = _unit(rng.standard_normal((5, 8))), _unit(rng.standard_normal((5, 8)))
    p = calibrated_projection(spurious, first, second, lam=50.0)
    out = project_texts(p, _unit(rng.standard_normal((20, 8))))
    assert np.abs(out @ spurious.T).max() < 1e-6
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
    p0 = spurious_projection(spurious)
    assert np.allclose(p0 @ p0, p0) and np.allclose(p0, p0.T)
    assert np.allclose(calibrated_projection(spurious, first, second, lam=0.0), p0)


def test_a_swapped_pair_moves_closer_by_the_predicted_factor():
    # one pair whose difference is orthogonal to the spurious span: P* delta = delta / (1 + lam |delta|^2)
    spurious = np.eye(6)[:2]
    a = _unit(np.array([0.0, 0.0, 1.0, 0.5, 0.0, 0.2]))
    b = _unit(np.array([0.0, 0.0, 0.3, 1.0, 0.4, 0.0]))
    delta = a - b
    for lam in (0.5, 10.0, 1000.0):
        p = calibrated_projection(spurious, a[None], b[None], lam=lam)
        moved = np.linalg.norm(p @ a - p @ b)
        predicted = np.linalg.norm(delta) / (1 + lam * delta @ delta)
        assert moved == pytest.approx(predicted, rel=1e-9)


def test_calibrated_projection_minimises_its_objective():
    rng = np.random.default_rng(1)
    d, lam = 5, 3.0
    spurious = _unit(rng.standard_normal((1, d)))
    first, second = rng.standard_normal((4, d)), rng.standard_normal((4, d))
    p0 = spurious_projection(spurious)
    m = calibration_matrix(first, second)
    # slow reference: gradient descent on ||P - P0||_F^2 + (lam/|S|) sum ||P (a_i - b_i)||^2
    diffs = first - second
    p = p0.copy()
    step = 1.0 / (2 + 2 * lam * np.linalg.eigvalsh(m).max())
    for _ in range(5000):
        grad = 2 * (p - p0) + 2 * lam / len(diffs) * sum(np.outer(p @ x, x) for x in diffs)
        p -= step * grad
    assert np.allclose(calibrated_projection(spurious, first, second, lam=lam), p, atol=1e-8)


def test_projection_rejects_bad_inputs():
    with pytest.raises(ValueError, match="lam"):
        calibrated_projection(np.eye(3)[:1], np.eye(3)[1:2], np.eye(3)[2:], lam=-1.0)
    with pytest.raises(ValueError, match="pair row by row"):
        calibration_matrix(np.eye(3)[:2], np.eye(3)[:1])
    with pytest.raises(ValueError, match="span of the"):
        project_texts(spurious_projection(np.eye(3)[:1]), np.eye(3)[:1])


# --- CLIP-clip ------------------------------------------------------------------------------

def test_clip_clip_drops_exactly_the_informative_dimensions():
    rng = np.random.default_rng(2)
    n, d, informative = 600, 12, [1, 4, 7]
    groups = rng.integers(0, 2, n)
    x = rng.standard_normal((n, d))
    x[:, informative] += 2.5 * groups[:, None]
    mi = dimension_information(x, groups, n_neighbors=5, seed=0)
    kept = clip_dimensions(mi, keep=d - len(informative))
    assert sorted(set(range(d)) - set(kept.tolist())) == informative
    assert np.all(np.diff(kept) > 0)


def test_clip_clip_rejects_bad_inputs():
    x = np.random.default_rng(0).standard_normal((20, 4))
    with pytest.raises(ValueError, match="two distinct labels"):
        dimension_information(x, np.zeros(20), n_neighbors=3)
    with pytest.raises(ValueError, match="more than n_neighbors"):
        dimension_information(x, np.r_[np.zeros(17), np.ones(3)], n_neighbors=3)
    with pytest.raises(ValueError, match="at most the embedding dimension"):
        clip_dimensions(np.zeros(4), keep=5)
    # ties go to the lower index
    assert clip_dimensions(np.zeros(4), keep=2).tolist() == [0, 1]


# --- the joint method -----------------------------------------------------------------------

def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def test_bias_alignment_loss_equals_a_hand_computation():
    rng = np.random.default_rng(3)
    bt, bv = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    tb, vb = _unit(rng.standard_normal((4, 3))), _unit(rng.standard_normal((4, 3)))
    tau = 0.07
    expected = 0.0
    for i in range(2):
        pt = _softmax(np.array([bt[i] @ tb[j] / tau for j in range(4)]))
        pv = _softmax(np.array([bv[i] @ vb[j] / tau for j in range(4)]))
        expected += sum(pt[j] * np.log(pt[j] / pv[j]) for j in range(4)) / 2
    got = bias_alignment_loss(*(torch.as_tensor(a) for a in (bt, bv, tb, vb)), temperature=tau)
    assert float(got) == pytest.approx(expected, rel=1e-9)
    same = bias_alignment_loss(torch.as_tensor(bt), torch.as_tensor(bt), torch.as_tensor(tb),
                               torch.as_tensor(tb))
    assert float(same) == pytest.approx(0.0, abs=1e-12)


def test_counterfactual_loss_equals_a_hand_computation():
    rng = np.random.default_rng(4)
    li, lt = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    si = np.array([_softmax(r) for r in rng.standard_normal((3, 5))])
    st = np.array([_softmax(r) for r in rng.standard_normal((3, 5))])
    ce_i = np.mean([-sum(si[b, j] * np.log(_softmax(li[b])[j]) for j in range(5))
                    for b in range(3)])
    ce_t = np.mean([-sum(st[b, j] * np.log(_softmax(lt[b])[j]) for j in range(5))
                    for b in range(3)])
    got = counterfactual_loss(*(torch.as_tensor(a) for a in (li, lt, si, st)))
    assert float(got) == pytest.approx((ce_i + ce_t) / 2, rel=1e-9)


def test_debiaser_maps_follow_the_residual_formulas():
    torch.manual_seed(0)
    model = JointDebiaser(6, hidden1=8, hidden2=16)
    f = torch.randn(4, 6)

    def mlp(m, x):
        return torch.relu(m.second(torch.relu(m.first(x))))
    assert torch.allclose(model.texts(f), f + mlp(model.mlp2, f))
    assert torch.allclose(model.images(f), f + mlp(model.mlp2, f + mlp(model.mlp1, f)))
    assert (model.mlp2(f) >= 0).all()
    with pytest.raises(ValueError, match="modality"):
        model.apply(f.numpy(), modality="audio")


def test_train_joint_is_seeded_and_checks_its_inputs():
    rng = np.random.default_rng(5)
    v, t, c = (rng.standard_normal((40, 6)).astype(np.float32) for _ in range(3))
    config = JointConfig(epochs=2, batch_size=16, queue_size=32, hidden1=8, hidden2=8,
                         mix_from=1)
    a, hist_a = train_joint(v, t, c, config=config, seed=3, progress=False)
    b, hist_b = train_joint(v, t, c, config=config, seed=3, progress=False)
    assert hist_a == hist_b and len(hist_a) == 2
    assert np.array_equal(a.apply(v, modality="image"), b.apply(v, modality="image"))
    with pytest.raises(ValueError, match="texts must be 2-d"):
        train_joint(v, t[:10], c, config=config, progress=False)
    with pytest.raises(ValueError, match="at least one of use_cd and use_ba"):
        JointConfig(use_cd=False, use_ba=False)


# --- BendVLM-style test-time debiasing ------------------------------------------------------

def test_equal_distance_matches_a_constrained_optimiser():
    rng = np.random.default_rng(6)
    q, mu = _unit(rng.standard_normal(5)), rng.standard_normal((3, 5))
    cons = [{"type": "eq", "fun": lambda e: e @ e - 1}]
    cons += [{"type": "eq", "fun": lambda e, k=k: e @ mu[k] - e @ mu[0]} for k in (1, 2)]
    ref = minimize(lambda e: -e @ q, q, constraints=cons, method="SLSQP",
                   options={"ftol": 1e-12, "maxiter": 500}).x
    got = equal_distance(q, mu)
    assert np.allclose(got, ref, atol=1e-5)
    assert np.allclose(got @ mu.T, (got @ mu.T)[0])


def test_bend_queries_equalise_the_group_prototypes():
    rng = np.random.default_rng(7)
    d, n = 8, 60
    groups = np.repeat([0, 1], n // 2)
    refs = _unit(rng.standard_normal((n, d)) + 1.5 * np.outer(groups, np.eye(d)[0]))
    queries = _unit(rng.standard_normal((3, d)))
    variants = _unit(queries[:, None, :] + 0.3 * rng.standard_normal((3, 2, d)))
    spurious = _unit(rng.standard_normal((2, d)))
    out = bend_queries(queries, variants, spurious, refs, groups, n_nearest=10)
    assert np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-6)
    for i, e in enumerate(out):
        # recompute step 1 by hand, then the prototypes of step 2
        basis = np.vstack([spurious, (variants[i, 0] - variants[i, 1]) / 2])
        q1 = queries[i] - basis.T @ np.linalg.lstsq(basis @ basis.T, basis @ queries[i],
                                                    rcond=None)[0]
        q1 /= np.linalg.norm(q1)
        protos = [refs[groups == g][np.argsort(-(refs[groups == g] @ q1))[:10]].mean(0)
                  for g in (0, 1)]
        assert e @ protos[0] == pytest.approx(e @ protos[1], abs=1e-5)
    with pytest.raises(ValueError, match="n_nearest"):
        bend_queries(queries, variants, spurious, refs, groups, n_nearest=31)
