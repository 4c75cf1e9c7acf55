"""Server creates take turns on the project's quota ledger (PostgreSQL): concurrent
creates never pass one count, even while the quota view has counted none of them."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from eventsourcing.persistence import IntegrityError

from chronova.cloud import Cloud
from chronova.config import Settings
from chronova.quotas import admit_servers, create_servers_within_quota, update_project_quota
from chronova.servers import create_servers
from domain.commands import CreateFlavor, CreateServer, RequestContext
from domain.errors import QuotaExceeded
from projections.runner import ALL_DDL, projector
from projections.views import ViewStore, open_view_store
from tests.conftest import temporary_database

pytestmark = pytest.mark.integration

PROJECT = "quota-race"
ADMIN = RequestContext("admin", "admin", "req-admin", is_admin=True)


class Store:
    def __init__(self, url: str) -> None:
        self.cloud = Cloud(Settings(database_url=url).store_env(create_tables=True))
        self.views: ViewStore = open_view_store(self.cloud.factory, ALL_DDL)
        self.image = uuid.uuid4()
        self.cloud.register_image(
            self.image, name="cirros", owner=PROJECT, disk_format="qcow2", container_format="bare",
            min_disk=0, min_ram=0, size=1, visibility="public",
        )  # fmt: skip
        self.cloud.create_flavor(CreateFlavor(name="m1.tiny", vcpus=1, ram=512, disk=1, flavorid="1"))

    def command(self, max_count: int = 1) -> CreateServer:
        return CreateServer(name="vm", flavor_ref="1", image_ref=str(self.image), min_count=1, max_count=max_count)

    def catch_up(self) -> None:
        projector(self.cloud, self.views).catch_up()

    def servers(self) -> int:
        rows = self.cloud.recorder.select_notifications(start=1, limit=10_000)
        return sum(1 for n in rows if n.topic.endswith(":Server.Created"))

    def close(self) -> None:
        self.views.datastore.close()  # type: ignore[union-attr]
        self.cloud.close()


@pytest.fixture
def store() -> Iterator[Store]:
    with temporary_database() as url:
        store = Store(url)
        try:
            update_project_quota(store.cloud, store.views, PROJECT, {"instances": 5}, False, ADMIN)
            yield store
        finally:
            store.close()


def member(n: int) -> RequestContext:
    return RequestContext(PROJECT, f"user-{n}", f"req-{n}")


def test_sixteen_concurrent_creates_against_a_quota_of_five_make_five_servers(store: Store) -> None:
    """No projector runs: the view counts nothing, so only the ledger can keep the count."""
    outcomes: list[str] = []
    start = threading.Barrier(16)

    def create(n: int) -> None:
        start.wait()
        try:
            create_servers_within_quota(store.cloud, store.views, store.command(), member(n))
            outcomes.append("created")
        except QuotaExceeded:
            outcomes.append("refused")

    threads = [threading.Thread(target=create, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] * 5 + ["refused"] * 11
    assert store.servers() == 5


def test_a_create_that_counted_before_another_was_stored_loses_its_turn_and_stores_nothing(store: Store) -> None:
    """What a create in another process meets: both counted the same usage, the first to store wins."""
    first = admit_servers(store.cloud, store.views, store.command(max_count=3), member(1))
    second = admit_servers(store.cloud, store.views, store.command(max_count=3), member(2))
    create_servers(store.cloud, first.command, member(1), admitted=first.records)
    with pytest.raises(IntegrityError):
        create_servers(store.cloud, second.command, member(2), admitted=second.records)
    assert store.servers() == 3
    # Counting again finds the first create's admission although the view has not counted it.
    again = admit_servers(store.cloud, store.views, store.command(max_count=3), member(2))
    assert again.command.max_count == 2


def test_what_the_view_has_counted_is_not_counted_again(store: Store) -> None:
    create_servers_within_quota(store.cloud, store.views, store.command(max_count=2), member(1))
    store.catch_up()
    create_servers_within_quota(store.cloud, store.views, store.command(max_count=2), member(2))
    admitted = admit_servers(store.cloud, store.views, store.command(max_count=5), member(3))
    assert admitted.command.max_count == 1  # 2 counted by the view + 2 pending, of 5
    store.catch_up()
    assert admit_servers(store.cloud, store.views, store.command(max_count=5), member(3)).command.max_count == 1
