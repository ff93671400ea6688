"""Errors a user can cause; the CLI and API turn them into clear messages."""

__all__ = [
    "ConfigError",
    "ConflictError",
    "InputError",
    "NoChampionError",
    "NotFoundError",
    "OkrError",
    "SourceError",
    "TooLargeError",
]


class OkrError(Exception):
    """Base of the project's own errors: the message is meant for the user."""

    # Whether trying again may help: a pipeline task that fails so is retried, one that fails
    # with an error saying no (bad input or settings, counts that do not add up) is not.
    retry = True


class ConfigError(OkrError):
    """The configuration file or an OKR_* variable is invalid."""

    retry = False


class InputError(OkrError):
    """A path or argument given by the user cannot be used."""

    retry = False


class NotFoundError(InputError):
    """What the user named does not exist (a key result, a token)."""


class ConflictError(InputError):
    """What the user asks contradicts what is stored (a name taken, a token already revoked)."""


class TooLargeError(InputError):
    """Input over a configured size limit (rows, events or files of one request)."""


class SourceError(OkrError):
    """A remote source (the OKR backend's REST API) failed: unreachable, refused, or answered
    with something that is not what its contract says."""


class NoChampionError(OkrError):
    """No model version holds the champion alias yet."""

    retry = False

    def __init__(self) -> None:
        super().__init__("no champion model yet: run `okr train` (or `okr model promote VERSION`)")
