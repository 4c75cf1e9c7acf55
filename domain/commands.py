"""Commands: what a user asks for, already validated at the edge (marshmallow).

Imperative names; frozen, so a handler cannot change what was asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RequestContext:
    """Who asks, for which project, under which request id (kept on events for audit)."""

    project_id: str
    user_id: str
    request_id: str
    is_admin: bool = False
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class CreateServer:
    name: str
    flavor_ref: str
    image_ref: str
    metadata: dict[str, str] = field(default_factory=dict)
    user_data: str | None = None
    description: str | None = None
    availability_zone: str | None = None
    key_name: str | None = None
    admin_password: str | None = None
    min_count: int = 1
    max_count: int = 1
    hostname: str | None = None
    tags: tuple[str, ...] = ()
    scheduler_hints: dict[str, Any] = field(default_factory=dict)
    forced_host: str | None = None  # "zone:host:node", or host/hypervisor_hostname (2.74)
    forced_node: str | None = None
    access_ip_v4: str | None = None
    access_ip_v6: str | None = None
    config_drive: bool = False
    trusted_image_certificates: tuple[str, ...] | None = None


@dataclass(frozen=True)
class UpdateServer:
    """PUT /servers/{id}: new values by field (name, description, hostname, access_ip_v4/6); None clears."""

    changes: dict[str, str | None]


@dataclass(frozen=True)
class CreateFlavor:
    name: str
    vcpus: int
    ram: int
    disk: int
    flavorid: str | None = None
    ephemeral: int = 0
    swap: int = 0
    rxtx_factor: float = 1.0
    is_public: bool = True
    description: str | None = None
