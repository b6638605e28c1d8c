"""Errors of the contacts package."""

from __future__ import annotations


class ContactFileError(ValueError):
    """A contact source cannot be read as a whole; the message names the file, the row and the column."""


class UnknownCustomFieldsError(ValueError):
    """The import uses custom fields the account does not have; ``unknown`` lists them (without ``cf:``)."""

    def __init__(self, message: str, unknown: list[str]) -> None:
        super().__init__(message)
        self.unknown = unknown
