"""Engagement family: one composite score 0-100 with configurable weights."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from seglake.config.schema import EngagementComponent


def component(c: EngagementComponent) -> Column:
    """0 at `zero_at`, 1 at `full_at`, linear and clamped in between. A customer with no
    value (never visited, never ordered) has shown no engagement on it: 0, by definition
    of the score rather than by imputation."""
    scaled = (F.col(c.feature).cast("double") - c.zero_at) / (c.full_at - c.zero_at)
    return F.coalesce(F.least(F.greatest(scaled, F.lit(0.0)), F.lit(1.0)), F.lit(0.0))


def engagement_score(components: list[EngagementComponent]) -> Column:
    total = sum(c.weight for c in components)
    if not components or total <= 0:
        return F.lit(None).cast("double")
    weighted = sum((component(c) * (c.weight / total) for c in components), F.lit(0.0))
    return F.round(weighted * 100, 1)
