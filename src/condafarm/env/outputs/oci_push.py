"""Pushing an OCI image layout to a registry over the OCI distribution API (Docker Hub, ECR, GHCR, Harbor, the
`docker-registry` of Debian): blobs the registry already has are not sent again, so layers shared with earlier
images cost one HEAD each.

Credentials, as docker and skopeo find them: `$REGISTRY_AUTH_FILE`, else `$DOCKER_CONFIG/config.json` or
`~/.docker/config.json` (`auths.HOST.auth`, base64 `user:password`), sent as Basic or exchanged for a Bearer token
when the registry asks (`WWW-Authenticate`). Every request has the connect and read timeouts, and all but a
blob's upload (whose answer does) the deadline of `storage/timeouts.py`. Plain HTTP only for
127.0.0.1/localhost or with `insecure`; credentials only to the registry's own host and scheme.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import socket
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import AccessDenied, StorageError, UsageError
from .oci_layout import Layout

_REFERENCE = re.compile(
    r"^(?P<host>[A-Za-z0-9.\-]+(?::\d+)?)/(?P<name>[a-z0-9]+(?:[._/-][a-z0-9]+)*)(?::(?P<tag>[\w][\w.-]{0,127}))?$"
)
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


@dataclass
class Pushed:
    """What a push sent: requests by method, blobs uploaded and skipped, bytes uploaded."""

    reference: str
    requests: dict[str, int] = field(default_factory=dict)
    uploaded: int = 0
    skipped: int = 0
    bytes: int = 0


def _credentials(host: str) -> str | None:
    """base64 `user:password` for `host` from the docker/skopeo auth file, or None."""
    candidates = [os.environ.get("REGISTRY_AUTH_FILE", "")]
    candidates.append(str(Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker")) / "config.json"))
    for candidate in filter(None, candidates):
        try:
            auths = json.loads(Path(candidate).read_text(encoding="utf-8")).get("auths", {})
        except (OSError, ValueError, AttributeError):
            continue
        for key, entry in auths.items() if isinstance(auths, dict) else []:
            if urllib.parse.urlsplit(key if "//" in key else f"//{key}").netloc == host and isinstance(entry, dict):
                auth = entry.get("auth")
                return auth if isinstance(auth, str) else None
    return None


class _Deadline:
    """Shuts a connection's socket once `seconds` have passed: a registry that sends a byte now and then never
    trips the read timeout, so only this ends a request it drags out."""

    def __init__(self, connection: http.client.HTTPConnection, seconds: float) -> None:
        self.expired = threading.Event()
        self._connection = connection
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()

    def _cut(self) -> None:
        self.expired.set()
        sock = self._connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class Registry:
    """One registry host, spoken to over HTTP(S) with timeouts, a deadline and the auth it asks for."""

    def __init__(self, host: str, insecure: bool, pushed: Pushed) -> None:
        from ...storage.timeouts import timeouts

        self.host, self.pushed, self.limits = host, pushed, timeouts()
        local = host.split(":")[0] in ("127.0.0.1", "localhost", "[::1]")
        self.scheme = "http" if insecure or local else "https"
        self.basic = _credentials(host)
        self.authorization: str | None = None

    def _connection(self, netloc: str, scheme: str) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        return kind(netloc, timeout=self.limits.connect)

    def request(
        self, method: str, url: str, body: bytes | Path | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request (once more after authenticating, if the registry asks); returns status, headers, body."""
        for attempt in range(2):
            status, answer, data = self._send(method, url, body, headers or {})
            if status != 401 or attempt:
                return status, answer, data
            self._authenticate(answer.get("www-authenticate", ""))
        raise AssertionError("unreachable")

    def _send(
        self, method: str, url: str, body: bytes | Path | None, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urllib.parse.urlsplit(url if "//" in url else f"{self.scheme}://{self.host}{url}")
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        # Only the registry itself gets its credentials: an upload Location (or any URL an answer names) on
        # another host or over plain HTTP does not, as distribution's own client keeps them to the host that asked.
        own = (parts.scheme.lower(), parts.netloc.lower()) == (self.scheme, self.host.lower())
        if self.authorization and own:
            headers = {**headers, "Authorization": self.authorization}
        self.pushed.requests[method] = self.pushed.requests.get(method, 0) + 1
        connection = self._connection(parts.netloc, parts.scheme)
        deadline = _Deadline(connection, self.limits.deadline)
        try:
            connection.connect()
            assert connection.sock is not None
            connection.sock.settimeout(self.limits.read)
            if isinstance(body, Path):
                headers["Content-Length"] = str(body.stat().st_size)
                with body.open("rb") as stream:
                    connection.request(method, path, body=stream, headers=headers)
                deadline.start()  # an upload has no deadline while its bytes flow; the answer to it does
            else:
                deadline.start()
                connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            if deadline.expired.is_set():
                raise self._late() from exc
            raise StorageError(
                f"registry {self.host} did not answer {method} {parts.path} ({exc}); check the address and network "
                "(CONDAFARM_CONNECT_TIMEOUT, CONDAFARM_READ_TIMEOUT)"
            ) from exc
        finally:
            deadline.cancel()
            connection.close()
        if deadline.expired.is_set():
            raise self._late()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def _late(self) -> StorageError:
        return StorageError(f"registry {self.host} took longer than {self.limits.deadline:g} s (CONDAFARM_DEADLINE)")

    def _authenticate(self, challenge: str) -> None:
        scheme, _, rest = challenge.partition(" ")
        if scheme.lower() == "basic" and self.basic:
            self.authorization = f"Basic {self.basic}"
            return
        if scheme.lower() != "bearer":
            raise AccessDenied(f"registry {self.host} wants credentials; log in with `skopeo login {self.host}`")
        fields = dict(_CHALLENGE.findall(rest))
        realm = fields.pop("realm", "")
        if not realm.startswith(("https://", "http://")):
            raise AccessDenied(f"registry {self.host} sent a token challenge without a realm URL")
        query = urllib.parse.urlencode(fields)
        headers = {"Authorization": f"Basic {self.basic}"} if self.basic else {}
        status, _, data = self._send("GET", f"{realm}?{query}", None, headers)
        try:
            token = json.loads(data).get("token") or json.loads(data).get("access_token")
        except ValueError:
            token = None
        if status != 200 or not isinstance(token, str):
            raise AccessDenied(
                f"registry {self.host} refused a token ({status}); log in with `skopeo login {self.host}`"
            )
        self.authorization = f"Bearer {token}"


def _failure(registry: Registry, what: str, status: int, data: bytes) -> StorageError:
    text = data.decode("utf-8", "replace")[:300]
    kind = AccessDenied if status in (401, 403) else StorageError
    return kind(f"registry {registry.host} answered {status} to {what}: {text}")


def parse_reference(reference: str) -> tuple[str, str, str]:
    """(host, repository name, tag) of HOST[:PORT]/NAME[:TAG]; the tag defaults to `latest`."""
    match = _REFERENCE.match(reference)
    if match is None:
        raise UsageError(
            f"{reference!r} is not HOST[:PORT]/NAME[:TAG], e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/render:1"
        )
    return match["host"], match["name"], match["tag"] or "latest"


def push_image(layout_dir: Path, reference: str, *, insecure: bool = False) -> Pushed:
    """Push the image of the OCI layout `layout_dir` (its only image) to `reference`, HOST[:PORT]/NAME[:TAG]."""
    host, name, tag = parse_reference(reference)
    layout = Layout(layout_dir)
    manifest_entry, manifest = layout.image()
    pushed = Pushed(f"{host}/{name}:{tag}")
    registry = Registry(host, insecure, pushed)
    for blob in [manifest["config"], *manifest["layers"]]:
        digest = str(blob["digest"])
        path = layout.blob(digest)
        status, _, data = registry.request("HEAD", f"/v2/{name}/blobs/{digest}")
        if status == 200:
            pushed.skipped += 1
            continue
        status, headers, data = registry.request("POST", f"/v2/{name}/blobs/uploads/")
        if status != 202 or "location" not in headers:
            raise _failure(registry, f"starting the upload of {digest}", status, data)
        location = headers["location"]
        separator = "&" if "?" in location else "?"
        status, _, data = registry.request(
            "PUT",
            f"{location}{separator}digest={urllib.parse.quote(digest)}",
            path,
            {"Content-Type": "application/octet-stream"},
        )
        if status != 201:
            raise _failure(registry, f"the upload of {digest}", status, data)
        pushed.uploaded += 1
        pushed.bytes += path.stat().st_size
    body = layout.blob(str(manifest_entry["digest"])).read_bytes()
    status, _, data = registry.request(
        "PUT", f"/v2/{name}/manifests/{tag}", body, {"Content-Type": str(manifest.get("mediaType"))}
    )
    if status != 201:
        raise _failure(registry, f"the manifest of {name}:{tag}", status, data)
    return pushed
