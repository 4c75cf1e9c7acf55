"""The scheduler's capacity index: hosts kept in the RAM weigher's order, so
one decision does not filter and sort every host.

Hosts that pass the ComputeFilter are held sorted by free RAM (most first,
then by name, the weigher's tie-break). A decision walks that order from the
top and stops at the first hosts that fit; once a host's free RAM is below
the request's, no later host can fit either. So a decision costs about
O(log n + k), k being the hosts passed over (too little VCPU or disk, or
already tried for this server), where `choose_hosts` costs O(n log n).

The answer is the same as `domain.scheduling.choose_hosts` over every host
(tests/unit/test_capacity_index.py checks it against random clouds).
"""

from __future__ import annotations

from collections.abc import Iterable

from sortedcontainers import SortedList

from domain.placement import MEMORY_MB, Resources, fits
from domain.scheduling import Decision, HostCandidate

# Nova's [scheduler] max_attempts: the chosen host and max_attempts - 1 alternates for a reschedule.
MAX_ATTEMPTS = 3

RankKey = tuple[int, str]


class CapacityIndex:
    """What the scheduler knows of each host, by name, ready to answer a request."""

    def __init__(self, hosts: Iterable[HostCandidate] = ()) -> None:
        self._hosts: dict[str, HostCandidate] = {}
        self._ranked: SortedList = SortedList()  # (-free MEMORY_MB, name) of every host the ComputeFilter passes
        self._keys: dict[str, RankKey] = {}
        self._unschedulable: set[str] = set()  # hosts the ComputeFilter removes
        for host in hosts:
            self.put(host)

    def __len__(self) -> int:
        return len(self._hosts)

    def put(self, host: HostCandidate) -> None:
        """Know `host` as it is now; its `used` must not change afterwards (put it again instead)."""
        old = self._keys.get(host.name)
        self._hosts[host.name] = host
        if not (host.up and host.enabled) or host.forced_down:
            if old is not None:
                self._ranked.remove(old)
                del self._keys[host.name]
            self._unschedulable.add(host.name)
            return
        self._unschedulable.discard(host.name)
        key = (-host.free(MEMORY_MB), host.name)
        if key != old:
            if old is not None:
                self._ranked.remove(old)
            self._ranked.add(key)
            self._keys[host.name] = key

    def discard(self, name: str) -> None:
        """Forget a host: its service was deleted, or its state here is no longer trusted."""
        if self._hosts.pop(name, None) is None:
            return
        key = self._keys.pop(name, None)
        if key is not None:
            self._ranked.remove(key)
        self._unschedulable.discard(name)

    def choose(self, request: Resources, exclude: frozenset[str] = frozenset(), limit: int = MAX_ATTEMPTS) -> Decision:
        """The best `limit` hosts for `request`, best first (host_subset_size 1: the first is the choice).

        A placed request carries no filter counts: counting them would mean
        visiting every host. When no host passes, the counts are exact, as
        `choose_hosts` gives them, so the "No valid host" fault says which
        filter emptied the list.
        """
        ram = request.get(MEMORY_MB, 0)
        ranked: list[str] = []
        for minus_free_ram, name in self._ranked:
            if ram > 0 and -minus_free_ram < ram:
                break  # this host and every one after it has too little RAM
            if name in exclude:
                continue
            host = self._hosts[name]
            if fits(host.inventories, host.used, request):
                ranked.append(name)
                if len(ranked) == limit:
                    break
        if ranked:
            return Decision(ranked=tuple(ranked), rejected={})
        return Decision(ranked=(), rejected=self._rejected_by_all(exclude))

    def _rejected_by_all(self, exclude: frozenset[str]) -> dict[str, int]:
        """Counts as `choose_hosts` makes them when it keeps no host: RetryFilter first, then ComputeFilter."""
        retried = [name for name in exclude if name in self._hosts]
        compute = len(self._unschedulable) - sum(1 for name in retried if name in self._unschedulable)
        resource = len(self._hosts) - len(retried) - compute
        return {"ComputeFilter": compute, "ResourceFilter": resource, "RetryFilter": len(retried)}
