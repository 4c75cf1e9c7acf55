"""`chronova <component>`: one command for the all-in-one deployment (`run`)
and for each process of the distributed one.

Components run as supervised threads: one that fails is logged and started
again after a pause, so a database or broker restart heals by itself.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from chronova.config import ConfigError, Settings
from chronova.host_keys import derive_host_key
from chronova.wiring import Component, Wiring, agent_components

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

    from projections.views import ViewStore

log = logging.getLogger("chronova")

HTTP_COMPONENTS = ("api", "command-api", "query-api")
COMPONENTS = (
    "run",
    "init",
    *HTTP_COMPONENTS,
    "relay",
    "scheduler",
    "conductor",
    "projections",
    "sealer",
    "agent",
    "host-key",
)


def supervise(name: str, component: Component, stop: threading.Event) -> None:
    pause = 0.5
    while not stop.is_set():
        try:
            component(stop)
            return
        except Exception:
            if stop.is_set():
                return
            log.exception("%s failed; restarting in %.1fs", name, pause)
            stop.wait(pause)
            pause = min(pause * 2, 10.0)


def start(named: Sequence[tuple[str, Component]], stop: threading.Event) -> list[threading.Thread]:
    threads = [
        threading.Thread(target=supervise, args=(name, component, stop), name=name, daemon=True)
        for name, component in named
    ]
    for thread in threads:
        thread.start()
    return threads


def serve_api(wiring: Wiring, command: str, stop: threading.Event) -> None:
    """Serve the HTTP apps until interrupted (the main thread's job).

    `api` and `run` serve both apps on one port; `command-api` and
    `query-api` serve one each, for deployments that route reads and writes
    to separately scaled processes.
    """
    import waitress

    from chronova.web import create_router
    from command_api.app import create_app as create_command_app
    from projections.runner import ALL_DDL
    from projections.views import open_view_store
    from query_api.app import create_app as create_query_app

    views = open_view_store(wiring.cloud.factory, ALL_DDL)
    if command == "command-api":
        app = create_command_app(wiring.cloud, views, wiring.settings)
    elif command == "query-api":
        app = create_query_app(wiring.cloud, views, wiring.settings)
    else:
        app = create_router(
            create_command_app(wiring.cloud, views, wiring.settings),
            create_query_app(wiring.cloud, views, wiring.settings),
            mounts=service_mounts(wiring, views),
        )
    # Image uploads stream to disk, so waitress may accept disk images far above its 1 GiB default.
    server = waitress.create_server(
        app,
        host=wiring.settings.api_host,
        port=wiring.settings.api_port,
        threads=16,
        max_request_body_size=64 * 1024**3,
    )
    log.info("%s listening on http://%s:%s/v2.1", command, wiring.settings.api_host, wiring.settings.api_port)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.close()


def service_mounts(wiring: Wiring, views: ViewStore) -> dict[str, WSGIApplication]:
    """The other services a client needs, on the compute API's port: identity (unless
    an external Keystone is configured) and images."""
    from chronova.identity.app import create_app as create_identity_app
    from chronova.images.app import create_app as create_image_app

    mounts: dict[str, WSGIApplication] = {"/image": create_image_app(wiring.cloud, views, wiring.settings)}
    if not wiring.settings.keystone_url:
        mounts["/identity"] = create_identity_app(wiring.cloud, views, wiring.settings)
    return mounts


def initialise(wiring: Wiring) -> None:
    """Create every table and seed flavors and the image; idempotent, run once before the rest."""
    from chronova.seed import seed
    from projections.runner import ALL_DDL
    from projections.views import open_view_store

    open_view_store(wiring.cloud.factory, ALL_DDL)
    wiring.cloud.factory.tracking_recorder()
    for user in seed(wiring.cloud, wiring.settings):
        # Shown once, on the console of the first start: the store keeps only a hash.
        print(f"created user '{user.name}' in project '{user.project}' with password: {user.password}", flush=True)


NEEDS_KAFKA = frozenset({"relay", "scheduler", "conductor", "agent"})


def _components(command: str, settings: Settings) -> tuple[Wiring | None, list[tuple[str, Component]]]:
    if command in NEEDS_KAFKA and not settings.uses_kafka:
        # Alone in its process, the in-process bus would reach no other component.
        raise ConfigError(f"'chronova {command}' needs Kafka (CHRONOVA_KAFKA or --kafka); 'chronova run' runs embedded")
    if command == "agent":
        return None, [("agent", c) for c in agent_components(settings)]
    wiring = Wiring.build(settings, create_tables=command in ("run", "init"))
    by_role = {
        "relay": lambda: [("relay", wiring.relay())],
        "scheduler": lambda: [("scheduler", wiring.scheduler())],
        "conductor": lambda: [("conductor", c) for c in wiring.conductor()],
        "projections": lambda: [("projections", wiring.projections())],
        "sealer": lambda: [("sealer", wiring.sealer())],
        **{http: list for http in HTTP_COMPONENTS},
        "init": lambda: [],
    }
    if command == "run":
        named = [("projections", wiring.projections()), ("sealer", wiring.sealer())]
        named += [("relay", wiring.relay()), ("scheduler", wiring.scheduler())]
        named += [("conductor", c) for c in wiring.conductor()]
        named += [("agent", c) for c in agent_components(settings, wiring.transport)]
        return wiring, named
    return wiring, by_role[command]()


def _parse(argv: Sequence[str]) -> tuple[str, Settings]:
    parser = argparse.ArgumentParser(prog="chronova", description="Chronova compute control plane")
    parser.add_argument("command", choices=COMPONENTS, help="what this process runs ('run' = everything, embedded)")
    parser.add_argument("--database-url", help="sqlite:///DIR or postgresql://user:pw@host:port/db")
    parser.add_argument("--kafka", help="Kafka bootstrap servers; omit for the in-process bus")
    parser.add_argument("--host", action="append", dest="hosts", help="compute host this agent serves (repeatable)")
    parser.add_argument("--libvirt-uri", help="libvirt URI; {host} is replaced by the host name")
    parser.add_argument("--port", type=int, help="API port (default 8774)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    overrides = {
        "database_url": args.database_url,
        "kafka_bootstrap": args.kafka,
        "hosts": tuple(args.hosts) if args.hosts else None,
        "libvirt_uri": args.libvirt_uri,
        "api_port": args.port,
    }
    settings = settings.with_(**{k: v for k, v in overrides.items() if v is not None})
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s",
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    return args.command, settings


def _print_host_keys(settings: Settings) -> int:
    """What an operator hands a real compute host: its own report key, never the secret."""
    try:
        secret = settings.cloud_secret()
    except ConfigError as e:
        print(f"chronova: error: {e}", file=sys.stderr)
        return 2
    for host in settings.hosts:
        print(f"{host} {derive_host_key(secret, host).hex()}")
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if list(argv[:1]) == ["audit"]:
        from chronova.audit.cli import main as audit_main

        return audit_main(argv[1:])
    if list(argv[:1]) == ["billing"]:
        from chronova.billing.cli import main as billing_main

        return billing_main(argv[1:])
    try:
        command, settings = _parse(argv)
    except ConfigError as e:
        print(f"chronova: error: {e}", file=sys.stderr)
        return 2
    stop = threading.Event()
    # Ctrl-C and `docker stop` both end in a clean shutdown, even where the
    # parent shell started us with SIGINT ignored (a background job).
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    if command == "host-key":
        return _print_host_keys(settings)
    if command == "run":
        settings = settings.with_embedded_secret()
    try:
        wiring, named = _components(command, settings)
        if command in ("run", "init"):
            initialise(wiring)  # type: ignore[arg-type]
        if command == "init":
            return 0
        threads = start(named, stop)
        if command == "run" or command in HTTP_COMPONENTS:
            serve_api(wiring, command, stop)  # type: ignore[arg-type]
        else:
            try:
                while not stop.wait(1.0):
                    pass
            except KeyboardInterrupt:
                pass
    except KeyboardInterrupt:
        return 0
    except (ConfigError, OSError) as e:
        print(f"chronova: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        log.debug("startup failed", exc_info=True)
        print(f"chronova: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    stop.set()
    if wiring is not None:
        wiring.transport.close()
    for thread in threads:
        thread.join(timeout=5)
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
