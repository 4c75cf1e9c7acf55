"""`chronova billing <subcommand>`: run the billing consumer, export usage, verify it against the store.

- `run`: the consumer (group `chronova-billing`) and the HTTP endpoint (CHRONOVA_BILLING_PORT, 8779);
  needs PostgreSQL and Kafka, like every process of the distributed deployment.
- `export --format csv|json [--since T] [--until T] [--project P]`: usage rows on stdout.
- `verify [--since T] [--until T]`: recompute usage from the event store and compare; exit 1 on any
  difference (run it once the consumer has caught up).

Mistakes end with one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

from chronova.billing import export
from chronova.billing.periods import BillingError, checked_window
from chronova.billing.store import BillingStore, BillingTablesMissing
from chronova.billing.usage import UsageRecord, usage
from chronova.config import ConfigError, Settings
from domain.identity import project_aggregate_id

log = logging.getLogger("chronova.billing")


class _OneLineErrors(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineErrors(prog="chronova billing", description="Usage from the event stream")
    parser.add_argument("--database-url", help="postgresql://user:pw@host:port/db")
    parser.add_argument("--kafka", help="Kafka bootstrap servers")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details (and tracebacks) on stderr")
    subparsers = parser.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
    run = subparsers.add_parser("run", help="consume server events into usage and serve it over HTTP")
    run.add_argument("--port", type=int, help="HTTP port (default CHRONOVA_BILLING_PORT or 8779)")
    for name, help_text in (("export", "usage rows as CSV or JSON"), ("verify", "compare usage with a replay")):
        sub = subparsers.add_parser(name, help=help_text)
        sub.add_argument("--since", help="start of the period, ISO 8601 (default: start of this month, UTC)")
        sub.add_argument("--until", help="end of the period, ISO 8601 (default: now)")
        sub.add_argument("--project", help="one project, by id or name")
        if name == "export":
            sub.add_argument("--format", choices=export.FORMATS, default="json")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    overrides = {"database_url": args.database_url, "kafka_bootstrap": args.kafka}
    settings = settings.with_(**{k: v for k, v in overrides.items() if v is not None})
    if settings.is_embedded_store:
        raise ConfigError("billing keeps its records in PostgreSQL: set CHRONOVA_DATABASE_URL or --database-url")
    return settings


def _project(store: BillingStore, ref: str | None) -> str | None:
    if ref is None:
        return None
    for candidate in (ref, project_aggregate_id(ref).hex):
        if store.has_project(candidate):
            return candidate
    raise BillingError(f"unknown project {ref!r}: no server of it was ever billed")


def _export(args: argparse.Namespace, store: BillingStore) -> int:
    store.require_tables()
    now = datetime.now(UTC)
    period = checked_window(args.since, args.until, now)
    project_id = _project(store, args.project)
    records = usage(store.segments(period.since, period.until, project_id), period, now)
    names = {state.server_id: state.name for state in store.servers(project_id).values()}
    sys.stdout.write(export.render(records, names, period, args.format))
    return 0


def _keyed(records: list[UsageRecord]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(record.server_id, record.flavor.id): export.row(record, {}) for record in records}


def _verify(args: argparse.Namespace, store: BillingStore, settings: Settings) -> int:
    from chronova.billing.replay import replayed_usage
    from chronova.cloud import Cloud

    store.require_tables()
    now = datetime.now(UTC)
    period = checked_window(args.since, args.until, now)
    project_id = _project(store, args.project)
    stored = usage(store.segments(period.since, period.until, project_id), period, now)
    replayed = replayed_usage(Cloud(settings.store_env(create_tables=False)), period, now, project_id)
    stored_rows, replayed_rows = _keyed(stored), _keyed(replayed)
    keys = stored_rows.keys() | replayed_rows.keys()
    differences = sorted(key for key in keys if stored_rows.get(key) != replayed_rows.get(key))
    for server_id, flavor_id in differences:
        print(f"differs: server {server_id} flavor {flavor_id}", file=sys.stderr)
    print(f"{len(stored_rows)} usage records checked, {len(differences)} differ")
    return 1 if differences else 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _run(args: argparse.Namespace, store: BillingStore, settings: Settings) -> int:
    import waitress

    from chronova.billing.consumer import BillingConsumer, ServerEventSource
    from chronova.billing.http import create_app
    from chronova.bus.kafka import KafkaPublisher, ensure_topics
    from chronova.cli import start
    from chronova.messages import DEAD_LETTER_TOPIC, SERVER_EVENTS_TOPIC

    if not settings.uses_kafka:
        raise ConfigError("'chronova billing run' needs Kafka (CHRONOVA_KAFKA or --kafka)")
    store.create_tables()
    ensure_topics(settings.kafka_bootstrap, [SERVER_EVENTS_TOPIC, DEAD_LETTER_TOPIC], settings.kafka_partitions)
    dead_letters = KafkaPublisher(settings.kafka_bootstrap, "chronova-billing-deadletters")

    def consume(stop: threading.Event) -> None:
        source = ServerEventSource(settings.kafka_bootstrap)
        try:
            BillingConsumer(store, source, dead_letters).run(stop)
        finally:
            source.close()

    signal.signal(signal.SIGTERM, _interrupt)
    stop = threading.Event()
    threads = start([("billing", consume)], stop)
    port = args.port or settings.billing_port
    server = waitress.create_server(create_app(store, settings), host=settings.api_host, port=port, threads=4)
    log.info("billing listening on http://%s:%s/v2.1", settings.api_host, port)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.close()
        for thread in threads:
            thread.join(timeout=5)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 on success, 2 on an operator mistake, 1 on anything else; never a traceback unless -v."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    level = logging.DEBUG if args.verbose else logging.INFO if args.subcommand == "run" else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    try:
        settings = _settings(args)
        store = BillingStore(settings.postgres_conninfo())
        if args.subcommand == "export":
            return _export(args, store)
        if args.subcommand == "verify":
            return _verify(args, store, settings)
        return _run(args, store, settings)
    except (BillingError, BillingTablesMissing, ConfigError) as e:
        print(f"chronova billing: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:
        log.debug("billing %s failed", args.subcommand, exc_info=True)
        print(f"chronova billing: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
