"""Adapting a pretrained CLIP to a downstream task, and measuring the bias that comes out.

- :func:`fit_linear_probe` (:mod:`.linear_probe`): a classifier on frozen image embeddings;
- :func:`fit_projector` (:mod:`.projector`): a map of image embeddings into a frozen text space
  (the stand-in for LLaVA's vision-to-language projector);
- :func:`finetune` (:mod:`.finetune`): full fine-tuning of a tiny synthetic CLIP;
- :mod:`.tasks`: synthetic downstream worlds with a planted downstream-data bias, and balanced
  test worlds; :mod:`.bias`: downstream bias measures signed towards the stereotype;
- :mod:`.table`: the downstream-bias table users with real downstream models supply;
- :func:`ols_bootstrap` (:mod:`.causal`): the causal grid's regression.
"""

from clipbias.interventions.adapt.bias import stereotype_gap, stereotype_skew
from clipbias.interventions.adapt.causal import ols_bootstrap
from clipbias.interventions.adapt.finetune import finetune
from clipbias.interventions.adapt.linear_probe import LinearProbe, fit_linear_probe
from clipbias.interventions.adapt.projector import LOSSES, Projector, fit_projector
from clipbias.interventions.adapt.table import (
    DOWNSTREAM_COLUMNS,
    check_downstream_table,
    read_downstream_table,
)
from clipbias.interventions.adapt.tasks import (
    TASK_METRICS,
    TASKS,
    balanced_test_world,
    downstream_config,
)

__all__ = [
    "DOWNSTREAM_COLUMNS", "LOSSES", "TASKS", "TASK_METRICS", "LinearProbe", "Projector",
    "balanced_test_world", "check_downstream_table", "downstream_config", "finetune",
    "fit_linear_probe", "fit_projector", "ols_bootstrap", "read_downstream_table",
    "stereotype_gap", "stereotype_skew",
]
