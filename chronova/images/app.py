"""The image service: the part of Glance's v2 API that clients use to keep and
boot images, mounted at /image on the API port.

Writes are use cases on the event store (service.py), reads come from the
images view (queries.py), image data from the file store. Requests are
identified and errors rendered exactly as by the compute API; only the
compute API's 1 MiB body limit is left out, since image data is large.
"""

from __future__ import annotations

from typing import Any

import falcon

from chronova import web
from chronova.cloud import Cloud
from chronova.config import Settings
from chronova.identity.auth import authenticator_for
from chronova.images.listing import image_listing
from chronova.images.queries import ImageQueries
from chronova.images.render import image_body, image_href, image_row, images_page
from chronova.images.schemas import create_image_request, image_changes, patch_draft
from chronova.images.service import ImageService, not_found_message
from chronova.images.store import FileStore, IncompleteUpload
from domain.commands import RequestContext
from domain.errors import NotFound
from projections.images import ImagesProjection
from projections.views import ViewStore

PREFIX = "/image"
# Newest first; the API served is the same for all of them (2.7 added os_hidden and the os_hash_* fields).
VERSIONS = (("v2.7", "CURRENT"), *((f"v2.{minor}", "SUPPORTED") for minor in range(6, -1, -1)))
PUBLIC_PATHS = frozenset({PREFIX, f"{PREFIX}/versions", f"{PREFIX}/v2"})
# How long a read waits for the images view to reach the store's last event.
READ_YOUR_WRITES_TIMEOUT = 3.0


class VersionsResource:
    """What clients discover the image API from, before they authenticate."""

    def __init__(self, status: int) -> None:
        self._status = status  # Glance answers its root with 300 Multiple Choices, /versions with 200

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        href = f"{req.prefix}{PREFIX}/v2/"
        resp.status = self._status
        resp.media = {
            "versions": [
                {"id": version, "status": status, "links": [{"rel": "self", "href": href}]}
                for version, status in VERSIONS
            ]
        }


class CaughtUpViews:
    """Reads wait (bounded) for the images view to reach the store's last event, so a
    client sees an image active right after its upload answered, not a stale row."""

    def __init__(self, cloud: Cloud, views: ViewStore) -> None:
        self._cloud = cloud
        self._views = views

    def wait(self) -> None:
        position = self._cloud.recorder.max_notification_id() or 0
        self._views.wait_for(ImagesProjection.name, position, timeout=READ_YOUR_WRITES_TIMEOUT)


class _Resource:
    def __init__(self, service: ImageService, queries: ImageQueries, caught_up: CaughtUpViews) -> None:
        self._service = service
        self._queries = queries
        self._caught_up = caught_up

    def _visible_row(self, image_id: str, caller: RequestContext) -> dict[str, Any]:
        self._caught_up.wait()
        row = self._queries.visible(image_id, caller)
        if row is None:
            raise NotFound(not_found_message(image_id))
        return row


class ImagesResource(_Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        listing = image_listing(req)
        self._caught_up.wait()
        items = [image_body(row) for row in self._queries.page(listing, req.context.caller)]
        query = [(key, value) for key, values in req.params.items() for value in _as_list(values)]
        resp.media = images_page(query, items, listing.limit)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        request = create_image_request(web.read_json_body(req))
        image = self._service.create(request, req.context.caller)
        resp.status = falcon.HTTP_201
        resp.location = f"{req.prefix}{PREFIX}{image_href(str(image.id))}"
        resp.media = image_body(image_row(image))


class ImageResource(_Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        resp.media = image_body(self._visible_row(image_id, req.context.caller))

    def on_patch(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        changes = image_changes(web.read_json_body(req), patch_draft(req.content_type))
        image = self._service.update(image_id, changes, req.context.caller)
        resp.media = image_body(image_row(image))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        self._service.delete(image_id, req.context.caller)
        resp.status = falcon.HTTP_204


class ImageFileResource(_Resource):
    def __init__(self, service: ImageService, queries: ImageQueries, caught_up: CaughtUpViews, files: FileStore):
        super().__init__(service, queries, caught_up)
        self._files = files

    def on_put(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        """Streams the body to the file store; the request is never held in memory whole."""
        media_type = (req.content_type or "").split(";", 1)[0].strip().lower()
        if media_type != "application/octet-stream":
            raise falcon.HTTPUnsupportedMediaType(description=f"Invalid content type {req.content_type}")
        try:
            self._service.upload(image_id, req.bounded_stream, req.content_length, req.context.caller)
        except IncompleteUpload as e:
            raise falcon.HTTPBadRequest(description=str(e)) from None
        resp.status = falcon.HTTP_204

    def on_get(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        """The data as stored; an image without any (queued, or seeded from elsewhere) answers 204."""
        row = self._visible_row(image_id, req.context.caller)
        data = self._files.open(row["location"]) if row["location"] else None
        if data is None:
            resp.status = falcon.HTTP_204
            return
        resp.content_type = "application/octet-stream"
        resp.set_header("Content-MD5", row["checksum"])
        resp.set_stream(data, row["size"])


def _as_list(values: str | list[str]) -> list[str]:
    return values if isinstance(values, list) else [values]


def create_app(cloud: Cloud, views: ViewStore, settings: Settings) -> falcon.App:
    app = falcon.App(
        middleware=[
            web.RequestIdMiddleware(),
            web.StorableTextMiddleware(),
            web.AuthMiddleware(authenticator_for(settings), PUBLIC_PATHS),
        ]
    )
    app.req_options.strip_url_path_trailing_slash = True
    app.add_error_handler((Exception, falcon.HTTPError), web.render_error)
    files = FileStore(settings.images_dir())
    service, queries, caught_up = ImageService(cloud, files), ImageQueries(views), CaughtUpViews(cloud, views)
    app.add_route(PREFIX, VersionsResource(300))
    app.add_route(f"{PREFIX}/versions", VersionsResource(200))
    app.add_route(f"{PREFIX}/v2", VersionsResource(200))
    app.add_route(f"{PREFIX}/v2/images", ImagesResource(service, queries, caught_up))
    app.add_route(f"{PREFIX}/v2/images/{{image_id}}", ImageResource(service, queries, caught_up))
    app.add_route(f"{PREFIX}/v2/images/{{image_id}}/file", ImageFileResource(service, queries, caught_up, files))
    return app
