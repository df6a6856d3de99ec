"""Biased-prompt projection (Chuang et al. 2023): remove spurious-attribute directions from text.

Closed form. ``Z_s`` (K, d) holds the unit embeddings of K spurious prompts ("a photo of a male",
"a photo of a female"); ``P0 = I - Z_s^T (Z_s Z_s^T)^+ Z_s`` projects onto the orthogonal
complement of their span. Calibration pairs ``(z_i, z_j)`` differ only in the attribute ("a photo
of a male doctor" / "... female doctor"); with ``M = (1/|S|) sum (z_i - z_j)(z_i - z_j)^T`` the
calibrated projection is

    P* = P0 (I + lambda M)^-1,

the minimiser of ``||P - P0||_F^2 + (lambda / |S|) sum ||P z_i - P z_j||^2`` (set the gradient
``2 (P - P0) + 2 lambda P M`` to zero). A text embedding ``t`` becomes ``normalize(P* t)``; images
are untouched.
"""

from __future__ import annotations

import numpy as np

__all__ = ["calibrated_projection", "calibration_matrix", "project_texts", "spurious_projection"]


def _matrix(x, name: str, *, dim: int | None = None) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 1:
        raise ValueError(f"{name} must be a 2-d array (n, d) with n >= 1, got shape {a.shape}")
    if dim is not None and a.shape[1] != dim:
        raise ValueError(f"{name} must have {dim} columns (the embedding dimension), "
                         f"got {a.shape[1]}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} holds NaN or infinite values; drop rows that failed to embed")
    return a


def spurious_projection(spurious) -> np.ndarray:
    """``P0 = I - Z^T (Z Z^T)^+ Z``: the orthogonal projector onto the complement of the span of
    the spurious prompt embeddings ``spurious`` (K, d). Returns (d, d), symmetric, idempotent."""
    z = _matrix(spurious, "spurious")
    return np.eye(z.shape[1]) - z.T @ np.linalg.pinv(z @ z.T) @ z


def calibration_matrix(first, second) -> np.ndarray:
    """``M = (1/|S|) sum_i (a_i - b_i)(a_i - b_i)^T`` over paired rows of ``first`` and
    ``second`` (|S|, d): prompts that differ only in the attribute. Returns (d, d)."""
    a = _matrix(first, "first")
    b = _matrix(second, "second", dim=a.shape[1])
    if a.shape != b.shape:
        raise ValueError(f"first and second must pair row by row, got {a.shape} and {b.shape}")
    diff = a - b
    return diff.T @ diff / diff.shape[0]


def calibrated_projection(spurious, first, second, *, lam: float = 1000.0) -> np.ndarray:
    """``P* = P0 (I + lam M)^-1`` (module docstring); ``lam = 0`` gives ``P0``.

    Args:
        spurious: (K, d) unit embeddings of the spurious prompts.
        first, second: (|S|, d) unit embeddings of the calibration pairs, row i of one against
            row i of the other.
        lam: calibration strength lambda >= 0 (Chuang et al.: 1000 for discriminative models).

    Returns:
        (d, d) matrix to apply to column vectors (``project_texts`` applies it to rows).
    """
    if not np.isfinite(lam) or lam < 0:
        raise ValueError(f"lam must be a finite number >= 0, got {lam}")
    p0 = spurious_projection(spurious)
    m = calibration_matrix(first, second)
    if m.shape[0] != p0.shape[0]:
        raise ValueError(f"calibration pairs have dimension {m.shape[0]}, spurious prompts "
                         f"{p0.shape[0]}: embed them with one model")
    return p0 @ np.linalg.inv(np.eye(m.shape[0]) + lam * m)


def project_texts(projection, texts) -> np.ndarray:
    """``normalize(P t)`` for every row ``t`` of ``texts`` (n, d); returns float32 (n, d)."""
    p = np.asarray(projection, dtype=np.float64)
    t = _matrix(texts, "texts", dim=p.shape[0])
    out = t @ p.T
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError("a projected text embedding is zero: the text lies in the span of the "
                         "spurious prompts; use other spurious prompts or a smaller lam")
    return (out / norms).astype(np.float32)
