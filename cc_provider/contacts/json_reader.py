"""
Streaming JSON contact files: a JSON array, JSON Lines, or one object holding the array of contacts.

The first non-blank character tells the layout: ``[`` is an array of records; ``{`` is JSON Lines
when more than one value follows it, and otherwise one object. In that object, the records are the
array under ``json_array_key`` when it is given; without it:

1. when exactly one key holds a (non-empty) array of objects, that array, with a warning naming it
   (an object that also has an ``email`` or ``sms_number`` key is ambiguous: an error);
2. when the object has an ``email`` or ``sms_number`` key, or only plain values, it is one record
   (a one-line JSON Lines file);
3. when its only key holds an empty array, no records, with a warning;
4. anything else (several arrays of objects, none) is an error naming the keys, raised before any
   record is read.

Memory stays bounded by the largest single value (a record), never the file (the values are read by
:mod:`cc_provider.contacts._json_stream`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from cc_provider.contacts._json_stream import ChunkedText, as_object, iter_array, iter_lines, read_value
from cc_provider.contacts.decoding import first_non_utf8_offset, line_of_offset
from cc_provider.contacts.errors import ContactFileError
from cc_provider.contacts.fields import import_name

#: keys named in a message about the top-level object; the others are counted
MAX_NAMED_KEYS = 10
_IDENTITY_KEYS = frozenset({"email", "sms_number"})


def iter_json_records(
    path: str | os.PathLike[str],
    *,
    json_array_key: str | None = None,
    column_map: Mapping[str, str | None] | None = None,
) -> Iterator[dict[str, Any]]:
    """
    Yield the objects of a JSON array, JSON Lines or one-object JSON file, one at a time.

    See :class:`JsonFile` (which also keeps the warnings); nothing is read before the first ``next()``.
    """
    yield from JsonFile(path, json_array_key=json_array_key, column_map=column_map).records()


class JsonFile:
    """
    A JSON contact file whose layout (see the module docstring) is decided here, before any record is read.

    :param json_array_key: the key of the top-level object whose array holds the contacts.
    :param column_map: the import's ``column_map``, to tell which keys name an email or sms_number.
    :ivar layout: ``"array"``, ``"lines"``, ``"object"`` (the array under :attr:`array_key`) or ``"record"``.
    :ivar warnings: what the reader decided for the user (the array it chose), for the caller to log.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        json_array_key: str | None = None,
        column_map: Mapping[str, str | None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.json_array_key = json_array_key
        self.array_key: str | None = json_array_key
        self.warnings: list[str] = []
        self._column_map = column_map
        try:
            self.layout = self._inspect()
        except UnicodeDecodeError:
            raise self._not_utf8() from None

    def records(self) -> Iterator[dict[str, Any]]:
        """Yield the records, one at a time (may be called again for another pass)."""
        try:
            yield from self._records()
        except UnicodeDecodeError:
            raise self._not_utf8() from None

    # -- the layout ------------------------------------------------------------------------------------

    def _not_utf8(self) -> ContactFileError:
        with self.path.open("rb") as raw:
            offset = first_non_utf8_offset(raw)
        where = f"line {line_of_offset(self.path, offset)}: " if offset is not None else ""
        return ContactFileError(
            f"{self.path}: {where}not UTF-8 text (first bad byte at offset {offset}); JSON must be UTF-8, "
            "so save the file as UTF-8."
        )

    def _open(self) -> IO[str]:
        return self.path.open(encoding="utf-8-sig")

    def _inspect(self) -> str:
        key = self.json_array_key
        with self._open() as handle:
            text = ChunkedText(handle)
            first = text.peek()
            if first == "[":
                if key is not None:
                    raise ContactFileError(
                        f"{self.path}: json_array_key={key!r} names a key of a top-level object, but the top level "
                        "is an array (its elements are the contacts): drop json_array_key."
                    )
                return "array"
            if first != "{":
                if key is not None and first:
                    raise ContactFileError(
                        f"{self.path}: json_array_key={key!r} names a key of a top-level object, but the file "
                        "does not start with '{'."
                    )
                return "lines"
            if key is not None:
                return "object"  # read once, as it streams
            keys = _Keys(self._names_identity)
            for _ in _walk_object(self.path, text, None, keys):
                pass
            if text.peek():
                return "lines"
        return self._choose(keys)

    def _names_identity(self, key: str) -> bool:
        return import_name(key, self._column_map) in _IDENTITY_KEYS

    def _choose(self, keys: _Keys) -> str:
        """Decide what one top-level object holds (see the module docstring), or raise naming its keys."""
        where = f"{self.path}: the top level is an object with keys {keys.describe()}"
        if len(keys.object_arrays) == 1 and not keys.identity:
            self.array_key = keys.object_arrays[0]
            self.warnings.append(
                f"{self.path}: the top level is an object, not an array; the contacts are read from its only "
                f"array of objects, under {self.array_key!r} (set json_array_key={self.array_key!r} to choose it "
                "yourself)."
            )
            return "object"
        if len(keys.object_arrays) == 1:
            raise ContactFileError(
                f"{where}: one contact (it has an email or sms_number key) or a wrapper of the array of objects "
                f"under {keys.object_arrays[0]!r}? Set json_array_key={keys.object_arrays[0]!r} to import that "
                "array, or write the contact as an array, [{...}]."
            )
        if len(keys.object_arrays) > 1:
            both = " and ".join(map(repr, keys.object_arrays[:2]))
            raise ContactFileError(
                f"{where}; {both} both hold arrays of objects: set json_array_key to the key holding the contacts."
            )
        if keys.identity or not keys.nested:
            return "record"
        if keys.count == 1 and keys.empty_arrays:
            self.array_key = keys.empty_arrays[0]
            self.warnings.append(
                f"{self.path}: the top level is an object whose only key, {self.array_key!r}, holds an empty "
                "array: no contacts."
            )
            return "object"
        raise ContactFileError(
            f"{where}, and none holds an array of contact objects: set json_array_key to the key holding the "
            "contacts (json_array_key reads an array directly under the top-level object)."
        )

    # -- the records -----------------------------------------------------------------------------------

    def _records(self) -> Iterator[dict[str, Any]]:
        with self._open() as handle:
            if self.layout == "lines":
                yield from iter_lines(self.path, handle)
                return
            text = ChunkedText(handle)
            text.peek()
            if self.layout == "array":
                items = iter_array(self.path, text, "the JSON array", "record", "]")
                for index, value in enumerate(items, start=1):
                    yield as_object(self.path, value, f"record {index}")
            elif self.layout == "record":
                yield as_object(self.path, read_value(self.path, text, "the top-level object"), "line 1")
            else:
                assert self.array_key is not None
                keys = _Keys(self._names_identity)
                yield from _walk_object(self.path, text, self.array_key, keys)
                if text.peek():
                    raise ContactFileError(
                        f"{self.path}: {text.where()}: more JSON after the top-level object; json_array_key is "
                        "for a file holding one object (for JSON Lines, drop it)."
                    )
                if not keys.found_wanted:
                    raise ContactFileError(
                        f"{self.path}: the top-level object has no key {self.array_key!r} (its keys: "
                        f"{keys.describe()}); set json_array_key to the key holding the contacts."
                    )


class _Keys:
    """What a walk over the top-level object found: its keys (the first few named), and what their values are."""

    def __init__(self, names_identity: Callable[[str], bool]) -> None:
        self._names_identity = names_identity
        self.names: list[str] = []
        self.count = 0
        #: keys whose value is a non-empty array starting with an object (the first two)
        self.object_arrays: list[str] = []
        self.empty_arrays: list[str] = []
        #: some key names an email or sms_number column
        self.identity = False
        #: some value is an array or an object
        self.nested = False
        self.found_wanted = False

    def add(self, key: str, kind: str) -> None:
        """Note a key and the kind of its value: ``objects``, ``empty``, ``array``, ``object`` or ``scalar``."""
        self.count += 1
        if len(self.names) < MAX_NAMED_KEYS:
            self.names.append(key)
        if kind == "objects" and len(self.object_arrays) < 2:
            self.object_arrays.append(key)
        if kind == "empty" and not self.empty_arrays:
            self.empty_arrays.append(key)
        self.nested = self.nested or kind != "scalar"
        self.identity = self.identity or self._names_identity(key)

    def describe(self) -> str:
        """Return the keys for a message: ``"a, b"``, ``"a, b, ... and 7 more"``, or ``"(none)"``."""
        text = ", ".join(self.names) or "(none)"
        return text + (f" and {self.count - len(self.names):,} more" if self.count > len(self.names) else "")


def _walk_object(path: Path, text: ChunkedText, wanted: str | None, keys: _Keys) -> Iterator[dict[str, Any]]:
    """
    Read the object at ``text`` (its ``{`` next) key by key, noting each in ``keys``; yield the records
    of the array under ``wanted`` (``None``: none), skipping every other value one element at a time.
    """
    text.pos += 1
    if text.peek() == "}":
        text.pos += 1
        return
    while True:
        if text.peek() != '"':
            raise _object_error(path, text, "a key in double quotes")
        where = text.where()
        key = read_value(path, text, "a key of the top-level object")
        if key == wanted and keys.found_wanted:
            raise ContactFileError(f"{path}: {where}: the key {key!r} appears twice in the top-level object; keep one.")
        if text.peek() != ":":
            raise _object_error(path, text, f"':' after the key {key!r}")
        text.pos += 1
        start = text.peek()
        if start == "[":
            label = f"the array under {key!r}"
            kind = "empty"
            if key == wanted:
                keys.found_wanted = True
                for index, value in enumerate(iter_array(path, text, label, "record", "}"), start=1):
                    yield as_object(path, value, f"record {index}")
            else:
                for value in iter_array(path, text, label, f"{key!r} item", "}"):
                    if kind == "empty":
                        kind = "objects" if isinstance(value, dict) else "array"
        else:
            value = read_value(path, text, f"the value under {key!r}")
            kind = "object" if isinstance(value, dict) else "scalar"
            if key == wanted:
                raise ContactFileError(
                    f"{path}: the value under {key!r} is a JSON {type(value).__name__}, not an array of contacts."
                )
        keys.add(key, kind)
        after = text.peek()
        text.pos += 1
        if after == "}":
            return
        if after != ",":
            text.pos -= 1
            raise _object_error(path, text, f"',' or '}}' after the value under {key!r}")


def _object_error(path: Path, text: ChunkedText, expected: str) -> ContactFileError:
    cut = "; the file ends inside it (truncated?)" if text.peek() == "" else ""
    return ContactFileError(f"{path}: {text.where()}: invalid JSON in the top-level object (expected {expected}){cut}.")
