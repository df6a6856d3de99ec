"""Bias and similarity kernels: pure array-in, array-out functions (CPU or CUDA).

- :mod:`~clipbias.metrics.eat`, :mod:`~clipbias.metrics.eat_battery`,
  :mod:`~clipbias.metrics.eat_bootstrap`: embedding association tests (effect size, permutation
  tests, SC-EAT, bootstrap intervals, the batched battery);
- :mod:`~clipbias.metrics.retrieval`: MaxSkew/MinSkew/NDKL@k, recall@k and its group KL, Bias@k;
- :mod:`~clipbias.metrics.association`: zero-shot accuracy, representation and association bias,
  ABLE;
- :mod:`~clipbias.metrics.similarity`: linear CKA and mutual k-NN alignment;
- :mod:`~clipbias.metrics.stats`, :mod:`~clipbias.metrics.multiplicity`,
  :mod:`~clipbias.metrics.regression`: correlations with intervals, Holm/BH, mixed models
  (grouped and model-aware; :mod:`~clipbias.metrics.regression_sim` simulates their coverage).
"""

from clipbias.metrics.association import (
    AssociationBias,
    able,
    association_bias,
    preference,
    representation_bias,
    zero_shot_accuracy,
    zero_shot_correct,
)
from clipbias.metrics.eat import (
    EATResult,
    association_scores,
    effect_size,
    permutation_test,
    sc_effect_size,
    sc_permutation_test,
)
from clipbias.metrics.eat_battery import BATTERY_COLUMNS, EATRecord, run_eat_battery
from clipbias.metrics.eat_bootstrap import bootstrap_effect_size
from clipbias.metrics.multiplicity import benjamini_hochberg, holm
from clipbias.metrics.regression import (
    MixedLMFit,
    MixedLMFitError,
    check_full_rank,
    fit_mixedlm,
    fit_model_aware,
)
from clipbias.metrics.regression_sim import CoverageResult, simulate_coverage, zoo_layout
from clipbias.metrics.retrieval import (
    GroupRecallKL,
    bias_at_k,
    max_skew_at_k,
    min_skew_at_k,
    ndkl_at_k,
    recall_at_k,
    recall_kl_at_k,
    skew_at_k,
    top_k_indices,
)
from clipbias.metrics.similarity import (
    linear_cka,
    mutual_knn_alignment,
    pairwise_linear_cka,
    pairwise_mutual_knn,
)
from clipbias.metrics.stats import (
    CorrelationResult,
    correlation,
    correlation_table,
    fisher_z_interval,
)

__all__ = [
    "BATTERY_COLUMNS",
    "AssociationBias",
    "CorrelationResult",
    "CoverageResult",
    "EATRecord",
    "EATResult",
    "GroupRecallKL",
    "MixedLMFit",
    "MixedLMFitError",
    "able",
    "association_bias",
    "association_scores",
    "benjamini_hochberg",
    "bias_at_k",
    "bootstrap_effect_size",
    "check_full_rank",
    "correlation",
    "correlation_table",
    "effect_size",
    "fisher_z_interval",
    "fit_mixedlm",
    "fit_model_aware",
    "holm",
    "linear_cka",
    "max_skew_at_k",
    "min_skew_at_k",
    "mutual_knn_alignment",
    "ndkl_at_k",
    "pairwise_linear_cka",
    "pairwise_mutual_knn",
    "permutation_test",
    "preference",
    "recall_at_k",
    "recall_kl_at_k",
    "representation_bias",
    "run_eat_battery",
    "sc_effect_size",
    "sc_permutation_test",
    "simulate_coverage",
    "skew_at_k",
    "top_k_indices",
    "zero_shot_accuracy",
    "zero_shot_correct",
    "zoo_layout",
]
