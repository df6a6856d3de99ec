"""Data balancing: Multi-Modal Moment Matching (M4), its statistics and a seeded subset sampler."""

from clipbias.interventions.balance.sampler import (
    RealisedStatistics,
    draw_subset,
    realised_statistics,
)
from clipbias.interventions.balance.solver import M4Result, m4
from clipbias.interventions.balance.statistics import MomentStatistics, moment_statistics

__all__ = ["M4Result", "MomentStatistics", "RealisedStatistics", "draw_subset", "m4",
           "moment_statistics", "realised_statistics"]
