"""The scheduler's capacity index: hosts kept in placement's candidate order
(most free RAM first, then by name), so one decision does not filter every host.

Hosts that pass the ComputeFilter are held in that order. A decision walks it
from the top through the request's filters and stops once it holds
`max_candidates` hosts, or at the first host with less free RAM than the
request (no later host has more). So a decision costs about O(log n + k + c),
k being the hosts passed over and c the candidates weighed, where
`choose_hosts` costs O(n log n).

The answer is the same as `domain.scheduling.choose_hosts` over every host
(tests/unit/test_capacity_index.py checks it against random clouds). When no
host passes, the full scan is run to count exactly which filter removed what,
so the "No valid host" fault says which filter emptied the list.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from sortedcontainers import SortedList

from domain.filters import HostTest
from domain.request_spec import RequestSpec
from domain.scheduling import (
    RETRY_FILTER,
    Decision,
    FilterChain,
    FilterCounts,
    HostCandidate,
    SchedulerPolicy,
    choose_hosts,
    ram_order,
    rank,
)

RankKey = tuple[int, str]


class CapacityIndex:
    """What the scheduler knows of each host, by name, ready to answer a request."""

    def __init__(self, hosts: Iterable[HostCandidate] = ()) -> None:
        self._hosts: dict[str, HostCandidate] = {}
        self._ranked: SortedList = SortedList()  # ram_order of every host the ComputeFilter passes
        self._keys: dict[str, RankKey] = {}
        self._unschedulable: set[str] = set()  # hosts the ComputeFilter removes
        for host in hosts:
            self.put(host)

    def __len__(self) -> int:
        return len(self._hosts)

    def get(self, name: str) -> HostCandidate | None:
        return self._hosts.get(name)

    def put(self, host: HostCandidate) -> None:
        """Know `host` as it is now; its `used` must not change afterwards (put it again instead)."""
        old = self._keys.get(host.name)
        self._hosts[host.name] = host
        if not host.schedulable:
            if old is not None:
                self._ranked.remove(old)
                del self._keys[host.name]
            self._unschedulable.add(host.name)
            return
        self._unschedulable.discard(host.name)
        key = ram_order(host)
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

    def choose(
        self,
        spec: RequestSpec,
        policy: SchedulerPolicy | None = None,
        exclude: frozenset[str] = frozenset(),
        rng: random.Random | None = None,
    ) -> Decision:
        """The choice and its alternates for `spec`, best first, as `choose_hosts` would give them.

        The audit of a placed request counts what each filter removed among
        the hosts visited; the unschedulable hosts count for the ComputeFilter.
        """
        policy = policy or SchedulerPolicy()
        chain = FilterChain(spec, policy)
        counts = FilterCounts()
        ram = spec.resources.get("MEMORY_MB", 0)
        tests = [(name, test) for name, test in chain.tests if name != "ComputeFilter"]  # every host here passes it
        only_test = tests[0][1] if len(tests) == 1 else None
        hosts, limit = self._hosts, policy.max_candidates
        most_minus_free = -ram if ram > 0 else None  # a host past this has too little RAM, as every one after it
        passing: list[HostCandidate] = []
        for minus_free_ram, name in self._ranked:
            if most_minus_free is not None and minus_free_ram > most_minus_free:
                break
            counts.considered += 1
            host = hosts[name]
            if name in exclude:
                counts.remove(RETRY_FILTER, name)
            elif only_test is not None:
                if only_test(host):
                    passing.append(host)
                    if len(passing) == limit:
                        break
                else:
                    counts.remove(tests[0][0], name)
            elif (failed := _first_failing(tests, host)) is None:
                passing.append(host)
                if len(passing) == limit:
                    break
            else:
                counts.remove(failed, name)
        if not passing:
            return choose_hosts(self._hosts.values(), spec, policy, exclude, rng)
        if self._unschedulable:
            counts.removed["ComputeFilter"] = counts.removed.get("ComputeFilter", 0) + len(self._unschedulable)
            counts.considered += len(self._unschedulable)
        not_considered = len(self._hosts) - counts.considered
        return rank(passing, spec, policy, chain, counts, rng, not_considered)


def _first_failing(tests: list[tuple[str, HostTest]], host: HostCandidate) -> str | None:
    for name, test in tests:
        if not test(host):
            return name
    return None
