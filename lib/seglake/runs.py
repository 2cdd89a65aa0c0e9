"""Run metadata passed into transforms, so transforms never read the clock themselves."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone


@dataclass(frozen=True)
class RunContext:
    run_id: str
    started_at: datetime  # UTC, naive: Spark's session time zone is UTC

    @classmethod
    def start(cls) -> RunContext:
        now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
        return cls(run_id=now.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8], started_at=now)
