"""Debiasing of CLIP embeddings, all on cached embeddings from the store (the encoders stay
frozen):

- :mod:`~clipbias.interventions.debias.projection`: biased-prompt projection with calibration
  (Chuang et al. 2023), text only;
- :mod:`~clipbias.interventions.debias.clip_clip`: CLIP-clip, dropping the dimensions most
  informative of the attribute in both modalities;
- :mod:`~clipbias.interventions.debias.joint`: the joint vision-language method of Zhang et al.
  (2024): residual MLPs, bias-alignment and counterfactual losses;
- :mod:`~clipbias.interventions.debias.bend`: a training-free test-time debiaser in the spirit of
  BendVLM (Gerych et al. 2024).

The formulas and where we chose are in ``book/methods/debiasing.md``.
"""

from clipbias.interventions.debias.bend import bend_queries, equal_distance
from clipbias.interventions.debias.clip_clip import clip_dimensions, dimension_information
from clipbias.interventions.debias.joint import (
    JointConfig,
    JointDebiaser,
    bias_alignment_loss,
    counterfactual_loss,
    train_joint,
)
from clipbias.interventions.debias.projection import (
    calibrated_projection,
    calibration_matrix,
    project_texts,
    spurious_projection,
)

__all__ = [
    "JointConfig",
    "JointDebiaser",
    "bend_queries",
    "bias_alignment_loss",
    "calibrated_projection",
    "calibration_matrix",
    "clip_dimensions",
    "counterfactual_loss",
    "dimension_information",
    "equal_distance",
    "project_texts",
    "spurious_projection",
    "train_joint",
]
