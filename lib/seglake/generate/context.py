"""Everything a chunk's transforms need, derived once from the generator config."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from seglake.config.schema import GeneratorConfig
from seglake.generate.columns import ChoiceTable, Rng
from seglake.generate.personas import Budget, Calendar, group_tables


@dataclass(frozen=True)
class Chunk:
    """A slice of customers [first_customer, end_customer) plus every bot b with
    b % chunks == index, so bots spread evenly and each visitor lives in one chunk."""

    index: int
    first_customer: int
    end_customer: int


@dataclass(frozen=True)
class GenContext:
    cfg: GeneratorConfig
    rng: Rng
    calendar: Calendar
    budget: Budget
    tables: dict[str, ChoiceTable]

    @classmethod
    def of(cls, cfg: GeneratorConfig) -> GenContext:
        return cls(
            cfg=cfg,
            rng=Rng(cfg.seed),
            calendar=Calendar.of(cfg),
            budget=Budget.of(cfg),
            tables=group_tables(),
        )

    def chunks(self) -> Iterator[Chunk]:
        size = self.budget.customers_per_chunk
        for index in range(self.budget.chunks):
            first = index * size
            yield Chunk(index, first, min(first + size, self.budget.customers))
