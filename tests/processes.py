"""Processes a test starts and must stop: free loopback ports, stopping a process and what it left, log tails."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

STOP_TIMEOUT = 15.0  # seconds between SIGTERM and SIGKILL


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def session_members(sid: int) -> list[int]:
    """PIDs of the live processes in session ``sid`` (the children a process we started left behind)."""
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def signal_pid(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def stop_process(proc: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT) -> None:
    """Stop a process started with ``start_new_session=True`` and whatever it left in its session."""
    if proc.poll() is None:
        signal_pid(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            signal_pid(proc.pid, signal.SIGKILL)
            proc.wait(timeout)
    leftovers = session_members(proc.pid)
    for pid in leftovers:
        signal_pid(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while leftovers and time.monotonic() < deadline:
        time.sleep(0.1)
        leftovers = session_members(proc.pid)
    for pid in leftovers:
        signal_pid(pid, signal.SIGKILL)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
