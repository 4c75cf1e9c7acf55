"""Marshmallow fields for the loose types Nova's JSON schemas accept.

Nova lets clients send integers as digit strings, booleans as words, flavor
ids as numbers; real clients rely on that, so the edge accepts the same and
hands the domain plain Python values.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from uuid import UUID

from marshmallow import ValidationError, fields

from chronova import web

MAX_INT = 2**31 - 1
_DIGITS = re.compile(r"^[0-9]+$")
_SIGNED_DIGITS = re.compile(r"^-?[0-9]+$")
_DECIMAL = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_HOST_LABEL = re.compile(r"^[a-zA-Z0-9]+[a-zA-Z0-9-]*[a-zA-Z0-9]+$")
_FQDN = re.compile(r"^[a-zA-Z0-9-._]{1,255}$")
MAX_TAG_LENGTH = 60


class DigitInteger(fields.Field):
    """An integer as a JSON number or a string of digits; `empty_as` lets "" stand for a value."""

    default_error_messages = {"invalid": "Must be an integer or a string of digits."}

    def __init__(self, *, empty_as: int | None = None, signed: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._empty_as = empty_as
        self._pattern = _SIGNED_DIGITS if signed else _DIGITS

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            if value == "" and self._empty_as is not None:
                return self._empty_as
            if self._pattern.match(value):
                return int(value)
        raise self.make_error("invalid")


class PositiveNumber(fields.Field):
    """A number > 0 (Nova's rxtx_factor), as a JSON number or a decimal string."""

    default_error_messages = {"invalid": "Must be a positive number.", "range": "Must be greater than 0."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise self.make_error("invalid")
        if isinstance(value, str) and not _DECIMAL.match(value):
            raise self.make_error("invalid")
        number = float(value)
        if not 0 < number <= 3.40282e38:
            raise self.make_error("range")
        return number


class WordBoolean(fields.Field):
    """A JSON boolean or one of the words Nova takes for one ("true", "yes", "0"...)."""

    default_error_messages = {"invalid": "Must be a boolean or one of the words true/false, yes/no, on/off, 1/0."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in web.TRUE_WORDS | web.FALSE_WORDS:
            return value.lower() in web.TRUE_WORDS
        raise self.make_error("invalid")


class Name(fields.String):
    """Nova's `name` format: 1..255 printable characters, no surrounding whitespace."""

    default_error_messages = {
        "name": "The name must be 1 to 255 printable characters and cannot start or end with whitespace."
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not 1 <= len(text) <= 255 or text != text.strip() or not text.isprintable():
            raise self.make_error("name")
        return text


class Reference(fields.Field):
    """A flavor or flavor id: Nova takes a string or a number and means the string."""

    default_error_messages = {"invalid": "Must be a non-empty string or an integer.", "pattern": "Invalid characters."}

    def __init__(self, *, pattern: re.Pattern[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pattern = pattern

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not 1 <= len(value) <= 255:
            raise self.make_error("invalid")
        if self._pattern is not None and not self._pattern.match(value):
            raise self.make_error("pattern")
        return value


class ImageRef(fields.String):
    """An image uuid, an image URL ending in one, or "" (boot from a block device)."""

    default_error_messages = {"image": "Must be an image uuid or an image URL."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if text == "":
            return text
        candidate = text.rstrip("/").rsplit("/", 1)[-1] if text.startswith(("http://", "https://")) else text
        try:
            return str(UUID(candidate))
        except ValueError:
            raise self.make_error("image") from None


class Base64Text(fields.String):
    """User data: base64 text, kept encoded, as the metadata service hands it back."""

    default_error_messages = {"base64": "Must be base64-encoded text."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise self.make_error("base64") from None
        return text


class Networks(fields.Field):
    """`"none"`, `"auto"`, or a list of network requests (accepted, not acted on yet)."""

    default_error_messages = {"invalid": "Must be 'none', 'auto' or a list of network requests."}

    def __init__(self, *, item_schema: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._items = item_schema

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str | list[dict[str, Any]]:
        if value in ("none", "auto"):
            return value
        if not isinstance(value, list):
            raise self.make_error("invalid")
        loaded, errors = [], {}
        for index, item in enumerate(value):
            try:
                loaded.append(self._items.load(item))
            except ValidationError as e:
                errors[index] = e.messages
        if errors:
            raise ValidationError(errors)
        return loaded


class Tag(fields.String):
    """A server tag: 1 to 60 characters, neither ',' nor '/' (they separate tags in filters and URLs)."""

    default_error_messages = {"tag": "A tag must be 1 to 60 characters without ',' or '/'."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not valid_tag(text):
            raise self.make_error("tag")
        return text


def valid_tag(text: str) -> bool:
    return 1 <= len(text) <= MAX_TAG_LENGTH and "," not in text and "/" not in text


class Hostname(fields.String):
    """A server hostname: an RFC 1123 label before 2.94, a dotted FQDN-like name from 2.94 on."""

    default_error_messages = {
        "label": "Must be 2 to 63 letters, digits or '-', not starting or ending with '-'.",
        "fqdn": "Must be 1 to 255 letters, digits, '-', '.' or '_'.",
    }

    def __init__(self, *, fqdn: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fqdn = fqdn

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if self._fqdn and not _FQDN.fullmatch(text):
            raise self.make_error("fqdn")
        if not self._fqdn and not (len(text) <= 63 and _HOST_LABEL.fullmatch(text)):
            raise self.make_error("label")
        return text


class Uuid(fields.String):
    """A uuid in Nova's sense (any of Python's uuid spellings), kept as the caller wrote it."""

    default_error_messages = {"uuid": "Must be a uuid."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            UUID(text)
        except ValueError:
            raise self.make_error("uuid") from None
        return text


class UuidOrList(fields.Field):
    """A scheduler hint naming servers or a group: one uuid or a list of them."""

    default_error_messages = {"invalid": "Must be a uuid or a list of uuids."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str | list[str]:
        items = value if isinstance(value, list) else [value]
        for item in items:
            try:
                UUID(item)
            except (TypeError, ValueError, AttributeError):
                raise self.make_error("invalid") from None
        return value
