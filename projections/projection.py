"""What every read model is to the runner: a name, its tables, and how it applies a batch."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from event_store.log_reader import LoggedEvent
from projections.database import Cursor


class Projection(ABC):
    """A read model built from the event log.

    The runner calls :meth:`apply` inside one database transaction that also moves the
    projection's tracking position to the batch's last event, so ``apply`` must only write
    through the cursor it is given and keep no state that outlives the transaction (a rolled
    back batch is replayed from the same position). Every event of the log is handed over,
    including the ones a projection ignores, and the result must depend only on the events,
    never on how they were cut into batches: a rebuild must equal the live tables exactly.
    """

    name: ClassVar[str]
    tables: ClassVar[tuple[str, ...]]

    @abstractmethod
    def apply(self, cur: Cursor, events: Sequence[LoggedEvent]) -> None:
        """Write the effect of ``events`` (in log order) through ``cur``."""

    def reset(self, cur: Cursor, dialect: str = "sqlite") -> None:
        """Empty this projection's tables (before a rebuild)."""
        if dialect == "postgres":
            # TRUNCATE is transactional on PostgreSQL and far cheaper than DELETE on big tables.
            cur.execute(f"TRUNCATE {', '.join(self.tables)}")
        else:
            for table in self.tables:
                cur.execute(f"DELETE FROM {table}")
