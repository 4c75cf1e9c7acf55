"""Domain refusals. Each maps to one HTTP status at the API edge and to a
logged-and-dropped report in the conductor; none of them records anything."""


class DomainError(Exception):
    """A request the domain refuses; the message is safe to show a user."""


class InvalidState(DomainError):
    """The action may not start from the aggregate's current state (Nova: 409)."""


class InsufficientCapacity(DomainError):
    """A claim would exceed `(total - reserved) * allocation_ratio` on a host."""


class WrongHost(DomainError):
    """A report names a server that is not placed on the reporting host."""


class NotFound(DomainError):
    """The thing does not exist, or the caller may not know that it does (404)."""


class InvalidReference(DomainError):
    """A request names a flavor or image that cannot be used (Nova: 400)."""


class AlreadyExists(DomainError):
    """A unique name or id is taken (409)."""


class Forbidden(DomainError):
    """The caller's role or project may not do this (403)."""


class NotSupported(DomainError):
    """This deployment's drivers cannot do what is asked (Nova: 501)."""


class QuotaExceeded(Forbidden):
    """The request would take the project over one of its quotas (Nova answers 403)."""
