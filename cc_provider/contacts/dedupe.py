"""
Deduplicate contacts by email address, case-insensitively: the first or the last row wins.

Memory grows with the number of distinct addresses (about 100 bytes each: the lower-cased address
in a set), never with the rest of the row. "Last wins" needs a first pass over the source to learn
which rows are last; the second pass keeps only the addresses seen more than once.
"""

from __future__ import annotations

from typing import Literal

DedupeMode = Literal["first", "last"]
DEDUPE_MODES: tuple[DedupeMode, ...] = ("first", "last")


class FirstWins:
    """Keep the first row of each email address; later ones are duplicates."""

    needs_first_pass = False

    def __init__(self) -> None:
        #: Lower-cased addresses of the rows kept so far.
        self.seen: set[str] = set()

    def observe(self, row_number: int, email: str) -> None:
        """First-pass hook; nothing to learn when the first row wins."""

    def end_first_pass(self) -> None:
        """First-pass hook; nothing to do."""

    def duplicate_reason(self, row_number: int, email: str) -> str | None:
        """Return why the row is a duplicate, or ``None`` to import it (and remember its address)."""
        key = email.lower()
        if key in self.seen:
            return "duplicate email address; an earlier row with it is imported (first wins)"
        self.seen.add(key)
        return None


class LastWins:
    """Keep the last row of each email address; learn which that is in a first pass."""

    needs_first_pass = True

    def __init__(self) -> None:
        self._seen: set[str] | None = set()
        self._last: dict[str, int] = {}

    def observe(self, row_number: int, email: str) -> None:
        """Note a valid row's address during the first pass."""
        key = email.lower()
        if self._seen is None:
            raise RuntimeError("The first pass is over.")
        if key in self._seen:
            self._last[key] = row_number
        else:
            self._seen.add(key)

    def end_first_pass(self) -> None:
        """Forget the addresses seen once; keep the last row of those seen more than once."""
        self._seen = None

    def duplicate_reason(self, row_number: int, email: str) -> str | None:
        """Return why the row is a duplicate, or ``None`` to import it."""
        last = self._last.get(email.lower())
        if last is None or last == row_number:
            return None
        return f"duplicate email address; row {last} with it is imported (last wins)"


def make_deduplicator(mode: DedupeMode | None) -> FirstWins | LastWins | None:
    """Return the deduplicator for ``mode`` (``None``: keep every row)."""
    if mode is None:
        return None
    if mode == "first":
        return FirstWins()
    if mode == "last":
        return LastWins()
    raise ValueError(f"dedupe must be 'first', 'last' or None; got {mode!r}.")
