"""Channel servers that index packages themselves (prefix.dev, anaconda.org, Quetz, Artifactory): upload only.

These servers keep their own index, so publishing there is an upload through py-rattler-build's clients.
Credentials come from the rattler auth file (`RATTLER_AUTH_FILE`, as pixi and rattler-build use it) or the
keychain, never from the command line, so they never reach a process list or a farm log.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import CondafarmError, UsageError
from ..storage.location import Kind, classify

#: `--to` forms for servers, shown in help and errors.
SERVER_FORMS = (
    "prefix://CHANNEL (prefix.dev), prefix+https://HOST/CHANNEL (self-hosted prefix.dev), "
    "anaconda://OWNER[/LABEL], quetz+https://HOST/CHANNEL, artifactory+https://HOST/PATH/CHANNEL"
)


@dataclass(frozen=True)
class Server:
    """An upload target: which server kind, its base URL and the channel (or owner/label) on it."""

    kind: str
    url: str
    channel: str
    label: str | None = None


def parse_server(location: str) -> Server:
    """Parse a server `--to` location (what `storage.location.classify` calls `Kind.SERVER`); see `SERVER_FORMS`."""
    where = classify(location)
    rest = where.text.partition("://")[2]
    kind, _, transport = where.scheme.partition("+")
    parts = [p for p in rest.split("/") if p]
    if where.kind is not Kind.SERVER or not parts:
        raise UsageError(f"{location!r} is not a server location; use one of: {SERVER_FORMS}")
    if kind == "anaconda":
        return Server("anaconda", "https://api.anaconda.org", parts[0], parts[1] if len(parts) > 1 else None)
    if kind == "prefix" and not transport:
        return Server("prefix", "https://prefix.dev", parts[0])
    if transport not in ("http", "https") or len(parts) < 2:
        raise UsageError(f"{location!r}: give {kind}+https://HOST/CHANNEL; forms: {SERVER_FORMS}")
    host = urlsplit(f"{transport}://{rest}").netloc
    base = f"{transport}://{host}/{'/'.join(parts[1:-1])}".rstrip("/")
    return Server(kind, base, parts[-1])


def upload_to_server(location: str, files: Sequence[Path | str]) -> list[str]:
    """Check every file as `publish` does, then upload them all; returns the filenames uploaded."""
    import rattler_build

    from .publish import prepare

    server = parse_server(location)
    checked = [prepare(Path(f)) for f in files]
    paths = [str(item.path) for item in checked]
    auth_file = os.environ.get("RATTLER_AUTH_FILE")
    uploads: dict[str, Callable[[], None]] = {
        "prefix": lambda: rattler_build.upload_package_to_prefix(
            paths, server.url, server.channel, auth_file=auth_file
        ),
        "anaconda": lambda: rattler_build.upload_package_to_anaconda(
            paths, server.channel, channel=[server.label] if server.label else None, auth_file=auth_file
        ),
        "quetz": lambda: rattler_build.upload_package_to_quetz(paths, server.url, server.channel, auth_file=auth_file),
        "artifactory": lambda: rattler_build.upload_package_to_artifactory(
            paths, server.url, server.channel, auth_file=auth_file
        ),
    }
    try:
        uploads[server.kind]()
    except Exception as exc:  # py-rattler-build raises its own exception types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CondafarmError(
            f"upload to {server.kind} {server.url} channel {server.channel!r} failed: {first} "
            "(credentials come from RATTLER_AUTH_FILE or the keychain)"
        ) from exc
    return [item.filename for item in checked]


__all__ = ["SERVER_FORMS", "Server", "parse_server", "upload_to_server"]
