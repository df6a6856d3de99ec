"""Ground truth: tiny CLIPs learn the world, and the bias metrics recover the planted bias.

One sweep trains the default tiny architecture on worlds with planted association 0, 0.25, 0.5,
0.75 and 1 (seed 0), plus a second seed at 0, and measures EAT d/p in four modality orders,
MaxSkew@100 of concept queries and zero-shot accuracy (fixed seeds; deterministic).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from clipbias.interventions.train import TrainConfig
from clipbias.studies.synthetic_validation import SweepConfig, planted_bias_sweep, sweep_summary

LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)
TRAIN = TrainConfig(steps=150)


@pytest.fixture(scope="module")
def sweep() -> pd.DataFrame:
    main = planted_bias_sweep(SweepConfig(levels=LEVELS, seeds=(0,), train=TRAIN,
                                          n_permutations=2000), progress=False, threads=1)
    zero = planted_bias_sweep(SweepConfig(levels=(0.0,), seeds=(1,), train=TRAIN,
                                          n_permutations=2000), progress=False, threads=1)
    return pd.concat([main, zero], ignore_index=True)


def _concept(sweep: pd.DataFrame, metric: str) -> pd.DataFrame:
    return sweep[(sweep["metric"] == metric) & (sweep["category"] == "Concept")]


def test_default_tiny_model_learns_the_concepts(sweep):
    acc = sweep[(sweep["metric"] == "zero_shot") & (sweep["level"] == 0.5)]["value"]
    assert acc.min() >= 0.90


def test_eat_effect_size_rises_with_planted_association(sweep):
    d = _concept(sweep, "eat_d").query("seed == 0").groupby("level")["value"].mean()
    assert list(d.index) == list(LEVELS)
    rho = spearmanr(d.index, d.to_numpy()).statistic
    assert rho >= 0.9
    assert d.loc[1.0] - d.loc[0.0] > 0.5


def test_no_planted_association_measures_no_bias(sweep):
    at_zero = _concept(sweep, "eat_d").query("level == 0.0")["value"]
    top = _concept(sweep, "eat_d").query("level == 1.0")["value"].mean()
    assert len(at_zero) == 8  # 4 orders x 2 seeds
    assert abs(at_zero.mean()) < 0.4 < top
    p = _concept(sweep, "eat_p").query("level == 0.0")["value"].to_numpy()
    assert (p < 0.05).mean() <= 0.25
    assert np.median(p) > 0.2


def test_max_skew_rises_with_planted_association(sweep):
    skew = _concept(sweep, "max_skew").query("seed == 0").groupby("level")["value"].mean()
    rho = spearmanr(skew.index, skew.to_numpy()).statistic
    assert rho >= 0.9
    assert skew.loc[1.0] > 2 * skew.loc[0.0]


def test_sweep_summary_states_the_same_figures(sweep):

    levels, figures = sweep_summary(sweep)
    d = _concept(sweep, "eat_d").groupby("level")["value"].mean()
    assert figures["eat_d_at_zero"] == pytest.approx(d.loc[0.0])
    assert figures["eat_d_at_max"] == pytest.approx(d.loc[1.0])
    assert set(levels["metric"]) == {"eat_d", "max_skew", "zero_shot"}
    assert levels.query("metric == 'eat_d' and level == 0.0")["n"].item() == 8
