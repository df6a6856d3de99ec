"""The held-out synthetic benchmark: balanced scenes for zero-shot accuracy and retrieval skew.

The benchmark of a world has the world's vocabulary and image size but nothing planted
(association, imbalance and context correlation all 0), one figure per scene holding a visible
object (no neutral or object-free scenes), clean captions, and its own random stream
(``"benchmark"``), so no image is a training image. Training uses it to monitor zero-shot
accuracy; the studies evaluate on the exactly balanced set of
:mod:`clipbias.data.synthetic.evaluation`.
"""

from __future__ import annotations

from clipbias.data.synthetic.config import WorldConfig
from clipbias.data.synthetic.world import World, generate_world

__all__ = ["benchmark_config", "benchmark_world"]


def benchmark_config(config: WorldConfig, *, size: int = 1200) -> WorldConfig:
    """The neutral benchmark knobs for worlds like ``config`` (``size`` scenes)."""
    return config.replace(size=size, association=0.0, group_imbalance=0.0,
                          context_correlation=0.0, figures_per_scene=1, caption_noise=0.0,
                          neutral_share=0.0, object_free_share=0.0, object_visibility=1.0)


def benchmark_world(config: WorldConfig, *, size: int = 1200, seed: int = 0) -> World:
    """Held-out balanced scenes for worlds like ``config``: labels are ``world.concepts[:, 0]``
    (zero-shot classes) and ``world.groups[:, 0]`` (groups for retrieval skew)."""
    return generate_world(benchmark_config(config, size=size), seed=seed, stream="benchmark")
