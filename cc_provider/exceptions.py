"""Typed errors raised by the Constant Contact provider."""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowException


class ConstantContactError(AirflowException):
    """Base class for every error the provider raises at run time."""


class ConstantContactApiError(ConstantContactError):
    """
    The Constant Contact API answered with an error status.

    :param status_code: HTTP status of the response.
    :param error_key: the API's ``error_key`` (or OAuth ``error``), if the body had one.
    :param error_message: the API's ``error_message`` (or OAuth ``error_description``).
    :param method: HTTP method of the failed request.
    :param path: URL path of the failed request (no query string, no credentials).
    """

    def __init__(
        self,
        status_code: int,
        error_key: str | None,
        error_message: str,
        *,
        method: str = "",
        path: str = "",
        hint: str = "",
    ) -> None:
        # AirflowException declares a class-level HTTPStatus here; this is the Constant Contact answer's status
        self.status_code = status_code  # type: ignore[assignment]
        self.error_key = error_key
        self.error_message = error_message
        self.method = method
        self.path = path
        where = f" for {method} {path}" if method else ""
        key = f" ({error_key})" if error_key else ""
        text = f"Constant Contact answered {status_code}{key}{where}: {error_message}"
        if hint:
            text = f"{text} {hint}"
        super().__init__(text)


class ConstantContactQuotaExceededError(ConstantContactApiError):
    """The daily request quota of the API key is used up; retrying before 00:00 UTC cannot help."""


class ConstantContactAuthError(ConstantContactError):
    """The OAuth2 token could not be obtained; a person has to re-authorize or fix the connection."""


class ConstantContactTransportError(ConstantContactError):
    """The API could not be reached (connection refused or reset, timeout) after every retry."""


class ActivityFailedError(ConstantContactError):
    """A bulk activity ended in a state other than ``completed``, or could not be followed."""


class ActivityNotFoundError(ActivityFailedError):
    """The API does not know the activity: a wrong id, or a status older than the 10-day retention."""


class ListVerificationError(ConstantContactError):
    """A list's membership is not what the DAG expected; the message lists what is missing or unexpected."""


class ContactsMissingError(ListVerificationError):
    """After an import completed, a target list holds fewer contacts than the import must have put there."""


class ConstantContactOutcomeUnknownError(ConstantContactTransportError):
    """A request that must not be sent twice got no answer, and may have been accepted by the API."""


#: HTTP statuses worth another try (with 429 ``throttled``); the hook's retry policy and the waits share them.
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})


def is_transient_error(error: BaseException) -> bool:
    """Tell whether an error that outlived the hook's retries is worth waiting out (5xx, throttling, network)."""
    if isinstance(error, ConstantContactTransportError):
        return True
    if isinstance(error, ConstantContactQuotaExceededError):
        return False
    return isinstance(error, ConstantContactApiError) and (
        error.status_code in RETRYABLE_STATUSES or error.status_code == 429
    )
