"""
Deduplicate contacts by email address, case-insensitively: the first or the last row wins.

Memory grows with the number of distinct addresses, never with the rest of the row: each address is
kept as a 16-byte fingerprint in an :class:`AddressSet` (about 22 bytes an address with its overhead,
against about 106 for the address itself in a ``set``). "Last wins" needs a first pass over the source
to learn which rows are last; the second pass keeps only the addresses seen more than once.
"""

from __future__ import annotations

from struct import Struct
from typing import Literal

DedupeMode = Literal["first", "last"]

_fingerprint = Struct("<qq").pack
_BUCKETS = 1 << 16
_BUCKET_MASK = _BUCKETS - 1


class AddressSet:
    """
    A set of lower-cased addresses, kept as 16-byte fingerprints: two SipHash values (Python's ``hash``
    of the address and of the address followed by NUL), appended to one of 65,536 ``bytearray`` buckets.

    Two different addresses are taken for one with a probability of about 2**-128 per pair (1e-27 for a
    million addresses), far below any other failure; Python's string hashing is salted per process, so
    a set lives and dies with its import. About 4 MB empty, then about 22 bytes an address.
    """

    __slots__ = ("_buckets",)

    def __init__(self) -> None:
        self._buckets = [bytearray() for _ in range(_BUCKETS)]

    def add(self, key: str) -> bool:
        """Add ``key``; return ``True`` if it was new, ``False`` if it was already there."""
        first = hash(key)
        fingerprint = _fingerprint(first, hash(key + "\0"))
        bucket = self._buckets[first & _BUCKET_MASK]
        found = bucket.find(fingerprint)
        while found % 16:  # not found (-1), or a match across two fingerprints: look further
            if found < 0:
                bucket += fingerprint
                return True
            found = bucket.find(fingerprint, found + 1)
        return False


class FirstWins:
    """Keep the first row of each email address; later ones are duplicates."""

    def __init__(self) -> None:
        #: Lower-cased addresses of the rows kept so far.
        self.seen = AddressSet()

    def duplicate_reason(self, row_number: int, email: str) -> str | None:
        """Return why the row is a duplicate, or ``None`` to import it (and remember its address)."""
        if self.seen.add(email.lower()):
            return None
        return "duplicate email address; an earlier row with it is imported (first wins)"


class LastWins:
    """Keep the last row of each email address; learn which that is in a first pass."""

    def __init__(self) -> None:
        self._seen: AddressSet | None = AddressSet()
        self._last: dict[str, int] = {}  # only the addresses seen more than once

    def observe(self, row_number: int, email: str) -> None:
        """Note a valid row's address during the first pass."""
        key = email.lower()
        if self._seen is None:
            raise RuntimeError("The first pass is over.")
        if not self._seen.add(key):
            self._last[key] = row_number

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
