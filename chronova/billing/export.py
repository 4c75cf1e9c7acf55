"""Usage records as an invoice system takes them: CSV or JSON, one row per (project, server, flavor)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

from chronova.billing.fold import Category
from chronova.billing.usage import UsageRecord, Window

FORMATS = ("csv", "json")
COLUMNS = (
    "project_id",
    "server_id",
    "server_name",
    "flavor_id",
    "flavor_name",
    "vcpus",
    "ram_mb",
    "disk_gb",
    "running_seconds",
    "stopped_seconds",
    "shelved_seconds",
    "vcpu_hours",
    "ram_mb_hours",
    "disk_gb_hours",
)


def row(record: UsageRecord, names: Mapping[str, str]) -> dict[str, Any]:
    flavor = record.flavor
    return {
        "project_id": record.project_id,
        "server_id": record.server_id,
        "server_name": names.get(record.server_id, ""),
        "flavor_id": flavor.id,
        "flavor_name": flavor.name,
        "vcpus": flavor.vcpus,
        "ram_mb": flavor.ram_mb,
        "disk_gb": flavor.disk_gb,
        **{f"{category}_seconds": round(record.seconds[category], 6) for category in Category},
        "vcpu_hours": round(record.vcpu_hours, 9),
        "ram_mb_hours": round(record.ram_mb_hours, 9),
        "disk_gb_hours": round(record.disk_gb_hours, 9),
    }


def render(records: list[UsageRecord], names: Mapping[str, str], window: Window, fmt: str) -> str:
    rows = [row(record, names) for record in records]
    if fmt == "json":
        period = {"since": window.since.isoformat(), "until": window.until.isoformat()}
        return json.dumps({**period, "usage": rows}, indent=1) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
