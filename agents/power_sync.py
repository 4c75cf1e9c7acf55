"""The agent's half of Nova's periodic power-state sync (`sync_power_state_interval`).

Every interval it tells the conductor what each of its hypervisors runs: the
power state of every domain it defined, and the names of domains it did not.
It compares nothing and changes nothing: which servers should be here, and
what a difference means, is the conductor's to decide from the events. A
domain that is not Chronova's is only reported, never touched.
"""

from __future__ import annotations

import logging
import threading
import time

from agents.libvirt_driver import LibvirtHypervisor
from chronova.bus import Publisher
from chronova.messages import REPORTS_TOPIC
from chronova.reports import PowerStates, encode_report

log = logging.getLogger(__name__)


class PowerStateSync:
    def __init__(self, hypervisors: dict[str, LibvirtHypervisor], keys: dict[str, bytes], reports: Publisher) -> None:
        self._hypervisors = hypervisors
        self._keys = keys
        self._reports = reports

    def report_once(self) -> None:
        """One report per host; a host whose hypervisor cannot be read is skipped until the next round."""
        for host, hypervisor in self._hypervisors.items():
            try:
                observed_at = time.time()
                domains, foreign = hypervisor.domain_power_states()
            except Exception:
                log.exception("power-state sync of %s failed", host)
                continue
            report = PowerStates(
                host=host,
                observed_at=observed_at,
                domains={server_id: int(state) for server_id, state in domains.items()},
                foreign=sorted(foreign),
            )
            self._reports.publish(REPORTS_TOPIC, host, encode_report(report, self._keys[host], sent_at=time.time()))
        self._reports.flush()

    def run(self, interval: float, stop: threading.Event) -> None:
        """Report every `interval` seconds, the first after one interval (the agent's spawns settle first)."""
        while not stop.wait(interval):
            try:
                self.report_once()
            except Exception:
                log.exception("power-state sync failed")
