"""Command line: ``python -m cc_sandbox [--port P] [--state FILE] ...`` runs the sandbox until SIGTERM/SIGINT.

The defaults are the real API's limits (4 requests a second, 10,000 a day, 1 token request a second).
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from types import FrameType
from typing import Any

from cc_sandbox.behaviour import BEHAVIOUR_PROFILES, SWITCHES, profile_settings
from cc_sandbox.config import SandboxConfig
from cc_sandbox.server import SandboxServer, airflow_connection_json

DEFAULT_PORT = 8765
#: Flag names of the behaviour switches that differ from the setting's name.
SWITCH_FLAGS = {"activity_errors_style": "activity_errors", "person_count_mode": "person_count"}


def build_parser() -> argparse.ArgumentParser:
    """Return the CLI's argument parser."""
    defaults = SandboxConfig(jwt_secret="unused-for-defaults")
    parser = argparse.ArgumentParser(
        prog="python -m cc_sandbox", description="Run the local Constant Contact V3 API sandbox."
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
    parser.add_argument(
        "--redirect-uri",
        action="append",
        dest="redirect_uris",
        metavar="URI",
        help=f"redirect URI of the default client; repeat for several (default: {defaults.redirect_uris[0]})",
    )
    limits = parser.add_argument_group("limits (0 turns one off)")
    limits.add_argument(
        "--rate-limit", type=float, default=defaults.rate_limit_per_second, help="API requests a second per client id"
    )
    limits.add_argument(
        "--daily-quota", type=int, default=defaults.daily_quota, help="API requests per client id a day"
    )
    limits.add_argument(
        "--token-rate-limit", type=float, default=defaults.token_rate_limit_per_second, help="token requests a second"
    )
    limits.add_argument("--no-limits", action="store_true", help="turn the three limits above off")
    parser.add_argument(
        "--device-poll-interval", type=float, default=defaults.device_poll_interval, help="device flow, seconds"
    )
    parser.add_argument("--state", metavar="FILE", help="keep the state in this SQLite file across restarts")
    switches = parser.add_argument_group(
        "behaviour switches", "what no source settles about the real API (see FIDELITY.md); first choice: default"
    )
    switches.add_argument(
        "--profile", choices=tuple(BEHAVIOUR_PROFILES), help="a named set of the switches below (flags override it)"
    )
    for name, variants in SWITCHES.items():
        switches.add_argument(f"--{SWITCH_FLAGS.get(name, name).replace('_', '-')}", dest=name, choices=variants)
    switches.add_argument("--queue-full-error-key", metavar="KEY", help="error_key of the queue-full 429")
    return parser


def behaviour(args: argparse.Namespace) -> dict[str, Any]:
    """Return the switch settings from ``--profile`` and the switch flags (flags win)."""
    settings = profile_settings(args.profile) if args.profile else {}
    for name in (*SWITCHES, "queue_full_error_key"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    return settings


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
            f"  redirect URIs:  {' '.join(cfg.redirect_uris)}",
            f"Limits: {_limits(cfg)}",
            "Behaviour: " + ", ".join(f"{name}={getattr(cfg, name)}" for name in (*SWITCHES, "queue_full_error_key")),
            f"State: {server.state_file.path if server.state_file else 'in memory (use --state FILE to keep it)'}",
            "Airflow connection",
            f"  export AIRFLOW_CONN_CONSTANT_CONTACT_DEFAULT={conn}",
            f"Sandbox ready at {server.url}",
        ]
    )


def _limits(cfg: SandboxConfig) -> str:
    parts = [
        f"{cfg.rate_limit_per_second:g} requests/s" if cfg.rate_limit_per_second else "no per-second limit",
        f"{cfg.daily_quota:,} a day" if cfg.daily_quota else "no daily quota",
        f"token endpoint {cfg.token_rate_limit_per_second:g}/s"
        if cfg.token_rate_limit_per_second
        else "no token limit",
    ]
    return ", ".join(parts) + " (per client id)"


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox in the foreground; return the exit code."""
    args = build_parser().parse_args(argv)
    extra: dict[str, Any] = {"redirect_uris": tuple(args.redirect_uris)} if args.redirect_uris else {}
    try:
        config = SandboxConfig(
            client_id=args.client_id,
            client_secret=args.client_secret,
            refresh_token=args.refresh_token,
            refresh_token_mode=args.refresh_token_mode,
            access_token_ttl=args.access_token_ttl,
            activity_start_delay=args.activity_start_delay,
            activity_rows_per_second=args.activity_rows_per_second,
            rate_limit_per_second=0 if args.no_limits else args.rate_limit,
            daily_quota=0 if args.no_limits else args.daily_quota,
            token_rate_limit_per_second=0 if args.no_limits else args.token_rate_limit,
            device_poll_interval=args.device_poll_interval,
            **extra,
            **behaviour(args),
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    server = SandboxServer(config, host=args.host, port=args.port, state_file=args.state)
    try:
        server.start()
    except (RuntimeError, OSError) as exc:
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
