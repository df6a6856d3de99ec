"""Multi-Modal Moment Matching (M4): keep probabilities that balance an annotation table.

The problem (issue 14, after Alabdulmohsin et al., ICLR 2024; see ``book/methods/balancing.md``).
With ``b_i = d_i x_i^T`` (m, J) the per-example bias matrix of
:mod:`clipbias.interventions.balance.table` (``J = 1 + c + p``), ``E`` (m, J) the tolerances
(``eps_representation`` in column 0, ``eps_association`` elsewhere), ``eta`` the keep rate and
``w_i`` the utilities normalised to mean 1 (ones without utilities)::

    minimise   f(q) = (1/n) sum_i w_i (q_i - eta)^2         over q in [0, 1]^n
    subject to |sum_i q_i b_ikj| <= E_kj sum_i q_i            for every k, j
               mean(q) = eta   (fixed_keep_rate)   or   mean(q) <= eta

Multiplying the ratio constraints by ``sum_i q_i`` makes them linear, so the problem is a
strictly convex QP. Its Lagrangian separates over examples; with multipliers ``lam+``,
``lam-`` >= 0 (m, J) and ``nu`` the minimiser is, in closed form,

    q_i = clip(eta - t_i / w_i, 0, 1),  t_i = <lam+ - lam-, b_i> - <lam+ + lam-, E> + nu,

and the dual function ``D(lam, nu) = (1/n) sum_i [w_i (q_i - eta)^2 / 2 + q_i t_i] - nu eta``
(the objective halved) is concave with gradient ``(S - E Q, -S - E Q, Q - eta)`` where
``S = mean_i q_i b_i`` and ``Q = mean_i q_i``. The solver ascends ``D`` by diagonally
preconditioned projected gradient steps with Nesterov momentum and gradient restarts; every
step is one streamed pass over the rows. ``enforcement=V`` bounds the multipliers by ``V``
(soft constraints: the exact-penalty problem ``f/2 + V sum max(0, |S| - E Q)``).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from clipbias.interventions.balance.statistics import (
    MomentStatistics,
    statistics_from_sums,
)
from clipbias.interventions.balance.table import BalanceTable, make_table
from clipbias.progress import progress

__all__ = ["M4Result", "m4"]

#: The solver works with tolerances ``E * (1 - _MARGIN)`` and stops once the original ones hold.
_MARGIN = 5e-3
#: Duality-gap stopping rule: ``f/2 - D <= _GAP_RTOL * f/2 + _GAP_ATOL``.
_GAP_RTOL = 1e-3
_GAP_ATOL = 1e-10
#: Absolute slack on the statistics, for tolerances of zero.
_SLACK = 1e-9
#: Largest accepted keep-rate residual ``|mean(q) - eta|``.
_KEEP_TOL = 1e-6
#: Rows of the smallest uniform subsample in the warm-start ladder; each level is 8x larger.
_WARM_ROWS = 1 << 16
_WARM_FACTOR = 8
#: Rows used to estimate the curvature of the dual (the step size).
_CURVATURE_ROWS = 1 << 13


@dataclasses.dataclass(frozen=True)
class M4Result:
    """The outcome of :func:`m4`.

    ``q`` (n,) keep probabilities; ``before`` / ``after`` the moment statistics of the table and
    of the expected distribution given by ``q``; ``violation_before`` / ``violation_after`` the
    largest excess of a statistic over its tolerance (0 when balanced); ``keep_rate`` the
    achieved ``mean(q)``; ``objective`` ``f(q)``, the (utility-weighted) mean of
    ``(q_i - keep_rate)^2``; ``iterations`` dual steps on the full table
    (``warm_start_iterations`` on the subsample before); ``feasible`` true only when every
    statistic is within tolerance and the keep-rate condition holds; ``status`` one of
    ``"optimal"``, ``"infeasible"`` (proved: the dual value exceeds every feasible objective),
    ``"not_converged"``; ``duality_gap`` ``f/2 - D`` at the returned point (hard mode: a bound
    on the suboptimality of ``f/2``); ``multipliers`` (m, J) the signed dual variables
    ``lam+ - lam-`` and ``keep_multiplier`` ``nu``. When ``feasible`` is false, ``q`` is the
    point of smallest violation reached and must not be used as balanced.
    """

    q: np.ndarray
    before: MomentStatistics
    after: MomentStatistics
    violation_before: float
    violation_after: float
    keep_rate: float
    objective: float
    iterations: int
    warm_start_iterations: int
    feasible: bool
    status: str
    duality_gap: float
    multipliers: np.ndarray
    keep_multiplier: float


@dataclasses.dataclass(frozen=True)
class _Problem:
    eta: float
    fixed: bool
    tol: np.ndarray  # (m, J) original tolerances E
    tol_inner: np.ndarray  # (m, J) tightened tolerances the dual works with
    bound: float  # upper bound on the multipliers (inf: hard constraints)
    precond: np.ndarray  # (m, J) diagonal curvature of the dual in lam
    precond_nu: float


@dataclasses.dataclass
class _Dual:
    plus: np.ndarray
    minus: np.ndarray
    nu: float

    def copy(self) -> _Dual:
        return _Dual(self.plus.copy(), self.minus.copy(), self.nu)


@dataclasses.dataclass(frozen=True)
class _Pass:
    sums: np.ndarray  # S = mean_i q_i b_i (m, J)
    keep: float  # Q = mean_i q_i
    half_f: float  # f(q) / 2
    dual: float  # D at the tightened tolerances


def _pass(table: BalanceTable, z: _Dual, prob: _Problem, out: np.ndarray | None = None) -> _Pass:
    """One streamed pass: q from the closed form, its moments, objective and dual value."""
    mu = z.plus - z.minus
    shift = float(np.sum((z.plus + z.minus) * prob.tol_inner)) - z.nu
    sums = np.zeros_like(mu)
    keep = sq = lin = 0.0
    for start, stop, d, x, w in table.batches():
        t = np.einsum("ik,ik->i", d, x @ mu.T) - shift
        q = np.clip(prob.eta - t / w, 0.0, 1.0)
        sums += (d * q[:, None]).T @ x
        keep += float(q.sum())
        dev = q - prob.eta
        sq += float(np.dot(w * dev, dev))
        lin += float(np.dot(q, t))
        if out is not None:
            out[start:stop] = q
    n = table.n
    return _Pass(sums / n, keep / n, sq / (2 * n), (sq / 2 + lin) / n - z.nu * prob.eta)


def _excess(pt: _Pass, tol: np.ndarray) -> float:
    """Largest ``|S| / Q - E`` (inf when nothing is kept)."""
    if not pt.keep > 0:
        return math.inf
    return float(np.max(np.abs(pt.sums) / pt.keep - tol))


def _keep_residual(pt: _Pass, prob: _Problem) -> float:
    gap = pt.keep - prob.eta
    return abs(gap) if prob.fixed else max(0.0, gap)


def _gap(pt: _Pass, prob: _Problem) -> float:
    """Primal minus dual value of the problem being solved (penalised in soft mode)."""
    primal = pt.half_f
    if math.isfinite(prob.bound):
        primal += prob.bound * float(np.sum(np.maximum(
            0.0, np.abs(pt.sums) - prob.tol_inner * pt.keep)))
    return primal - pt.dual


def _project(z: _Dual, prob: _Problem) -> _Dual:
    plus = np.clip(z.plus, 0.0, prob.bound)
    minus = np.clip(z.minus, 0.0, prob.bound)
    return _Dual(plus, minus, z.nu if prob.fixed else max(0.0, z.nu))


def _ascent_step(z: _Dual, pt: _Pass, prob: _Problem, step: float) -> tuple[_Dual, _Dual]:
    """A preconditioned projected gradient step from ``z``; returns (new point, gradient)."""
    grad = _Dual(pt.sums - prob.tol_inner * pt.keep, -pt.sums - prob.tol_inner * pt.keep,
                 pt.keep - prob.eta)
    moved = _Dual(z.plus + step * grad.plus / prob.precond,
                  z.minus + step * grad.minus / prob.precond,
                  z.nu + step * grad.nu / prob.precond_nu)
    return _project(moved, prob), grad


def _inner(a: _Dual, b: _Dual) -> float:
    return float(np.sum(a.plus * b.plus) + np.sum(a.minus * b.minus) + a.nu * b.nu)


def _diff(a: _Dual, b: _Dual) -> _Dual:
    return _Dual(a.plus - b.plus, a.minus - b.minus, a.nu - b.nu)


def _lin(a: _Dual, b: _Dual, coef: float) -> _Dual:
    """``a + coef * (a - b)``."""
    return _Dual(a.plus + coef * (a.plus - b.plus), a.minus + coef * (a.minus - b.minus),
                 a.nu + coef * (a.nu - b.nu))


def _curvature(table: BalanceTable, prob: _Problem, seed: int) -> float:
    """Largest eigenvalue of the preconditioned Gram matrix of the dual, on a row subsample.

    Bounds the curvature of ``D`` (only rows with ``0 < q_i < 1`` contribute to it); estimated
    by power iteration on ``C`` with rows ``[b_i - E, -b_i - E, 1] / sqrt(w_i)``.
    """
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(table.n, size=min(table.n, _CURVATURE_ROWS), replace=False))
    sub = table.subset(rows)
    _, _, d, x, w = next(sub.batches())
    b = np.einsum("ik,ij->ikj", d, x).reshape(len(rows), -1) / np.sqrt(w)[:, None]
    inv = 1.0 / np.sqrt(w)
    e = prob.tol_inner.ravel()
    p = 1.0 / np.sqrt(prob.precond.ravel())
    pn = 1.0 / math.sqrt(prob.precond_nu)
    v = rng.standard_normal(2 * e.size + 1)
    value = 0.0
    for _ in range(60):
        v /= np.linalg.norm(v)
        vp, vm, vn = v[:e.size] * p, v[e.size:-1] * p, v[-1] * pn
        col = b @ (vp - vm) + inv * (vn - float(e @ (vp + vm)))
        back_b = b.T @ col / len(rows)
        back_1 = float(inv @ col) / len(rows)
        new = np.concatenate([(back_b - e * back_1) * p, (-back_b - e * back_1) * p,
                              [back_1 * pn]])
        value = float(np.linalg.norm(new))
        v = new
    return max(value, 1e-12)


def _solve(table: BalanceTable, prob: _Problem, z0: _Dual, step: float, max_iterations: int,
           show: bool) -> tuple[_Dual, _Dual, int, str]:
    """Accelerated projected dual ascent from ``z0``.

    Returns (the returned point: the optimum, or the point of smallest violation; the last
    point; dual steps taken; status). A step that lowers the dual value is rejected and the
    momentum reset; when that happens to a step without momentum the step length is halved.
    """
    fmax_half = 0.5 * max(prob.eta, 1.0 - prob.eta) ** 2
    hard = not math.isfinite(prob.bound)
    z, y = z0.copy(), z0.copy()
    momentum = 1.0
    pt = _pass(table, y, prob)
    best, best_violation = y, math.inf
    status = "not_converged"
    iterations = 0
    bar = progress(total=max_iterations, desc="M4 dual ascent", unit="pass", disable=not show)
    while True:
        excess = _excess(pt, prob.tol)
        keep_res = _keep_residual(pt, prob)
        violation = max(excess, keep_res)
        if violation < best_violation:
            best, best_violation = y, violation
        if (keep_res <= _KEEP_TOL and _gap(pt, prob) <= _GAP_RTOL * pt.half_f + _GAP_ATOL
                and (excess <= _SLACK or not hard)):
            best, status = y, "optimal"
            break
        if hard and pt.dual > fmax_half:
            status = "infeasible"
            break
        if iterations >= max_iterations:
            break
        z_new, grad = _ascent_step(y, pt, prob, step)
        if _inner(grad, _diff(z_new, z)) < 0:  # momentum points downhill
            momentum = 1.0
        next_momentum = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * momentum ** 2))
        coef = (momentum - 1.0) / next_momentum
        y_new = _project(_lin(z_new, z, coef), prob)  # stay in the dual domain
        pt_new = _pass(table, y_new, prob)
        iterations += 1
        bar.update(1)
        if pt_new.dual < pt.dual - 1e-13 * (1.0 + abs(pt.dual)):
            if coef == 0.0:
                step *= 0.5
            z, momentum = y, 1.0
            continue
        z, y, pt, momentum = z_new, y_new, pt_new, next_momentum
    bar.close()
    return best, y, iterations, status


def _check_options(eps_representation: float, eps_association: float, keep_rate: float,
                   enforcement: float | None, max_iterations: int) -> None:
    for name, value in (("eps_representation", eps_representation),
                        ("eps_association", eps_association)):
        if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite non-negative number; got {value!r}")
    if not isinstance(keep_rate, int | float) or not 0 < keep_rate <= 1:
        raise ValueError(f"keep_rate must lie in (0, 1] (the share of examples kept); got "
                         f"{keep_rate!r}")
    if enforcement is not None and (not isinstance(enforcement, int | float)
                                    or not math.isfinite(enforcement) or enforcement <= 0):
        raise ValueError("enforcement must be None (hard constraints) or a positive finite bound "
                         f"on the dual variables (soft constraints); got {enforcement!r}")
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, int) or max_iterations < 1:
        raise ValueError(f"max_iterations must be a positive integer; got {max_iterations!r}")


def _before(table: BalanceTable) -> tuple[MomentStatistics, np.ndarray, float]:
    """Statistics of the table as it is, and the diagonal curvature terms of the dual.

    Returns (statistics, ``mean_i d_ik^2 x_ij / w_i`` (m, J), ``mean_i 1 / w_i``); ``x`` is
    binary, so ``x^2 = x``.
    """
    sums = np.zeros((table.m, 1 + table.c + table.p))
    square = np.zeros_like(sums)
    inv_w = 0.0
    for _, _, d, x, w in table.batches():
        sums += d.T @ x
        square += (d * d / w[:, None]).T @ x
        inv_w += float(np.sum(1.0 / w))
    n = table.n
    return statistics_from_sums(sums, float(n), table.c), square / n, inv_w / n


def m4(s: object, y: object, *, target: object = None, eps_representation: float = 0.01,
       eps_association: float = 0.01, keep_rate: float = 0.9, fixed_keep_rate: bool = True,
       enforcement: float | None = None, utility: object = None, proxies: object = None,
       batch_size: int | None = None, seed: int = 0, max_iterations: int = 20000,
       progress: bool = True) -> M4Result:
    """Keep probabilities ``q`` (n,) that balance ``(s, y)``: the M4 problem of the module docstring.

    ``s`` (n, m) 0/1 sensitive-attribute indicators (multi-hot allowed; a row of zeros: the
    example carries no attribute of the family), ``y`` (n, c) 0/1 labels, ``target`` (m,)
    proportions within the family (default uniform), ``eps_representation`` the tolerance on
    ``|sum q d_k / sum q|``, ``eps_association`` on ``|sum q d_k y_r / sum q|`` and on the proxy
    terms ``|sum q d_k z_j / sum q|`` for ``proxies`` (n, p) 0/1, ``keep_rate`` ``eta`` in (0, 1],
    ``fixed_keep_rate`` ``mean(q) = eta`` (else ``<= eta``), ``enforcement`` None for hard
    constraints or a bound ``V`` on the dual variables (soft constraints), ``utility`` (n,)
    positive weights of the objective, ``batch_size`` rows per streamed batch, ``seed`` the
    nested row subsamples whose solutions warm-start the full problem (sizes
    65,536 x 8^k) and the step-size estimate, ``progress`` a bar over the dual passes on the
    full table. Memory beyond the inputs and ``q`` is
    ``O(batch_size * m * (1 + c + p))``.

    Statistics are met to ``E + 1e-9`` (the solver works with tolerances ``0.5%`` tighter).
    An infeasible setting (for example a keep rate too high for the tolerances) comes back with
    ``feasible=False`` and the point of smallest violation reached.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> s = (rng.random((2000, 1)) < np.array([0.6]))
    >>> s = np.hstack([s, ~s])
    >>> y = rng.random((2000, 3)) < 0.3
    >>> res = m4(s, y, keep_rate=0.8)
    >>> res.feasible, bool(abs(res.after.representation).max() <= 0.01 + 1e-9)
    (True, True)
    """
    _check_options(eps_representation, eps_association, keep_rate, enforcement, max_iterations)
    table = make_table(s, y, target=target, proxies=proxies, utility=utility,
                       batch_size=batch_size)
    before, square, inv_w = _before(table)
    tol = np.full((table.m, 1 + table.c + table.p), float(eps_association))
    tol[:, 0] = eps_representation
    tol_inner = tol * (1.0 - _MARGIN)
    precond = np.maximum(square + tol_inner ** 2 * inv_w, 1e-12)
    prob = _Problem(eta=float(keep_rate), fixed=bool(fixed_keep_rate), tol=tol,
                    tol_inner=tol_inner, bound=math.inf if enforcement is None else float(enforcement),
                    precond=precond, precond_nu=inv_w)
    step = 1.0 / (1.2 * _curvature(table, prob, seed))
    z0 = _Dual(np.zeros_like(tol), np.zeros_like(tol), 0.0)
    warm_iterations = 0
    sizes = []
    size = _WARM_ROWS
    while 2 * size < table.n:
        sizes.append(size)
        size *= _WARM_FACTOR
    if sizes:  # nested uniform subsamples, smallest first; each solution starts the next
        order = np.random.default_rng([seed, 1]).permutation(table.n)
        for size in sizes:
            _, z0, used, _ = _solve(table.subset(np.sort(order[:size])), prob, z0, step,
                                    max_iterations, show=False)
            warm_iterations += used
    z, _, iterations, status = _solve(table, prob, z0, step, max_iterations, show=progress)
    q = np.empty(table.n)
    pt = _pass(table, z, prob, out=q)
    if pt.keep > 0:
        after = statistics_from_sums(pt.sums, pt.keep, table.c)
    else:
        nan = np.full_like(tol, np.nan)
        after = MomentStatistics(nan[:, 0], nan[:, 1:1 + table.c], nan[:, 1 + table.c:], 0.0)
    feasible = pt.keep > 0 and _excess(pt, tol) <= _SLACK and _keep_residual(pt, prob) <= _KEEP_TOL
    return M4Result(
        q=q, before=before, after=after,
        violation_before=before.violation(eps_representation, eps_association),
        violation_after=after.violation(eps_representation, eps_association) if pt.keep > 0
        else math.inf,
        keep_rate=pt.keep, objective=2.0 * pt.half_f, iterations=iterations,
        warm_start_iterations=warm_iterations, feasible=bool(feasible), status=status,
        duality_gap=_gap(pt, prob), multipliers=z.plus - z.minus, keep_multiplier=z.nu)
