"""Tamper evidence: a sealer follows the notification log and records a hash of
every stored event, chained per aggregate, in its own table; the integrity
check recomputes the hashes from the stored bytes and reports every event
that was altered, removed, or slipped in behind the sealer's position.

A seal is only as safe as the seals table: whoever can rewrite both tables
consistently can hide a change (a keyed hash, or a copy of the seals kept
outside the database, would close that gap; not done here).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import Tracking

from chronova.audit.commands import AuditCommand, AuditContext
from chronova.audit.store import SCAN_BATCH, AuditStore, RawEvent, as_bytes
from chronova.cloud import Cloud
from chronova.follower import LogFollower
from projections.views import Statement

log = logging.getLogger(__name__)

SEALER_POSITION = "audit-sealer"
SEALS_DDL = (
    "CREATE TABLE IF NOT EXISTS audit_seals ("
    " notification_id BIGINT PRIMARY KEY,"
    " originator_id TEXT NOT NULL,"
    " originator_version BIGINT NOT NULL,"
    " digest TEXT NOT NULL,"
    " chain TEXT NOT NULL)",
)


def event_digest(raw: RawEvent) -> str:
    """SHA-256 over everything that identifies and is the event: aggregate, version, topic and state bytes."""
    header = f"{UUID(raw.originator_id).hex}\n{raw.originator_version}\n{raw.topic}\n".encode()
    return hashlib.sha256(header + raw.state).hexdigest()


def chained(previous: str, digest: str) -> str:
    """An aggregate's chain after one more event; the first event's previous chain is ''."""
    return hashlib.sha256(f"{previous}:{digest}".encode()).hexdigest()


@dataclass(frozen=True)
class Seal:
    notification_id: int
    originator_id: str
    originator_version: int
    digest: str
    chain: str


class Seals:
    """The seals table and the sealer's position, beside the views (same database, same transactions)."""

    def __init__(self, store: AuditStore) -> None:
        self.store = store
        store.views.create_table()  # the tracking table, where no `chronova init` made it yet
        store.views.create_views(SEALS_DDL)

    def position(self) -> int:
        return self.store.views.max_tracking_id(SEALER_POSITION) or 0

    def last_chain(self, originator_id: str) -> str:
        rows = self.store.views.query(
            "SELECT chain FROM audit_seals WHERE originator_id = %(id)s ORDER BY originator_version DESC LIMIT 1",
            {"id": originator_id},
        )
        return rows[0]["chain"] if rows else ""

    def after(self, position: int) -> Iterator[Seal]:
        """Every seal after a notification id, in log order."""
        while True:
            rows = self.store.views.query(
                "SELECT notification_id, originator_id, originator_version, digest, chain FROM audit_seals"
                " WHERE notification_id > %(after)s ORDER BY notification_id LIMIT %(limit)s",
                {"after": position, "limit": SCAN_BATCH},
            )
            yield from (Seal(**row) for row in rows)
            if len(rows) < SCAN_BATCH:
                return
            position = rows[-1]["notification_id"]

    def seal(self, batch: list[RawEvent], chains: dict[str, str]) -> None:
        """Seal a batch and move the position in one transaction; `chains` carries each aggregate's latest chain."""
        rows = []
        params: dict[str, object] = {}
        for i, raw in enumerate(batch):
            previous = chains.get(raw.originator_id)
            if previous is None:
                previous = self.last_chain(raw.originator_id) if raw.originator_version > 1 else ""
            digest = event_digest(raw)
            chains[raw.originator_id] = chain = chained(previous, digest)
            rows.append(f"(%(n{i})s, %(id{i})s, %(v{i})s, %(d{i})s, %(c{i})s)")
            params |= {f"n{i}": raw.notification_id, f"id{i}": raw.originator_id, f"v{i}": raw.originator_version}
            params |= {f"d{i}": digest, f"c{i}": chain}
        insert = Statement(
            "INSERT INTO audit_seals (notification_id, originator_id, originator_version, digest, chain) VALUES "
            + ", ".join(rows),
            params,
        )
        self.store.views.write([Tracking(SEALER_POSITION, batch[-1].notification_id)], [insert])


class Sealer:
    """The component: seals every event shortly after it is stored, resuming from its recorded position."""

    def __init__(self, cloud: Cloud) -> None:
        self.seals = Seals(AuditStore(cloud))

    def seal_to_head(self) -> int:
        """Seal everything stored so far (the `audit seal` command); how many events it sealed."""
        chains: dict[str, str] = {}
        count = 0
        batch: list[RawEvent] = []
        for raw in self.seals.store.scan(self.seals.position()):
            batch.append(raw)
            if len(batch) == SCAN_BATCH:
                self.seals.seal(batch, chains)
                count += len(batch)
                batch = []
        if batch:
            self.seals.seal(batch, chains)
            count += len(batch)
        return count

    def run(self, follower: LogFollower, stop: threading.Event) -> None:
        position = self.seals.position()
        log.info("sealer starting after notification %d", position)
        chains: dict[str, str] = {}
        while not stop.is_set():
            notifications = follower.next_batch(position, stop)
            if not notifications:
                continue
            batch = [
                RawEvent(n.id, str(n.originator_id), n.originator_version, n.topic, as_bytes(n.state))
                for n in notifications
            ]
            self.seals.seal(batch, chains)
            position = batch[-1].notification_id


def check_integrity(cloud: Cloud) -> list[str]:
    """Every integrity problem in the store, one line each; empty when all is well.

    Altered: a stored event whose bytes no longer match its seal. Missing: a
    sealed event no longer stored, or a gap in an aggregate's versions.
    Unsealed: an event stored at or before the sealer's position that it never
    saw (written behind its back). Broken chain: a seal edited on its own.
    """
    seals = Seals(AuditStore(cloud))
    sealed_up_to = seals.position()
    problems: list[str] = []
    versions: dict[str, int] = {}
    chains: dict[str, str] = {}
    pending = _Peekable(seals.after(0))
    for raw in seals.store.scan():
        for seal in pending.take_before(raw.notification_id):
            problems.append(f"missing: {_name(seal)} was sealed but is no longer stored")
            problems.extend(_check_chain(seal, chains))
        last = versions.get(raw.originator_id, 0)
        if raw.originator_version > last + 1:
            gap = f"{last + 1}" if raw.originator_version == last + 2 else f"{last + 1}-{raw.originator_version - 1}"
            problems.append(f"missing: {raw.originator_id} version {gap} (before notification {raw.notification_id})")
        versions[raw.originator_id] = max(last, raw.originator_version)
        seal = pending.take(raw.notification_id)
        if seal is None:
            if raw.notification_id <= sealed_up_to:
                problems.append(f"unsealed: {_name(raw)} was stored behind the sealer's back")
            continue
        if (seal.originator_id, seal.originator_version) != (raw.originator_id, raw.originator_version):
            problems.append(f"altered: notification {raw.notification_id} was {_name(seal)}, is now {_name(raw)}")
        elif seal.digest != event_digest(raw):
            problems.append(f"altered: {_name(raw)} no longer matches its seal")
        problems.extend(_check_chain(seal, chains))
    for seal in pending.rest():
        problems.append(f"missing: {_name(seal)} was sealed but is no longer stored")
    return problems


def _check_chain(seal: Seal, chains: dict[str, str]) -> list[str]:
    """Chains continue from the recomputed value, so one edited seal is reported once, not for every later one."""
    expected = chained(chains.get(seal.originator_id, ""), seal.digest)
    chains[seal.originator_id] = expected
    return [] if seal.chain == expected else [f"broken chain: the seal of {_name(seal)} was edited"]


def _name(item: Seal | RawEvent) -> str:
    return f"{item.originator_id} version {item.originator_version} (notification {item.notification_id})"


class _Peekable:
    """Seals in notification order, consumed alongside the stored events (a merge join)."""

    def __init__(self, seals: Iterator[Seal]) -> None:
        self._seals = seals
        self._next: Seal | None = next(seals, None)

    def _advance(self) -> Seal:
        seal = self._next
        assert seal is not None
        self._next = next(self._seals, None)
        return seal

    def take_before(self, notification_id: int) -> Iterator[Seal]:
        while self._next is not None and self._next.notification_id < notification_id:
            yield self._advance()

    def take(self, notification_id: int) -> Seal | None:
        if self._next is not None and self._next.notification_id == notification_id:
            return self._advance()
        return None

    def rest(self) -> Iterator[Seal]:
        while self._next is not None:
            yield self._advance()


def _seal_arguments(parser: argparse.ArgumentParser) -> None:
    """No options: it seals everything stored so far."""


def _seal(args: argparse.Namespace, ctx: AuditContext) -> int:
    sealer = Sealer(ctx.cloud)
    count = sealer.seal_to_head()
    print(f"sealed {count} events; sealed up to notification {sealer.seals.position()}", file=ctx.out)
    return 0


COMMANDS = [
    AuditCommand(
        "seal", "Seal every stored event not sealed yet (what the sealer component does)", _seal_arguments, _seal
    )
]
