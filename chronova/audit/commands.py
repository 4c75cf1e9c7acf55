"""What an audit subcommand is, and what it gets to run with.

Subcommands live in their own modules (history, state, export, rebuild, ...)
and are collected by `chronova.audit.cli`; a module offers its subcommands as
a module-level `COMMANDS` list, so adding one never edits another's module.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from chronova.cloud import Cloud
    from chronova.config import Settings


class AuditError(Exception):
    """A mistake in what the operator asked for (unknown id, bad time range...): one line on stderr, exit 2."""


@dataclass
class AuditContext:
    """The settings and a lazily opened store: `--help` and argument errors never touch the database."""

    settings: Settings
    out: TextIO = field(default_factory=lambda: sys.stdout)

    @cached_property
    def cloud(self) -> Cloud:
        from chronova.cloud import Cloud

        # The audit reads an existing store: it never creates tables (that is `chronova init`).
        self._check_store()
        return Cloud(self.settings.store_env(create_tables=False))

    def _check_store(self) -> None:
        """Fail at once with one line, rather than after the connection pool's 30 s wait or on a missing table."""
        if self.settings.is_embedded_store:
            path = self.settings.data_dir() / "chronova.sqlite"
            if not path.exists():
                raise AuditError(f"no event store at {path} (start `chronova run` or `chronova init` first)")
            return
        import psycopg

        try:
            psycopg.connect(self.settings.postgres_conninfo(), connect_timeout=5).close()
        except psycopg.Error as e:
            reason = " ".join(line.strip() for line in str(e).splitlines() if line.strip()) or type(e).__name__
            raise AuditError(f"cannot open the event store: {reason}") from None


@dataclass(frozen=True)
class AuditCommand:
    """One `chronova audit <name>` subcommand.

    `add_arguments` declares its options on its own argparse subparser; `run`
    does the work and returns the exit status. Raise AuditError for operator
    mistakes; the CLI turns it (and any other failure) into one line on stderr.
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, AuditContext], int]
