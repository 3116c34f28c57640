"""A DICOMweb server and the credentials to reach it: from the caller or the environment (DEEPQ_PACS_URL,
DEEPQ_PACS_USER, DEEPQ_PACS_PASSWORD), held in memory only, never written to a task file or a dataset."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from dicomweb_client.api import DICOMwebClient

TIMEOUT_S = 60.0  # one request; a server silent for longer is named, not waited on
AS_STORED = ("application/dicom", "*")  # an instance in the transfer syntax the server holds: nothing transcoded there
RETRIES = 3  # attempts at a request that failed (busy server, dropped connection), 0.5 s then 1 s apart
T = TypeVar("T")


class PacsError(RuntimeError):
    """The server could not be reached, refused us, or answered something unusable; the message says which."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status  # the HTTP status the server answered, None where it did not answer


@dataclass(frozen=True)
class PacsServer:
    url: str  # the DICOMweb root, e.g. https://pacs.example.org/dicom-web
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_s: float = TIMEOUT_S

    @classmethod
    def from_environment(cls, url: str | None = None, user: str | None = None, password: str | None = None) -> PacsServer:
        """The server named here, else by $DEEPQ_PACS_URL; credentials likewise from $DEEPQ_PACS_USER / _PASSWORD."""
        url = url or os.environ.get("DEEPQ_PACS_URL")
        if not url:
            raise PacsError("no PACS named: give its DICOMweb URL (or set DEEPQ_PACS_URL)")
        if not url.startswith(("http://", "https://")):
            raise PacsError(f"{url!r} is not a DICOMweb URL (it starts with http:// or https://)")
        return cls(
            url.rstrip("/"),
            user or os.environ.get("DEEPQ_PACS_USER") or None,
            password or os.environ.get("DEEPQ_PACS_PASSWORD") or None,
        )

    def client(self) -> DICOMwebClient:
        import requests
        from dicomweb_client.api import DICOMwebClient

        session = requests.Session()
        if self.user:
            session.auth = (self.user, self.password or "")
        session.request = _wildcards_as_sent(session.request)
        client = DICOMwebClient(url=self.url, session=session, timeout=self.timeout_s)
        # its default retries any failure 5 times over 30 s: a refused connection would wait that long to be said
        client.set_http_retry_params(max_attempts=RETRIES, wait_exponential_multiplier=500)
        return client

    @contextmanager
    def asking(self, what: str) -> Iterator[None]:
        """Any failure of `what` as a PacsError that names the cause a user can act on."""
        import requests

        try:
            yield
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            raise PacsError(self._refused(what, status), status) from None
        except requests.Timeout:
            raise PacsError(f"{what}: {self.url} did not answer within {self.timeout_s:g} s") from None
        except requests.ConnectionError as exc:
            raise PacsError(f"{what}: cannot reach {self.url} ({_reason(exc)})") from None
        except requests.JSONDecodeError:
            raise PacsError(f"{what}: {self.url} answered something that is not DICOMweb JSON (is it a DICOMweb root?)") from None

    def _refused(self, what: str, status: int | None) -> str:
        if status in (401, 403):
            who = f"as {self.user!r}" if self.user else "without credentials (set DEEPQ_PACS_USER and DEEPQ_PACS_PASSWORD)"
            return f"{what}: {self.url} refused the credentials {who} (HTTP {status})"
        if status == 404:
            return f"{what}: {self.url} has no DICOMweb service there (HTTP 404): check the URL's path (often /dicom-web)"
        return f"{what}: {self.url} answered HTTP {status}"


def _wildcards_as_sent(request: Callable[..., T]) -> Callable[..., T]:
    """A query's wildcards sent as themselves: dicomweb-client escapes * and ? (%2A, %3F), which Orthanc 1.10 then
    matches as text; RFC 3986 allows both bare in a query."""

    def sent(method: str, url: str, *args, **kwargs) -> T:
        if "?" in url:
            path, query = url.split("?", 1)
            url = path + "?" + query.replace("%2A", "*").replace("%3F", "?")
        return request(method, url, *args, **kwargs)

    return sent


def _reason(exc: Exception) -> str:
    text = str(exc)
    for known in ("Connection refused", "Name or service not known", "No route to host", "certificate verify failed"):
        if known in text:
            return known.lower()
    return type(exc).__name__
