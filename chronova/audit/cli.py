"""`chronova audit <subcommand>`: history, state, export, and the other helpers' rebuild/as-of/verify.

Store settings come from CHRONOVA_* (chronova/config.py) like every other
command, with `--database-url` to override.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from chronova.audit.commands import AuditCommand, AuditContext, AuditError
from chronova.config import ConfigError, Settings

log = logging.getLogger("chronova.audit")

# Modules that offer subcommands as a module-level `COMMANDS: list[AuditCommand]`.
COMMAND_MODULES: tuple[str, ...] = (
    "chronova.audit.history",
    "chronova.audit.state",
    "chronova.audit.export",
    "chronova.audit.integrity",
    "chronova.audit.replay",
)


def commands() -> list[AuditCommand]:
    return [command for module in COMMAND_MODULES for command in importlib.import_module(module).COMMANDS]


class _OneLineErrors(argparse.ArgumentParser):
    """Argument mistakes end like every other audit error: one line on stderr, exit 2 (`-h` shows the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(available: Sequence[AuditCommand]) -> argparse.ArgumentParser:
    parser = _OneLineErrors(prog="chronova audit", description="Read the event store: the cloud's history")
    parser.add_argument("--database-url", help="sqlite:///DIR or postgresql://user:pw@host:port/db")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details (and tracebacks) on stderr")
    subparsers = parser.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
    for command in available:
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(audit_command=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 on success, 2 on an operator mistake, 1 on anything else; never a traceback unless -v."""
    args = build_parser(commands()).parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        settings = Settings.from_env()
        if args.database_url:
            settings = settings.with_(database_url=args.database_url)
        return args.audit_command.run(args, AuditContext(settings))
    except (AuditError, ConfigError) as e:
        print(f"chronova audit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0  # `chronova audit export | head`: the reader had enough
    except Exception as e:
        log.debug("audit %s failed", args.subcommand, exc_info=True)
        print(f"chronova audit: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
