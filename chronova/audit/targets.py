"""What an audit command is about: `KIND REF` on the command line, resolved to events.

A server, host, flavor or image is one aggregate (hosts by name, flavors by
flavor id). A project's history is its own aggregate plus every event in the
project: events that record it as their project, and every later event of
an aggregate created in it (a server's scheduling and spawning). A user's
history is its own aggregate plus every event that user caused. `aggregate
UUID` reaches any other aggregate (keypairs, quota sets, server groups...).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from chronova.audit.commands import AuditError
from chronova.audit.store import AuditStore, RawEvent
from domain.flavor import flavor_aggregate_id
from domain.host import host_id
from domain.identity import project_aggregate_id, user_aggregate_id

SINGLE_KINDS = {"server": "Server", "host": "Host", "flavor": "Flavor", "image": "Image", "aggregate": None}
PARTY_KINDS = {"project": "Project", "user": "User"}
KINDS = (*SINGLE_KINDS, *PARTY_KINDS)


def add_target_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    nargs = None if required else "?"
    parser.add_argument("kind", choices=KINDS, nargs=nargs, help="what to look at")
    parser.add_argument(
        "ref", nargs=nargs, help="server/image/aggregate uuid, host name, flavor id, project or user name or id"
    )


def aggregate_type(topic: str) -> str:
    """`domain.server:Server.Created` -> `Server`."""
    return topic.rsplit(":", 1)[-1].split(".", 1)[0]


def event_name(topic: str) -> str:
    """`domain.server:Server.Created` -> `Server.Created`."""
    return topic.rsplit(":", 1)[-1]


@dataclass(frozen=True)
class Entry:
    """One selected event: the row as stored and the decoded domain event."""

    raw: RawEvent
    event: Any

    @property
    def fields(self) -> dict[str, Any]:
        return self.event.__dict__


def _uuid(ref: str, kind: str) -> UUID:
    try:
        return UUID(ref)
    except ValueError:
        raise AuditError(f"{kind} {ref!r}: not a uuid") from None


@dataclass(frozen=True)
class Target:
    kind: str
    ref: str
    aggregate_id: UUID
    # Projects and users: the Keystone-style hex id that events record as project_id/owner or user_id.
    party: str | None = None

    @classmethod
    def resolve(cls, kind: str, ref: str) -> Target:
        if kind == "host":
            return cls(kind, ref, host_id(ref))
        if kind == "flavor":
            return cls(kind, ref, flavor_aggregate_id(ref))
        if kind in SINGLE_KINDS:
            return cls(kind, ref, _uuid(ref, kind))
        named = project_aggregate_id if kind == "project" else user_aggregate_id
        try:
            aggregate_id = UUID(hex=ref) if len(ref) == 32 else named(ref)
        except ValueError:
            aggregate_id = named(ref)
        return cls(kind, ref, aggregate_id, party=aggregate_id.hex)

    def entries(self, store: AuditStore) -> Iterator[Entry]:
        """Its events in log order; AuditError when the store knows nothing of it."""
        found = False
        source = self._own(store) if self.party is None else self._party(store)
        for entry in source:
            found = True
            yield entry
        if not found:
            raise AuditError(f"{self.kind} {self.ref} not found in the event store")

    def own_events(self, store: AuditStore) -> list[RawEvent]:
        """The events of its own aggregate (a project's or user's too), which must be of the kind asked for."""
        raws = store.events_of(self.aggregate_id)
        expected = SINGLE_KINDS.get(self.kind) or PARTY_KINDS.get(self.kind)
        if raws and expected and aggregate_type(raws[0].topic) != expected:
            raise AuditError(f"{self.ref} is a {aggregate_type(raws[0].topic)} aggregate, not a {self.kind}")
        return raws

    def _own(self, store: AuditStore) -> Iterator[Entry]:
        for raw in self.own_events(store):
            yield Entry(raw, store.decode(raw))

    def _party(self, store: AuditStore) -> Iterator[Entry]:
        assert self.party is not None
        own_id = str(self.aggregate_id)
        needle = self.party.encode()
        owned: set[str] = set()
        for raw in store.scan():
            if raw.originator_id == own_id or raw.originator_id in owned:
                yield Entry(raw, store.decode(raw))
                continue
            if store.states_are_plain and needle not in raw.state:
                continue
            event = store.decode(raw)
            if self.kind == "user":
                selected = event.__dict__.get("user_id") == self.party
            else:
                selected = self.party in (event.__dict__.get("project_id"), event.__dict__.get("owner"))
                if selected and raw.originator_version == 1:
                    owned.add(raw.originator_id)
            if selected:
                yield Entry(raw, event)
