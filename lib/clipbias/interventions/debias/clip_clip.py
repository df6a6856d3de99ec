"""CLIP-clip (Wang et al. 2021, as run by Zhang et al. 2024): drop the embedding dimensions that
carry the most information about the protected attribute, in both modalities.

For every coordinate ``j`` of the (image) embeddings, the mutual information ``I(x_j; g)`` with
the group label ``g`` is estimated with scikit-learn's ``mutual_info_classif`` (the
Kraskov-Stoegbauer-Grassberger nearest-neighbour estimator for a continuous feature and a
discrete label, ``n_neighbors`` neighbours; Zhang et al. use the Mixed-KSG estimator of Gao et al.
2017 with k = 5, which equals KSG for continuous coordinates). The ``keep`` coordinates of
lowest MI are kept, in increasing index order, for images and texts alike.
"""

from __future__ import annotations

import numpy as np
from sklearn.feature_selection import mutual_info_classif

from clipbias.checks import check_int

__all__ = ["clip_dimensions", "dimension_information"]


def dimension_information(embeddings, groups, *, n_neighbors: int = 5, seed: int = 0
                          ) -> np.ndarray:
    """Estimated mutual information (nats) of each coordinate of ``embeddings`` (n, d) with the
    labels ``groups`` (n,); returns float64 (d,). Needs two groups or more, each with more than
    ``n_neighbors`` members."""
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be 2-d (n, d), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("embeddings hold NaN or infinite values")
    g = np.asarray(groups)
    if g.shape != (x.shape[0],):
        raise ValueError(f"groups must have one label per row ({x.shape[0]}), got {g.shape}")
    check_int(n_neighbors, "n_neighbors", low=1)
    check_int(seed, "seed", low=0)
    labels, counts = np.unique(g, return_counts=True)
    if len(labels) < 2:
        raise ValueError("groups must hold at least two distinct labels: the attribute has no "
                         "labels to inform about")
    if counts.min() <= n_neighbors:
        raise ValueError(f"every group needs more than n_neighbors={n_neighbors} members; the "
                         f"smallest has {counts.min()}")
    return mutual_info_classif(x, g, discrete_features=False, n_neighbors=n_neighbors,
                               random_state=int(seed) % 2**32)


def clip_dimensions(information, *, keep: int) -> np.ndarray:
    """Indices (increasing) of the ``keep`` coordinates of lowest ``information`` (d,); ties go to
    the lower index. Apply as ``x[:, kept]`` to images and texts."""
    mi = np.asarray(information, dtype=np.float64)
    if mi.ndim != 1 or not np.isfinite(mi).all():
        raise ValueError("information must be a finite 1-d array, one value per dimension")
    check_int(keep, "keep", low=1)
    if keep > mi.shape[0]:
        raise ValueError(f"keep must be at most the embedding dimension {mi.shape[0]}, got {keep}")
    order = np.argsort(mi, kind="stable")
    return np.sort(order[:keep])
