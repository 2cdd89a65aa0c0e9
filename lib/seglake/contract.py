"""The input contract: seglake's canonical column names for each tabular source.

A company's files may name columns differently; `sources.<name>.columns` in conf/ maps
canonical names onto theirs. Everything after ingestion speaks these names.
"""

ORDER_COLUMNS = ("order_id", "customer_id", "order_ts", "amount", "currency", "channel", "items")
PROFILE_COLUMNS = (
    "customer_id", "email", "first_name", "last_name", "phone", "birth_date", "gender", "city",
    "postal_code", "country", "income_band", "household_size", "consent_marketing", "consent_profiling",
    "updated_at",
)  # fmt: skip
# Without these a source cannot be ingested at all: a missing one is a mapping mistake.
REQUIRED_COLUMNS = {
    "transactions": ("order_id", "customer_id", "order_ts", "amount"),
    "profiles": ("customer_id", "updated_at"),
}
