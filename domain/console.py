"""A request for a server's console output (os-getConsoleOutput) and its answer.

Only the server's host can read its console, and the API never talks to a
host: the request is recorded, the host's agent reads the console and
reports, and the conductor records the answer here. One aggregate per
request keeps the console text out of the server's own history.
"""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidState, WrongHost


class ConsoleOutputRequest(Aggregate):
    @event("Created")
    def __init__(self, *, server_id: str, host: str, length: int | None, request_id: str, user_id: str) -> None:
        """`length`: the last lines wanted; None for all the host keeps."""
        self.server_id = server_id
        self.host = host
        self.length = length
        self.output: str | None = None
        self.unavailable: str | None = None

    @property
    def answered(self) -> bool:
        return self.output is not None or self.unavailable is not None

    def record_output(self, host: str, output: str) -> None:
        self._require_unanswered(host)
        self._output_reported(host=host, output=output)

    @event("OutputReported")
    def _output_reported(self, host: str, output: str) -> None:
        self.output = output

    def record_unavailable(self, host: str, reason: str) -> None:
        """The guest has no console the host can read (Nova's ConsoleNotAvailable)."""
        self._require_unanswered(host)
        self._unavailable_reported(host=host, reason=reason)

    @event("UnavailableReported")
    def _unavailable_reported(self, host: str, reason: str) -> None:
        self.unavailable = reason

    def _require_unanswered(self, host: str) -> None:
        if host != self.host:
            raise WrongHost(f"Console request {self.id} is not for host {host}")
        if self.answered:
            raise InvalidState(f"Console request {self.id} is already answered")
