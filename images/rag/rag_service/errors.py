"""Errors the API turns into a JSON `{"detail": "..."}` with their status code (never a traceback),
and StartupError, which stops the service at startup with its one-line message."""

from __future__ import annotations


class StartupError(Exception):
    """The service cannot start (invalid settings, an embedding model that cannot be loaded). Its
    message is one line that says what is wrong and what to do; the startup log shows that line,
    not a traceback (see app.StartupFailureInOneLine)."""


class ServiceError(Exception):
    """An error whose message is safe to show to the caller."""

    status_code = 500

    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code


class BadRequest(ServiceError):
    status_code = 400


class CatalogError(BadRequest):
    """The catalogue CSV is malformed: a missing column, a bad row."""


class SourceForbidden(ServiceError):
    """A catalogue URI this service may not read (outside CATALOG_URI_PREFIX, not https)."""

    status_code = 403


class SourceNotFound(ServiceError):
    status_code = 404


class PayloadTooLarge(ServiceError):
    status_code = 413


class UpstreamError(ServiceError):
    """A dependency (S3, an https server, the LLM) answered with an error."""

    status_code = 502


class Unavailable(ServiceError):
    """A dependency (Qdrant, the LLM) cannot be reached, or the service is not ready."""

    status_code = 503


class CatalogEmpty(ServiceError):
    """Nothing to retrieve from: the collection is missing or empty."""

    status_code = 409
