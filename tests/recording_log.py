"""A stand-in for a task's logger in fast tests."""

from __future__ import annotations


class RecordingLog:
    """Keeps ``(level, message)`` of each call, as a task's logger would print them."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str]] = []

    def info(self, message: str, *args: object) -> None:
        self.records.append(("info", message % args))

    def warning(self, message: str, *args: object) -> None:
        self.records.append(("warning", message % args))

    def messages(self, level: str) -> list[str]:
        return [text for kind, text in self.records if kind == level]
