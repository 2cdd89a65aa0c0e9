"""Which product an event is about, as a pure function of (visitor, session, position).

Events, orders and reviews each need "the product at position k of session s"; deriving
it from the same keys everywhere keeps them consistent without joining anything.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from seglake.generate.context import GenContext
from seglake.generate.vocab import CATEGORIES, PRODUCTS_PER_CATEGORY

# Share of a session's product events that stay in the session's focus category.
FOCUS_SHARE = 0.75
# Popularity skew: product number = floor(N * u^POPULARITY), so low numbers sell most.
POPULARITY = 2.5


def category_at(ctx: GenContext, k: Column) -> Column:
    """Category index of the event at position k (needs vkey, s, persona, focus_category)."""
    keys = (F.col("vkey"), F.col("s"), k)
    return F.when(ctx.rng.uniform("category/focus", *keys) < FOCUS_SHARE, F.col("focus_category")).otherwise(
        ctx.tables["category"].choose(F.col("persona"), ctx.rng.uniform("category", *keys))
    )


def product_number_at(ctx: GenContext, k: Column) -> Column:
    u = ctx.rng.uniform("product", F.col("vkey"), F.col("s"), k)
    return F.floor(F.lit(PRODUCTS_PER_CATEGORY) * F.pow(u, F.lit(POPULARITY))).cast("int")


def product_id(category: Column, number: Column) -> Column:
    return F.format_string("P%02d%04d", category + 1, number)


def product_price(ctx: GenContext, category: Column, number: Column) -> Column:
    """Catalogue price: fixed per product (keyed on the product, not the event)."""
    median = F.element_at(F.array(*[F.lit(c.price) for c in CATEGORIES]), category + 1)
    price = median * F.exp(F.lit(0.45) * ctx.rng.normal("price", category, number))
    return F.greatest(F.round(price, 2), F.lit(0.99)).cast("decimal(10,2)")
