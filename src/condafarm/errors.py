"""The one exception hierarchy condafarm raises, each carrying a message a user can act on."""

from __future__ import annotations


class CondafarmError(Exception):
    """Base of every error condafarm raises on purpose; the CLI prints it as one line.

    `exit_code` is the documented process exit status for this kind of failure.
    """

    exit_code = 1


class UsageError(CondafarmError):
    """The command line or arguments cannot work (bad channel URL, unknown subdir...)."""

    exit_code = 2


class StorageError(CondafarmError):
    """The channel's storage could not be reached or refused a request."""

    exit_code = 3


class AccessDenied(StorageError):
    """Credentials are missing, wrong, or lack a permission for the request."""

    exit_code = 4


class NotFound(StorageError):
    """An object, bucket or folder that must exist does not."""


class AlreadyExists(StorageError):
    """A write that must not overwrite found an object already there."""

    exit_code = 5


class Conflict(StorageError):
    """A compare-and-swap write lost to a concurrent writer (the caller re-reads and retries)."""


class PackageError(CondafarmError):
    """A package file is corrupt, unreadable, or its metadata disagrees with its name or subdir."""

    exit_code = 6


class ChannelProblems(CondafarmError):
    """`check` (or `index --strict`) found problems; the message summarises them."""

    exit_code = 7


class InvalidRepodata(ChannelProblems):
    """A subdir's `repodata.json` is not repodata a client can read; `index --rebuild` rebuilds it from the files."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{message}; run `condafarm index --rebuild` to rebuild it from the package files")


class BuildError(CondafarmError):
    """A recipe could not be loaded, rendered or built (recipe error, source checksum, build script or test
    failure, not enough disk); the message says where and what to do."""

    exit_code = 8


class SolveError(CondafarmError):
    """Requested packages cannot be solved from the channels (unknown package, conflicting versions)."""

    exit_code = 9


class OfflineViolation(CondafarmError):
    """An environment made `--offline` needed a URL outside its channels (the message names it)."""

    exit_code = 10
