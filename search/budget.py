"""A search's time budget (the `search_timeout_ms` setting): the search checks its deadline
as it ranks and gives up with SearchTimeoutError (503) once it has passed, so that no
request holds a server thread for long whatever it asks for.

Given up, not cut short: the hits of a page depend on every hit ranked before it, so an
answer made of what was ranked in time would be a wrong page, not a shorter one.
"""

from __future__ import annotations

from dataclasses import dataclass
from time import perf_counter

from semsearch.errors import SearchTimeoutError


@dataclass(frozen=True)
class Deadline:
    """When a search must be done by (`perf_counter()` seconds), or never."""

    budget_ms: float
    at: float | None

    @classmethod
    def after(cls, budget_ms: float) -> Deadline:
        """A deadline `budget_ms` from now; 0 or less means none."""
        at = perf_counter() + budget_ms / 1000 if budget_ms > 0 else None
        return cls(budget_ms, at)

    def check(self) -> None:
        """Raise SearchTimeoutError once the deadline has passed."""
        if self.at is not None and perf_counter() > self.at:
            raise SearchTimeoutError(
                f"this search took longer than its time budget ({self.budget_ms:g} ms) and "
                "was given up: ask for fewer results or an earlier page, or try again later"
            )


#: No deadline: a search that may take as long as it takes.
NO_DEADLINE = Deadline(0, None)
