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
(the objective halved) is concave and piecewise quadratic, with gradient
``(S - E Q, -S - E Q, Q - eta)`` where ``S = mean_i q_i b_i`` and ``Q = mean_i q_i``, and
Hessian ``-(1/n) sum_i a_i a_i^T / w_i`` over the rows with ``0 < q_i < 1``
(``a_i = (b_i - E, -b_i - E, 1)``): the dual has only ``2 m J + 1`` variables. The solver takes
damped projected Newton steps on ``D``; every trial point is one streamed pass over the rows. On
tables of more than ``_HESSIAN_ROWS`` rows the Hessian comes from a uniform row subsample, on
which the problem is solved first (the warm start). ``enforcement=V`` bounds the multipliers by
``V`` (soft constraints: the exact-penalty problem ``f/2 + V sum max(0, |S| - E Q)``). A hard
problem proved infeasible is re-solved at the smallest uniform relaxation of the tolerances that
is feasible (bisection), so ``q`` then has the smallest worst-case violation the keep rate
allows.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_limits

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
#: Rows of the uniform subsample that gives the Hessian of the dual (and, on larger tables, the
#: warm start: the problem solved on the subsample first).
_HESSIAN_ROWS = 1 << 17
#: A step is accepted when ``D`` rises by at least this share of its first-order prediction.
_ARMIJO = 1e-4
#: Levenberg-Marquardt damping ``delta`` of the Newton system (relative to the diagonal ``P``):
#: first value from zero multipliers (far from the optimum: short steps) and from a warm start,
#: floor, and the factor by which a rejected step raises it (an accepted one lowers it).
_DAMP_COLD = 1.0
_DAMP_WARM = 1e-6
_DAMP_MIN = 1e-10
_DAMP_FACTOR = 10.0
#: Relative width at which the bisection for the smallest feasible relaxation stops.
_RELAX_RTOL = 1e-2


@dataclasses.dataclass(frozen=True)
class M4Result:
    """The outcome of :func:`m4`.

    ``q`` (n,) keep probabilities; ``before`` / ``after`` the moment statistics of the table and
    of the expected distribution given by ``q``; ``violation_before`` / ``violation_after`` the
    largest excess of a statistic over its tolerance (0 when balanced); ``keep_rate`` the
    achieved ``mean(q)``; ``objective`` ``f(q)``, the (utility-weighted) mean of
    ``(q_i - keep_rate)^2``; ``iterations`` Newton trial points evaluated on the full table, one
    streamed pass each (``warm_start_iterations`` on the row subsample before); ``feasible``
    true only when every statistic is within tolerance and the keep-rate condition holds;
    ``status`` one of ``"optimal"``, ``"infeasible"`` (proved: the dual value exceeds every
    feasible objective), ``"not_converged"``; ``duality_gap`` ``f/2 - D`` at the returned point
    (hard mode: a bound on the suboptimality of ``f/2``); ``multipliers`` (m, J) the signed dual
    variables ``lam+ - lam-`` and ``keep_multiplier`` ``nu``. When ``feasible`` is false, ``q``
    is the point of smallest violation reached and must not be used as balanced.
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
    """The dual in one flat vector ``z = (vec lam+, vec lam-, nu)`` of length ``2 m J + 1``."""

    eta: float
    fixed: bool
    tol: np.ndarray  # (m, J) original tolerances E
    tol_inner: np.ndarray  # (m, J) tightened tolerances the dual works with
    bound: float  # upper bound on the multipliers (inf: hard constraints)
    scale: np.ndarray  # (2mJ + 1,) diagonal of the dual's Gram matrix on the full table
    lower: np.ndarray  # (2mJ + 1,) bounds of z: lam in [0, bound], nu free or >= 0
    upper: np.ndarray


@dataclasses.dataclass(frozen=True)
class _Pass:
    sums: np.ndarray  # S = mean_i q_i b_i (m, J)
    keep: float  # Q = mean_i q_i
    half_f: float  # f(q) / 2
    dual: float  # D at the tightened tolerances


def _split(z: np.ndarray, prob: _Problem) -> tuple[np.ndarray, float]:
    """``(mu, shift)``: ``t_i = <mu, b_i> - shift`` with ``mu = lam+ - lam-`` (m, J)."""
    k = prob.tol.size
    plus, minus = z[:k].reshape(prob.tol.shape), z[k:2 * k].reshape(prob.tol.shape)
    return plus - minus, float(np.sum((plus + minus) * prob.tol_inner)) - float(z[-1])


def _pass(table: BalanceTable, z: np.ndarray, prob: _Problem,
          out: np.ndarray | None = None) -> _Pass:
    """One streamed pass: q from the closed form, its moments, objective and dual value."""
    mu, shift = _split(z, prob)
    sums = np.zeros_like(mu)
    keep = sq = lin = 0.0
    for start, stop, rows, d, x, w in table.carrier_batches():
        t_carriers = np.einsum("ik,ik->i", d, x @ mu.T) - shift
        if rows is None:
            t = t_carriers
        else:  # d_i = 0 for the others: t_i = -shift
            t = np.full(stop - start, -shift)
            t[rows] = t_carriers
        q = np.clip(prob.eta - t / w, 0.0, 1.0)
        sums += (d * (q if rows is None else q[rows])[:, None]).T @ x
        keep += float(q.sum())
        dev = q - prob.eta
        sq += float(np.dot(w * dev, dev))
        lin += float(np.dot(q, t))
        if out is not None:
            out[start:stop] = q
    n = table.n
    return _Pass(sums / n, keep / n, sq / (2 * n), (sq / 2 + lin) / n - float(z[-1]) * prob.eta)


def _gradient(pt: _Pass, prob: _Problem) -> np.ndarray:
    """``dD/dz = (S - E Q, -S - E Q, Q - eta)`` (2mJ + 1,)."""
    s, e = pt.sums.ravel(), prob.tol_inner.ravel()
    return np.concatenate([s - e * pt.keep, -s - e * pt.keep, [pt.keep - prob.eta]])


def _hessian(table: BalanceTable, z: np.ndarray, prob: _Problem, free: np.ndarray) -> np.ndarray:
    """Minus the Hessian of ``D`` in the coordinates ``free``, on ``table``: a (F, F) matrix.

    ``-d^2 D/dz^2 = (1/n) sum_i [0 < eta - t_i / w_i < 1] a_i a_i^T / w_i`` with
    ``a_i = (b_i - E, -b_i - E, 1) = L (b_i, 1)`` (2mJ + 1,), ``L`` (2mJ + 1, mJ + 1) fixed; the
    clipped rows do not move with ``z``. Accumulates the (mJ + 1)-square Gram matrix of
    ``(b_i, 1) / sqrt(w_i)`` and maps it with ``L``.
    """
    mu, shift = _split(z, prob)
    k = prob.tol.size
    gram = np.zeros((k + 1, k + 1))
    for _, _, d, x, w in table.batches():
        raw = prob.eta - (np.einsum("ik,ik->i", d, x @ mu.T) - shift) / w
        inside = (raw > 0.0) & (raw < 1.0)
        rows = int(inside.sum())
        if rows == 0:
            continue
        root = np.sqrt(w[inside])[:, None]
        c = np.empty((rows, k + 1))
        c[:, :k] = (d[inside][:, :, None] * x[inside][:, None, :]).reshape(rows, k)
        c[:, k] = 1.0
        c /= root
        gram += c.T @ c
    e = prob.tol_inner.ravel()
    lift = np.zeros((2 * k + 1, k + 1))
    lift[:k, :k], lift[k:2 * k, :k] = np.eye(k), -np.eye(k)
    lift[:2 * k, k] = np.concatenate([-e, -e])
    lift[2 * k, k] = 1.0
    lift = lift[free]
    return lift @ gram @ lift.T / table.n


def _free(z: np.ndarray, grad: np.ndarray, prob: _Problem) -> np.ndarray:
    """Indices of the coordinates the Newton step moves.

    A coordinate at a bound whose gradient points out of the domain stays; of the two
    multipliers of one constraint at most one moves (the other is zero and stays zero, so
    ``lam+ * lam- = 0`` throughout and ``lam+ - lam-`` changes sign through zero).
    """
    k = prob.tol.size
    free = ~(((z <= prob.lower) & (grad <= 0)) | ((z >= prob.upper) & (grad >= 0)))
    free[k:2 * k] &= ~(z[:k] > 0)
    free[:k] &= ~(z[k:2 * k] > 0)
    return np.flatnonzero(free)


def _violation(pt: _Pass, prob: _Problem, tol: np.ndarray) -> tuple[float, float]:
    """(largest ``|S| / Q - tol``, inf when nothing is kept; keep-rate residual)."""
    gap = pt.keep - prob.eta
    keep = abs(gap) if prob.fixed else max(0.0, gap)
    if not pt.keep > 0:
        return math.inf, keep
    return float(np.max(np.abs(pt.sums) / pt.keep - tol)), keep


def _gap(pt: _Pass, prob: _Problem) -> float:
    """Primal minus dual value of the problem being solved (penalised in soft mode)."""
    primal = pt.half_f
    if math.isfinite(prob.bound):
        primal += prob.bound * float(np.sum(np.maximum(
            0.0, np.abs(pt.sums) - prob.tol_inner * pt.keep)))
    return primal - pt.dual


def _solve(table: BalanceTable, curvature: BalanceTable, prob: _Problem, z0: np.ndarray,
           max_iterations: int, show: bool) -> tuple[np.ndarray, int, str]:
    """Damped projected Newton ascent of ``D`` on ``table`` from ``z0``.

    Each step solves ``(H_FF + delta diag(P_F)) s_F = grad_F`` on the free coordinates ``F``
    (:func:`_free`), with ``H`` the Hessian of :func:`_hessian` measured on ``curvature`` (the
    table itself or a row subsample of it) and ``P`` the Gram diagonal of the full table, and
    moves to the projection of ``z + s`` onto the domain. A trial that raises ``D`` by less than
    ``_ARMIJO`` times ``grad . (z_new - z)`` is rejected and ``delta`` raised tenfold (towards a
    short diagonally scaled gradient step); an accepted one lowers it tenfold. Returns (the
    optimum, or the point of smallest violation reached; trial points evaluated; status).
    """
    fmax_half = 0.5 * max(prob.eta, 1.0 - prob.eta) ** 2
    hard = not math.isfinite(prob.bound)
    z = z0.copy()
    pt = _pass(table, z, prob)
    best, best_violation = z, math.inf
    status = "not_converged"
    iterations = 0
    damping = _DAMP_WARM if z0.any() else _DAMP_COLD
    bar = progress(desc="M4 Newton steps", unit="pass", disable=not show)
    while True:
        excess, keep_res = _violation(pt, prob, prob.tol)
        if max(excess, keep_res) < best_violation:
            best, best_violation = z, max(excess, keep_res)
        if (keep_res <= _KEEP_TOL and _gap(pt, prob) <= _GAP_RTOL * pt.half_f + _GAP_ATOL
                and (excess <= _SLACK or not hard)):
            best, status = z, "optimal"
            break
        if hard and pt.dual > fmax_half:
            status = "infeasible"
            break
        grad = _gradient(pt, prob)
        free = _free(z, grad, prob)
        root = np.sqrt(prob.scale[free])
        values, vectors = np.linalg.eigh(_hessian(curvature, z, prob, free) / np.outer(root, root))
        values = np.maximum(values, 0.0)
        rhs = vectors.T @ (grad[free] / root)
        accepted = False
        while not accepted and iterations < max_iterations:
            step = np.zeros_like(z)
            step[free] = vectors @ (rhs / (values + damping)) / root
            z_new = np.clip(z + step, prob.lower, prob.upper)
            if np.array_equal(z_new, z):  # the damped step no longer moves: stalled
                break
            pt_new = _pass(table, z_new, prob)
            iterations += 1
            bar.update(1)
            accepted = pt_new.dual >= pt.dual + _ARMIJO * float(grad @ (z_new - z))
            damping = (max(damping / _DAMP_FACTOR, _DAMP_MIN) if accepted
                       else damping * _DAMP_FACTOR)
        if not accepted:
            break
        z, pt = z_new, pt_new
    bar.close()
    return best, iterations, status


def _problem(tol: np.ndarray, square: np.ndarray, inv_w: float, keep_rate: float, fixed: bool,
             bound: float) -> _Problem:
    """The dual at tolerances ``tol`` (m, J); ``square``, ``inv_w`` from :func:`_before`."""
    tol_inner = tol * (1.0 - _MARGIN)
    gram = np.maximum(square + tol_inner ** 2 * inv_w, 1e-12).ravel()
    k = tol.size
    return _Problem(eta=float(keep_rate), fixed=fixed, tol=tol, tol_inner=tol_inner, bound=bound,
                    scale=np.concatenate([gram, gram, [inv_w]]),
                    lower=np.concatenate([np.zeros(2 * k), [-math.inf if fixed else 0.0]]),
                    upper=np.concatenate([np.full(2 * k, bound), [math.inf]]))


def _two_phase(table: BalanceTable, curvature: BalanceTable, prob: _Problem, z0: np.ndarray,
               max_iterations: int, show: bool) -> tuple[np.ndarray, int, int, str]:
    """:func:`_solve` on ``curvature`` (when it is a subsample) and then on the full table from
    that solution (from ``z0`` when the subsample's problem was not solved); returns (point,
    full-table trials, subsample trials, status)."""
    warm = 0
    if curvature is not table:
        z_sub, warm, status = _solve(curvature, curvature, prob, z0, max_iterations, show=False)
        if status == "optimal":
            z0 = z_sub
    z, iterations, status = _solve(table, curvature, prob, z0, max_iterations, show)
    return z, iterations, warm, status


def _least_violation(table: BalanceTable, curvature: BalanceTable,
                     relaxed: Callable[[float], _Problem], upper: float, z0: np.ndarray,
                     max_iterations: int, show: bool) -> tuple[np.ndarray, _Problem, int, int]:
    """For a proved infeasible problem: bisection on the relaxation ``tau`` of every tolerance.

    ``relaxed(tau)`` is the problem at tolerances ``E + tau``, feasible at ``tau = upper``.
    Returns the solution at the smallest ``tau`` found feasible once the bracket is within
    ``_RELAX_RTOL`` of it (the closest ``q`` to the keep rate whose largest excess over ``E``
    is at most ``tau``), its problem, and the trials on the full table and on the subsample.
    """
    prob = relaxed(upper)
    z, iterations, warm, _ = _two_phase(table, curvature, prob, z0, max_iterations, show)
    low, high = 0.0, upper
    while high - low > _RELAX_RTOL * high:
        mid = 0.5 * (low + high)
        trial = relaxed(mid)
        z_mid, used, used_warm, status = _two_phase(table, curvature, trial, z, max_iterations,
                                                    show)
        iterations, warm = iterations + used, warm + used_warm
        if status == "optimal":
            z, prob, high = z_mid, trial, mid
        elif status == "infeasible":
            low = mid
        else:  # undecided within max_iterations: keep the bracket found so far
            break
    return z, prob, iterations, warm


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
    for _, _, rows, d, x, w in table.carrier_batches():
        sums += d.T @ x
        square += (d * d / (w if rows is None else w[rows])[:, None]).T @ x
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
    uniform row subsample (131,072 rows) that gives the Hessian of the dual and the warm start on
    larger tables, ``max_iterations`` the most trial points per solve, ``progress`` a bar over
    the Newton trials on the full table. Memory beyond the inputs and ``q`` is
    ``O(batch_size * m * (1 + c + p))`` plus the subsample.

    Statistics are met to ``E + 1e-9`` (the solver works with tolerances ``0.5%`` tighter).
    An infeasible setting (for example a keep rate too high for the tolerances) comes back with
    ``feasible=False``, ``status="infeasible"`` and the ``q`` closest to the keep rate among
    those whose largest excess over the tolerances is at most ``tau``, the smallest such excess
    found by bisection (to 1%).

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
    bound = math.inf if enforcement is None else float(enforcement)

    def relaxed(tau: float) -> _Problem:
        return _problem(tol + tau, square, inv_w, keep_rate, bool(fixed_keep_rate), bound)

    prob = relaxed(0.0)
    z0 = np.zeros(2 * tol.size + 1)
    curvature = table
    if table.n > _HESSIAN_ROWS:  # a uniform row subsample: the warm start and H
        rows = np.random.default_rng(seed).choice(table.n, size=_HESSIAN_ROWS, replace=False)
        curvature = table.subset(np.sort(rows))
    # One BLAS thread: the products here are thin or small (a (B, J) block times (J, m), a
    # 205-square eigenproblem), and on a busy 2-core machine two BLAS threads made M4 7 to 10x
    # slower (measured). clipbias.threads.one_thread would also import torch, which M4 does not use.
    with threadpool_limits(limits=1, user_api="blas"):
        z, iterations, warm_iterations, status = _two_phase(table, curvature, prob, z0,
                                                            max_iterations, progress)
        if status == "infeasible":
            # the smallest relaxation of the tolerances that the data allow; q ~ keep_rate fits
            # them once tau exceeds the table's own violation (the margin is undone by the factor)
            upper = (before.violation(eps_representation, eps_association) * 1.01
                     + _MARGIN * float(tol.max())) / (1.0 - _MARGIN)
            z, prob, used, used_warm = _least_violation(table, curvature, relaxed, upper, z0,
                                                        max_iterations, progress)
            iterations, warm_iterations = iterations + used, warm_iterations + used_warm
        q = np.empty(table.n)
        pt = _pass(table, z, prob, out=q)
    if pt.keep > 0:
        after = statistics_from_sums(pt.sums, pt.keep, table.c)
    else:
        nan = np.full_like(tol, np.nan)
        after = MomentStatistics(nan[:, 0], nan[:, 1:1 + table.c], nan[:, 1 + table.c:], 0.0)
    excess, keep_res = _violation(pt, prob, tol)
    feasible = pt.keep > 0 and excess <= _SLACK and keep_res <= _KEEP_TOL
    mu, _ = _split(z, prob)
    return M4Result(
        q=q, before=before, after=after,
        violation_before=before.violation(eps_representation, eps_association),
        violation_after=after.violation(eps_representation, eps_association) if pt.keep > 0
        else math.inf,
        keep_rate=pt.keep, objective=2.0 * pt.half_f, iterations=iterations,
        warm_start_iterations=warm_iterations, feasible=bool(feasible), status=status,
        duality_gap=_gap(pt, prob), multipliers=mu, keep_multiplier=float(z[-1]))
