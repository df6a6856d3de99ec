"""M4 data balancing: statistics, optimality against scipy, infeasibility, soft mode, sampler."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog, minimize

from clipbias.interventions.balance import (
    draw_subset,
    m4,
    moment_statistics,
    realised_statistics,
    solver,
)
from clipbias.interventions.balance.table import make_table


def planted(n: int, c: int, *, seed: int, person: float = 0.5, male: float = 0.7,
            overlap: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Two groups with a 70/30 imbalance; the first half of the labels favour group 0."""
    rng = np.random.default_rng(seed)
    has = rng.random(n) < person
    g0 = has & (rng.random(n) < male)
    g1 = has & (~g0 | (rng.random(n) < overlap))
    s = np.stack([g0, g1], axis=1)
    rate = np.tile(rng.random(c) * 0.3 + 0.1, (n, 1))
    rate[:, : max(1, c // 2)] *= np.where(g0, 1.7, 0.5)[:, None]
    y = rng.random((n, c)) < np.clip(rate, 0, 1)
    return s, y


def bias_matrix(s, y, target=None, proxies=None) -> np.ndarray:
    """(n, m * (1 + c + p)) rows b_i = vec(d_i [1, y_i, z_i]^T), written out plainly."""
    s = np.asarray(s, dtype=float)
    n, m = s.shape
    target = np.full(m, 1 / m) if target is None else np.asarray(target, dtype=float)
    cols = [np.ones((n, 1)), np.asarray(y, dtype=float)]
    if proxies is not None:
        cols.append(np.asarray(proxies, dtype=float))
    x = np.hstack(cols)
    rows = []
    for i in range(n):
        d = s[i] - target * (1.0 if s[i].any() else 0.0)
        rows.append(np.outer(d, x[i]).ravel())
    return np.array(rows)


def reference_qp(b, eps, eta, *, fixed=True, weights=None):
    """The linearised QP solved by SLSQP: returns the optimal objective (mean w (q - eta)^2)."""
    n = b.shape[0]
    w = np.ones(n) if weights is None else weights / weights.mean()
    a_ub = np.vstack([(b - eps[None, :]).T, (-b - eps[None, :]).T])  # a_ub @ q <= 0
    cons = [{"type": "ineq", "fun": lambda q: -(a_ub @ q), "jac": lambda q: -a_ub}]
    if fixed:
        cons.append({"type": "eq", "fun": lambda q: q.mean() - eta,
                     "jac": lambda q: np.full((1, n), 1 / n)})
    else:
        cons.append({"type": "ineq", "fun": lambda q: eta - q.mean(),
                     "jac": lambda q: np.full((1, n), -1 / n)})
    res = minimize(lambda q: np.mean(w * (q - eta) ** 2), np.full(n, eta),
                   jac=lambda q: 2 * w * (q - eta) / n, bounds=[(0, 1)] * n,
                   constraints=cons, method="SLSQP",
                   options={"maxiter": 1000, "ftol": 1e-14})
    assert res.success, res.message
    assert np.max(a_ub @ res.x) <= 1e-8 * n
    return float(res.fun)


def lp_feasible(b, eps, eta) -> bool:
    """Does some q in [0, 1]^n with mean(q) = eta satisfy every linearised constraint?"""
    n = b.shape[0]
    a_ub = np.vstack([(b - eps[None, :]).T, (-b - eps[None, :]).T])
    res = linprog(np.zeros(n), A_ub=a_ub, b_ub=np.zeros(len(a_ub)), A_eq=np.ones((1, n)),
                  b_eq=[eta * n], bounds=[(0, 1)] * n, method="highs")
    assert res.status in (0, 2), res.message
    return res.status == 0


def eps_vector(m, c, eps_r, eps_a, p=0) -> np.ndarray:
    e = np.full((m, 1 + c + p), eps_a)
    e[:, 0] = eps_r
    return e.ravel()


# --- statistics ---------------------------------------------------------------------------------

def test_moment_statistics_match_a_plain_loop() -> None:
    s, y = planted(300, 4, seed=1, overlap=0.2)
    z = np.random.default_rng(2).random((300, 2)) < 0.4
    q = np.random.default_rng(3).random(300)
    target = np.array([0.4, 0.6])
    st = moment_statistics(s, y, target=target, proxies=z, weights=q, batch_size=7)
    b = bias_matrix(s, y, target, z)
    expected = (q @ b / q.sum()).reshape(2, 1 + 4 + 2)
    np.testing.assert_allclose(st.representation, expected[:, 0], atol=1e-12)
    np.testing.assert_allclose(st.association, expected[:, 1:5], atol=1e-12)
    np.testing.assert_allclose(st.proxy_association, expected[:, 5:], atol=1e-12)
    assert st.total_weight == pytest.approx(q.sum())


def test_planted_imbalance_is_measured_then_removed() -> None:
    s, y = planted(4000, 6, seed=0)
    res = m4(s, y, eps_representation=0.01, eps_association=0.01, keep_rate=0.7)
    # 70/30 among people (half the rows): representation of group 0 is (0.7 - 0.5) / 2 = 0.1
    assert res.before.representation[0] == pytest.approx(0.1, abs=0.02)
    assert res.violation_before > 0.05
    assert res.feasible and res.status == "optimal"
    assert np.abs(res.after.representation).max() <= 0.01 + 1e-9
    assert np.abs(res.after.association).max() <= 0.01 + 1e-9
    assert res.violation_after == 0.0
    assert res.keep_rate == pytest.approx(0.7, abs=1e-6)
    assert res.q.min() >= 0 and res.q.max() <= 1
    # the expected statistics reported agree with a direct computation from q
    again = moment_statistics(s, y, weights=res.q)
    np.testing.assert_allclose(again.association, res.after.association, atol=1e-12)


def test_overlapping_groups_and_a_third_attribute() -> None:
    rng = np.random.default_rng(5)
    s = rng.random((1500, 3)) < np.array([0.5, 0.25, 0.15])
    y = (rng.random((1500, 3)) < 0.3) | (s[:, :1] & (rng.random((1500, 1)) < 0.3))
    target = np.array([0.5, 0.3, 0.2])
    res = m4(s, y, target=target, eps_representation=0.02, eps_association=0.02, keep_rate=0.6)
    assert res.violation_before > 0.02
    assert res.feasible
    assert moment_statistics(s, y, target=target, weights=res.q).violation(0.02, 0.02) == 0.0


# --- optimality against an independent solver ---------------------------------------------------

@pytest.mark.parametrize(("c", "eta", "fixed", "seed"), [
    (1, 0.8, True, 0), (3, 0.7, True, 1), (5, 0.6, True, 2), (5, 0.9, False, 3),
    (2, 0.5, False, 4)])
def test_objective_matches_slsqp(c: int, eta: float, fixed: bool, seed: int) -> None:
    s, y = planted(200, c, seed=seed, person=0.6)
    res = m4(s, y, eps_representation=0.02, eps_association=0.02, keep_rate=eta,
             fixed_keep_rate=fixed)
    assert res.feasible and res.status == "optimal"
    opt = reference_qp(bias_matrix(s, y), eps_vector(2, c, 0.02, 0.02), eta, fixed=fixed)
    assert opt > 1e-3  # the constraints bind: the check is not trivially q = eta
    assert res.objective >= opt - 1e-7  # the optimum cannot be beaten by a feasible q
    assert res.objective <= opt + max(0.01 * opt, 1e-4)


def test_utility_weighted_objective_matches_slsqp() -> None:
    s, y = planted(200, 3, seed=7, person=0.6)
    u = np.random.default_rng(8).uniform(0.2, 3.0, 200)
    res = m4(s, y, eps_representation=0.02, eps_association=0.03, keep_rate=0.75, utility=u)
    opt = reference_qp(bias_matrix(s, y), eps_vector(2, 3, 0.02, 0.03), 0.75, weights=u)
    assert res.feasible
    assert opt - 1e-7 <= res.objective <= opt + max(0.01 * opt, 1e-4)
    # utility moves the cuts to low-utility examples
    plain = m4(s, y, eps_representation=0.02, eps_association=0.03, keep_rate=0.75)
    assert np.corrcoef(u, res.q - plain.q)[0, 1] > 0


# --- infeasibility --------------------------------------------------------------------------------

@pytest.mark.parametrize(("eta", "seed"), [(0.95, 0), (0.9, 1), (0.7, 2), (0.5, 3)])
def test_infeasibility_agrees_with_linprog(eta: float, seed: int) -> None:
    s, y = planted(250, 2, seed=seed, person=0.8, male=0.75)
    feasible = lp_feasible(bias_matrix(s, y), eps_vector(2, 2, 0.01, 0.01), eta)
    res = m4(s, y, eps_representation=0.01, eps_association=0.01, keep_rate=eta)
    assert res.feasible == feasible
    if feasible:
        assert res.violation_after == 0.0
    else:
        assert res.status in ("infeasible", "not_converged")
        assert res.violation_after > 0
        assert res.violation_after < res.violation_before


def test_a_high_keep_rate_is_infeasible_and_reported_with_its_violation() -> None:
    s, y = planted(2000, 4, seed=11, person=0.5, male=0.75)
    res = m4(s, y, eps_representation=0.005, eps_association=0.005, keep_rate=0.95)
    assert not res.feasible
    assert res.status == "infeasible"
    assert 0 < res.violation_after < res.violation_before
    lower = m4(s, y, eps_representation=0.005, eps_association=0.005, keep_rate=0.6)
    assert lower.feasible


def test_keep_rate_one_keeps_everything_and_is_feasible_only_if_balanced() -> None:
    s, y = planted(300, 2, seed=2)
    res = m4(s, y, keep_rate=1.0)
    assert not res.feasible and res.violation_after > 0
    rng = np.random.default_rng(0)
    g = rng.random(400) < 0.5
    s_bal = np.stack([g, ~g], axis=1)
    s_bal[:200] = s_bal[200:][:, ::-1]  # exactly 200 / 200, and so within each label
    y_bal = np.tile(rng.random((200, 2)) < 0.4, (2, 1))
    balanced = m4(s_bal, y_bal, keep_rate=1.0)
    assert balanced.feasible
    np.testing.assert_allclose(balanced.q, 1.0, atol=1e-6)


# --- options --------------------------------------------------------------------------------------

def test_loose_tolerances_give_the_keep_rate_everywhere() -> None:
    s, y = planted(500, 3, seed=4)
    res = m4(s, y, eps_representation=5.0, eps_association=5.0, keep_rate=0.8)
    np.testing.assert_allclose(res.q, 0.8, atol=1e-9)
    assert res.objective == pytest.approx(0.0, abs=1e-12)


def test_soft_constraints_bound_the_duals_and_trade_violation_for_objective() -> None:
    s, y = planted(1500, 3, seed=6)
    hard = m4(s, y, keep_rate=0.7)
    weak = m4(s, y, keep_rate=0.7, enforcement=1e-3)
    strong = m4(s, y, keep_rate=0.7, enforcement=1e3)
    assert hard.feasible and strong.feasible
    assert np.abs(weak.multipliers).max() <= 1e-3 + 1e-12
    assert not weak.feasible and weak.violation_after > 0
    assert weak.objective < hard.objective
    assert strong.objective == pytest.approx(hard.objective, rel=1e-3)


def test_proxies_constraints_are_met() -> None:
    s, y = planted(3000, 3, seed=9)
    rng = np.random.default_rng(10)
    z = (rng.random((3000, 2)) < np.where(s[:, :1], 0.6, 0.2))  # proxy tied to group 0
    before = moment_statistics(s, y, proxies=z)
    assert np.abs(before.proxy_association).max() > 0.03
    res = m4(s, y, proxies=z, keep_rate=0.6)
    assert res.feasible
    assert np.abs(res.after.proxy_association).max() <= 0.01 + 1e-9
    without = m4(s, y, keep_rate=0.6)
    assert np.abs(moment_statistics(s, y, proxies=z, weights=without.q).proxy_association
                  ).max() > 0.01


def test_streaming_batches_do_not_change_the_answer_and_seeds_reproduce() -> None:
    s, y = planted(1000, 3, seed=12)
    a = m4(s, y, keep_rate=0.7, batch_size=64, seed=3)
    b = m4(s, y, keep_rate=0.7, seed=3)
    np.testing.assert_allclose(a.q, b.q, atol=1e-7)
    c = m4(s, y, keep_rate=0.7, batch_size=64, seed=3)
    np.testing.assert_array_equal(a.q, c.q)


# --- sampler --------------------------------------------------------------------------------------

def test_draws_are_seeded_and_have_the_expected_statistics() -> None:
    s, y = planted(6000, 3, seed=13)
    res = m4(s, y, keep_rate=0.6)
    first = draw_subset(res.q, seed=1)
    np.testing.assert_array_equal(first, draw_subset(res.q, seed=1))
    assert not np.array_equal(first, draw_subset(res.q, seed=2))
    assert abs(len(first) - res.q.sum()) < 5 * np.sqrt(res.q.sum())
    real = realised_statistics(s, y, res.q, draws=40, seed=5)
    k3 = draw_subset(res.q, seed=(5, 3))
    direct = moment_statistics(s[k3], y[k3])
    np.testing.assert_allclose(real.draw(3).association, direct.association, atol=1e-12)
    assert real.sizes[3] == len(k3)
    # the draws scatter around the expected statistics: mean within 4 standard errors
    se = real.association.std(axis=0, ddof=1) / np.sqrt(40)
    assert np.all(np.abs(real.association.mean(axis=0) - res.after.association) <= 4 * se + 1e-12)
    assert np.all(real.association.std(axis=0) > 0)


def test_draw_subset_edges() -> None:
    assert draw_subset(np.zeros(10)).size == 0
    np.testing.assert_array_equal(draw_subset(np.ones(5)), np.arange(5))
    with pytest.raises(ValueError, match="probabilities"):
        draw_subset([0.5, 1.5])


# --- input validation -----------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "message"), [
    ({"y": np.ones((9, 2))}, "rows"),
    ({"s": np.full((10, 2), 0.5)}, "binary"),
    ({"y": np.full((10, 2), 2)}, "binary"),
    ({"proxies": np.ones((10,))}, "2-D"),
    ({"target": [0.5, 0.6]}, "sum to 1"),
    ({"target": [1.5, -0.5]}, r"\[0, 1\]"),
    ({"target": [1.0]}, "shape"),
    ({"eps_representation": -0.1}, "non-negative"),
    ({"eps_association": -1e-3}, "non-negative"),
    ({"keep_rate": 0.0}, r"\(0, 1\]"),
    ({"keep_rate": 1.2}, r"\(0, 1\]"),
    ({"enforcement": 0.0}, "enforcement"),
    ({"utility": -np.ones(10)}, "positive"),
    ({"utility": np.ones(3)}, "utility"),
    ({"batch_size": 0}, "batch_size"),
])
def test_bad_inputs_raise_clear_errors(kwargs: dict, message: str) -> None:
    rng = np.random.default_rng(0)
    args = {"s": rng.random((10, 2)) < 0.5, "y": rng.random((10, 2)) < 0.5}
    args.update(kwargs)
    s, y = args.pop("s"), args.pop("y")
    with pytest.raises(ValueError, match=message):
        m4(s, y, **args)


def test_large_tables_warm_start_from_a_subsample_and_still_meet_the_constraints() -> None:
    s, y = planted(150_000, 2, seed=14)
    res = m4(s, y, keep_rate=0.7, eps_representation=0.005, eps_association=0.005)
    assert res.warm_start_iterations > 0
    assert res.feasible and res.status == "optimal"
    assert moment_statistics(s, y, weights=res.q).violation(0.005, 0.005) == 0.0


# --- the Newton solver's parts ---------------------------------------------------------------------

@pytest.mark.parametrize("person", [0.3, 1.0])
def test_carrier_batches_hold_the_carriers_rows_of_the_plain_batches(person: float) -> None:
    s, y = planted(2000, 3, seed=22, person=person, overlap=0.3)
    z = np.random.default_rng(23).random((2000, 2)) < 0.5
    table = make_table(s, y, proxies=z, target=[0.3, 0.7], batch_size=101)
    gathered = 0
    for (start, stop, d, x, w), (start2, stop2, rows, dc, xc, wc) in zip(
            table.batches(), table.carrier_batches(), strict=True):
        assert (start, stop) == (start2, stop2)
        np.testing.assert_array_equal(w, wc)
        if rows is None:
            np.testing.assert_array_equal(dc, d)
            np.testing.assert_array_equal(xc, x)
            continue
        gathered += 1
        np.testing.assert_array_equal(rows, np.flatnonzero(s[start:stop].any(axis=1)))
        np.testing.assert_array_equal(dc, d[rows])
        np.testing.assert_array_equal(xc, x[rows])
        assert not np.delete(d, rows, axis=0).any()  # the others have d_i = 0
    assert (gathered > 0) == (person < 1.0)


def small_problem(seed: int, person: float = 0.5):
    """A table with utilities, proxies and a non-uniform target, its problem and a dual point
    with one multiplier of each pair positive (``lam+ * lam- = 0``, as the solver keeps it)."""
    s, y = planted(300, 3, seed=seed, overlap=0.2, person=person)
    rng = np.random.default_rng(seed)
    z_proxy = rng.random((300, 2)) < 0.4
    u = rng.uniform(0.3, 2.0, 300)
    target = np.array([0.45, 0.55])
    table = make_table(s, y, target=target, proxies=z_proxy, utility=u, batch_size=37)
    tol = np.full((2, 6), 0.02)
    tol[:, 0] = 0.01
    prob = solver._problem(tol, np.ones((2, 6)), float(np.mean(u.mean() / u)), 0.7, True,
                           np.inf)
    k = tol.size
    signed = rng.normal(size=k) * 0.3
    z = np.concatenate([np.maximum(signed, 0), np.maximum(-signed, 0), [0.05]])
    b = bias_matrix(s, y, target, z_proxy)
    return table, prob, z, b, u / u.mean()


@pytest.mark.parametrize("person", [0.5, 1.0])
def test_pass_matches_a_plain_loop(person: float) -> None:
    table, prob, z, b, w = small_problem(20, person)
    k = prob.tol.size
    e = prob.tol_inner.ravel()
    q = np.empty(table.n)
    pt = solver._pass(table, z, prob, out=q)
    t = b @ (z[:k] - z[k:2 * k]) - np.sum((z[:k] + z[k:2 * k]) * e) + z[-1]
    expected_q = np.clip(0.7 - t / w, 0, 1)
    assert 0 < np.sum((expected_q > 0) & (expected_q < 1)) < table.n  # some rows are clipped
    np.testing.assert_allclose(q, expected_q, atol=1e-12)
    np.testing.assert_allclose(pt.sums.ravel(), expected_q @ b / table.n, atol=1e-12)
    assert pt.keep == pytest.approx(expected_q.mean(), abs=1e-12)
    half_f = np.mean(w * (expected_q - 0.7) ** 2) / 2
    assert pt.half_f == pytest.approx(half_f, abs=1e-12)
    assert pt.dual == pytest.approx(half_f + np.mean(expected_q * t) - z[-1] * 0.7, abs=1e-12)


def test_hessian_matches_a_plain_sum_and_finite_differences_of_the_gradient() -> None:
    table, prob, z, b, w = small_problem(21)
    k = prob.tol.size
    e = prob.tol_inner.ravel()
    grad = solver._gradient(solver._pass(table, z, prob), prob)
    free = solver._free(z, grad, prob)
    assert k < free.size < 2 * k + 1  # some multipliers are held at zero
    h = solver._hessian(table, z, prob, free)
    t = b @ (z[:k] - z[k:2 * k]) - np.sum((z[:k] + z[k:2 * k]) * e) + z[-1]
    raw = 0.7 - t / w
    expected = np.zeros((2 * k + 1, 2 * k + 1))
    for i in np.flatnonzero((raw > 0) & (raw < 1)):
        a = np.concatenate([b[i] - e, -b[i] - e, [1.0]])
        expected += np.outer(a, a) / w[i]
    expected = expected[np.ix_(free, free)] / table.n
    np.testing.assert_allclose(h, expected, atol=1e-12)
    # minus the derivative of the gradient along a free direction (no row crosses a clip edge)
    v = np.zeros_like(z)
    v[free] = np.random.default_rng(0).normal(size=free.size)
    step = 1e-7
    moved = solver._gradient(solver._pass(table, z + step * v, prob), prob)
    np.testing.assert_allclose((grad - moved)[free] / step, h @ v[free], rtol=1e-5, atol=1e-9)


def test_newton_with_a_subsample_hessian_lands_on_the_slsqp_optimum(monkeypatch) -> None:
    """Force the large-table path (subsample solve, then full-table steps with the subsample's
    Hessian) on a table small enough for the independent solver."""
    monkeypatch.setattr(solver, "_HESSIAN_ROWS", 96)
    s, y = planted(400, 3, seed=15, person=0.6)
    res = m4(s, y, eps_representation=0.02, eps_association=0.02, keep_rate=0.7)
    assert res.warm_start_iterations > 0
    assert res.feasible and res.status == "optimal"
    opt = reference_qp(bias_matrix(s, y), eps_vector(2, 3, 0.02, 0.02), 0.7)
    assert opt > 1e-3
    assert opt - 1e-7 <= res.objective <= opt + max(0.01 * opt, 1e-4)


def least_max_violation(b, eps, eta) -> float:
    """The LP ``min tau`` s.t. ``|sum_i q_i b_i| <= (eps + tau) n eta``, mean(q) = eta."""
    n, k = b.shape
    col = np.full((k, 1), -n * eta)
    a_ub = np.vstack([np.hstack([b.T, col]), np.hstack([-b.T, col])])
    res = linprog(np.r_[np.zeros(n), 1.0], A_ub=a_ub, b_ub=np.r_[eps, eps] * n * eta,
                  A_eq=np.r_[np.ones(n), 0.0][None, :], b_eq=[n * eta],
                  bounds=[(0, 1)] * n + [(0, None)], method="highs")
    assert res.status == 0, res.message
    return float(res.fun)


@pytest.mark.parametrize(("eta", "seed"), [(0.95, 0), (0.9, 1), (0.7, 2)])
def test_an_infeasible_result_has_the_smallest_violation_the_keep_rate_allows(eta, seed) -> None:
    s, y = planted(250, 2, seed=seed, person=0.8, male=0.75)
    res = m4(s, y, eps_representation=0.01, eps_association=0.01, keep_rate=eta)
    assert not res.feasible and res.status == "infeasible"
    least = least_max_violation(bias_matrix(s, y), eps_vector(2, 2, 0.01, 0.01), eta)
    assert least > 0.05
    # bisection to 1% on tolerances tightened by the 0.5% margin
    assert least - 1e-9 <= res.violation_after <= 1.02 * least + 1e-4
    assert res.keep_rate == pytest.approx(eta, abs=1e-6)
