"""Command line: ``python -m cc_provider.sandbox [--host H] [--port P] ...`` runs the sandbox until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from types import FrameType

from cc_provider.sandbox.config import SandboxConfig
from cc_provider.sandbox.server import SandboxServer, airflow_connection_json

DEFAULT_PORT = 8765


def build_parser() -> argparse.ArgumentParser:
    """Return the CLI's argument parser."""
    defaults = SandboxConfig(jwt_secret="unused-for-defaults")
    parser = argparse.ArgumentParser(
        prog="python -m cc_provider.sandbox", description="Run the local Constant Contact V3 API sandbox."
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port; 0 picks a free one (default: %(default)s)"
    )
    parser.add_argument("--client-id", default=defaults.client_id)
    parser.add_argument("--client-secret", default=defaults.client_secret)
    parser.add_argument("--refresh-token", default=defaults.refresh_token)
    parser.add_argument("--refresh-token-mode", choices=("long_lived", "rotating"), default=defaults.refresh_token_mode)
    parser.add_argument("--access-token-ttl", type=int, default=defaults.access_token_ttl, help="seconds")
    parser.add_argument("--activity-start-delay", type=float, default=defaults.activity_start_delay, help="seconds")
    parser.add_argument("--activity-rows-per-second", type=float, default=defaults.activity_rows_per_second)
    return parser


def banner(server: SandboxServer) -> str:
    """Return the start-up text: URLs, the default account and the Airflow connection."""
    cfg = server.config
    conn = shlex.quote(airflow_connection_json(server))
    return "\n".join(
        [
            "Constant Contact V3 API sandbox",
            f"  API base URL:   {server.api_base_url}",
            f"  Auth base URL:  {server.auth_base_url}",
            f"  Token URL:      {server.token_url}",
            f"  Admin API:      {server.url}/__sandbox__/stats",
            "Default account",
            f"  client id:      {cfg.client_id}",
            f"  client secret:  {cfg.client_secret}",
            f"  refresh token:  {cfg.refresh_token} ({cfg.refresh_token_mode})",
            "Airflow connection",
            f"  export AIRFLOW_CONN_CONSTANT_CONTACT_DEFAULT={conn}",
            f"Sandbox ready at {server.url}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox in the foreground; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        config = SandboxConfig(
            client_id=args.client_id,
            client_secret=args.client_secret,
            refresh_token=args.refresh_token,
            refresh_token_mode=args.refresh_token_mode,
            access_token_ttl=args.access_token_ttl,
            activity_start_delay=args.activity_start_delay,
            activity_rows_per_second=args.activity_rows_per_second,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    server = SandboxServer(config, host=args.host, port=args.port)
    try:
        server.start()
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        print(banner(server), flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    print("Sandbox stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
