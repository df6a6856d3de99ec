"""The synthetic world: a seeded image-caption universe with planted group-concept associations.

Knobs in :class:`WorldConfig`; :func:`generate_world` draws and renders a world in memory;
:func:`world_manifest` writes it to the cache as a manifest; :data:`PRETRAINING_DATASETS` names
the zoo's datasets (:func:`planted_truth` states what each plants); :func:`eat_specs` is the
synthetic battery; :func:`benchmark_world` the held-out benchmark; :func:`appearance_overlap`
the perceptual confounds between concept objects and group figures; :func:`evaluation_set` and
:data:`EVAL_DEFAULTS` the studies' shared evaluation scenes and metric defaults.
"""

from clipbias.data.synthetic.benchmark import benchmark_config, benchmark_world
from clipbias.data.synthetic.captions import (
    TEMPLATES,
    article,
    caption,
    concept_prompts,
    group_prompts,
    swap_groups,
)
from clipbias.data.synthetic.config import (
    CONCEPTS,
    CONTEXTS,
    GROUPS,
    Concept,
    Context,
    Group,
    WorldConfig,
    stereotyped_group,
)
from clipbias.data.synthetic.confounds import appearance_overlap, confound_margins
from clipbias.data.synthetic.datasets import (
    PRETRAINING_DATASETS,
    PretrainingDataset,
    planted_truth,
    pretraining_dataset,
)
from clipbias.data.synthetic.evaluation import (
    EVAL_DEFAULTS,
    EVAL_KINDS,
    EvalDefaults,
    evaluation_config,
    evaluation_set,
)
from clipbias.data.synthetic.render import SHAPES, render_scenes
from clipbias.data.synthetic.stimuli import eat_specs
from clipbias.data.synthetic.world import (
    GENERATOR_VERSION,
    World,
    build_world,
    generate_world,
    world_manifest,
    world_rng,
)

__all__ = [
    "CONCEPTS", "CONTEXTS", "EVAL_DEFAULTS", "EVAL_KINDS", "GENERATOR_VERSION", "GROUPS",
    "PRETRAINING_DATASETS", "SHAPES", "TEMPLATES", "Concept", "Context", "EvalDefaults", "Group",
    "PretrainingDataset", "World", "WorldConfig", "appearance_overlap", "article",
    "benchmark_config", "benchmark_world", "build_world", "caption", "concept_prompts",
    "confound_margins", "eat_specs", "evaluation_config", "evaluation_set", "generate_world",
    "group_prompts", "planted_truth", "pretraining_dataset", "render_scenes", "stereotyped_group",
    "swap_groups", "world_manifest", "world_rng",
]
