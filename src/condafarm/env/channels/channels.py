"""Channels as a job names them (s3://, https://, file paths, names such as conda-forge or deadline-cloud, which
the host's condarc files resolve) turned into py-rattler sources, with one HTTP client for all of them.

S3 channels are read over plain HTTP(S) with requests signed by `storage.s3.HttpSigner`, so credentials are
resolved in one place, by boto3, exactly as for `index` and `publish` (AWS_PROFILE and `credential_process` on a
Deadline Cloud worker). Private https channels authenticate through py-rattler's own credential store
(`RATTLER_AUTH_FILE`, or the keyring). Record URLs are reported back in their canonical, endpoint-free form
(`s3://bucket/key`), which is what lockfiles hold. Every channel is read through its CEP-16 shards where it has
them (folder channels through `FolderShards`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ...errors import CondafarmError, NotFound
from ...storage.location import Channel, Kind, S3Options, classify
from ..request import CondaConfig, resolve_names
from .folder_shards import FolderShards


@dataclass
class Sources:
    """The channels of one request, in priority order, and how to reach them."""

    names: tuple[str, ...]
    #: What py-rattler solves from (S3 channels as their signed HTTP address).
    urls: list[str]
    #: The py-rattler HTTP client: retries, RATTLER_AUTH_FILE credentials, S3 request signing.
    client: Any
    #: (HTTP root, canonical s3:// root) of every S3 channel.
    s3_roots: list[tuple[str, str]] = field(default_factory=list)
    #: The S3 channels by canonical root, for precise error messages.
    s3_channels: dict[str, Channel] = field(default_factory=dict)
    #: Folder channels with shards, by URL: py-rattler reads them through these (it reads only
    #: `repodata.json` from a `file://` URL).
    folders: dict[str, FolderShards] = field(default_factory=dict)

    def canonical(self, url: str) -> str:
        """A record URL as lockfiles hold it: `s3://bucket/key` for S3 objects, other URLs unchanged."""
        for http_root, s3_root in self.s3_roots:
            if url.startswith(http_root):
                return s3_root + url[len(http_root) :]
        return url

    def located(self, url: str) -> str:
        """The inverse of `canonical`: where py-rattler fetches `url` from."""
        for http_root, s3_root in self.s3_roots:
            if url.startswith(s3_root):
                return http_root + url[len(s3_root) :]
        return url

    def describe(self) -> str:
        return ", ".join(self.names)

    def source(self, url: str) -> Any:
        """What py-rattler reads the channel at `url` (as `urls` or a lockfile names it) from."""
        return self.folders.get(url.rstrip("/")) or self.located(url)

    def failure(self) -> CondafarmError | None:
        """Why a folder channel's shards could not be read, if that is what failed."""
        return next((folder.failure for folder in self.folders.values() if folder.failure is not None), None)

    def solvable(self) -> list[Any]:
        """`urls` as py-rattler solves from them: folder channels with shards as their `FolderShards`."""
        return [self.source(url) for url in self.urls]

    def gateway(self, cache_dir: Path, *, fresh: bool = False) -> Any:
        """A py-rattler Gateway over these channels caching repodata in `cache_dir` (`fresh`: fetching every
        metadata file anew, without the conditional requests that revalidate a cached copy).

        Every channel is read through its CEP-16 shards where it has them: the shard indexes and the shards of
        the names a solve (or a lockfile) needs, not whole `repodata.json` files. py-rattler fetches the shard
        index and the shards with GET, which the read-only role may make. S3 channels skip the `.zst`/`.bz2`
        probes: py-rattler makes them as HEAD requests, which a GET signature does not cover (each would be
        refused), so an S3 channel without shards costs a 404 per subdir for the missing shard index, then its
        `repodata.json`.
        """
        import rattler
        from rattler.repo_data.gateway import SourceConfig

        cache_action: Literal["no-cache", "cache-or-fetch"] = "no-cache" if fresh else "cache-or-fetch"
        signed = SourceConfig(zstd_enabled=False, bz2_enabled=False, sharded_enabled=True, cache_action=cache_action)
        return rattler.Gateway(
            cache_dir=cache_dir,
            client=self.client,
            default_config=SourceConfig(cache_action=cache_action),
            per_channel_config={http_root: signed for http_root, _ in self.s3_roots},
        )


def resolve_channels(names: Sequence[str], s3: S3Options | None = None, condarc: CondaConfig | None = None) -> Sources:
    """Sources for `names`; a channel name becomes what the host's condarc files (or `condarc`) make it, as
    `make_spec` resolves it. S3 options (endpoint, region, addressing) come from `s3`, else the environment."""
    from rattler.networking import AddHeadersMiddleware, AuthenticationMiddleware, Client, RetryMiddleware

    from ...storage.s3 import HttpSigner

    signers: list[HttpSigner] = []
    sources = Sources(names=resolve_names(names, condarc) if names else (), urls=[], client=None)
    urls = sources.urls
    for name in sources.names:
        location = classify(name)
        if location.kind is Kind.S3:
            channel = location.channel(s3)
            signer = HttpSigner(channel)
            signers.append(signer)
            s3_root = channel.url.rstrip("/") + "/"
            sources.s3_roots.append((signer.root_url, s3_root))
            sources.s3_channels[s3_root] = channel
            urls.append(signer.root_url.rstrip("/"))
        elif location.kind in (Kind.HTTP, Kind.SERVER, Kind.URL):
            urls.append(name)  # https://, and whatever else py-rattler reads itself
        else:  # a folder; names are resolved already, so what is left of one is a folder the condarc named
            folder = location.channel()
            if folder.path is not None and not folder.path.is_dir():  # a typo, not a channel waiting for an index
                raise NotFound(f"channel {name} does not exist (no folder {folder.path}); check --channels")
            urls.append(folder.url)
            if folder.path is not None and FolderShards.has_shards(folder.path):
                sources.folders[folder.url] = FolderShards(folder)

    def sign(host: str, path: str) -> dict[str, str] | None:
        for signer in signers:
            headers = signer.headers(host, path)
            if headers is not None:
                return headers
        return None

    middlewares: list[Any] = [RetryMiddleware(), AuthenticationMiddleware()]
    if signers:
        middlewares.append(AddHeadersMiddleware(sign))
    sources.client = Client(middlewares)
    return sources
