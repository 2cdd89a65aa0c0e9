"""Ground truth per visitor, written outside the inputs (landing/_truth/).

Tests and evaluation compare what the pipeline recovers (personas from clustering, stitched
identities, order counts) with what was planted here.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from seglake.generate.columns import Transform, pick
from seglake.generate.context import GenContext
from seglake.generate.personas import PERSONA_NAMES, PURCHASE
from seglake.generate.sessions import anonymous_id, session_outcome

TRUTH_COLUMNS = ("customer_id", "persona", "is_bot", "anonymous_ids", "expected_orders")


def truth_rows(ctx: GenContext) -> Transform:
    """Visitors -> truth rows (customer_id is empty for bots), with sort key vkey."""
    vkey, n = F.col("vkey"), F.col("n_sessions")
    # Counted from the same outcome draw the sessions use, without building sessions.
    online_orders = F.size(
        F.filter(
            F.sequence(F.lit(0), n),
            lambda s: (s < n) & (session_outcome(ctx, vkey, s, F.col("persona")) == PURCHASE),
        )
    )
    anonymous_ids = F.concat_ws(
        ";",
        anonymous_id(ctx, vkey, F.lit(0)),
        F.when(F.col("n_devices") == 2, anonymous_id(ctx, vkey, F.lit(1))),
    )
    columns = [
        "vkey",
        "customer_id",
        pick(PERSONA_NAMES, F.col("persona")).alias("persona"),
        F.col("is_bot").cast("string").alias("is_bot"),
        anonymous_ids.alias("anonymous_ids"),
        "expected_orders",
    ]

    def transform(visitors: DataFrame) -> DataFrame:
        # Two steps: in one select, "persona" inside the lambda would resolve to the
        # persona-name alias defined next to it (lateral column alias resolution).
        counted = visitors.withColumn("expected_orders", online_orders + F.col("n_store_orders"))
        return counted.select(*columns)

    return transform
