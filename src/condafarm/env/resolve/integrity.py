"""Package bytes checked against the sha256 their repodata promises, before anything is installed.

py-rattler compares the sha256 of what it downloads (S3 and https channels) while it extracts, but extracts
`file://` packages without comparing anything, and links packages already in its cache as they are on disk.
So: files in folder channels are hashed here where they lie (nothing is copied or downloaded twice); py-rattler's
download failures become the same `PackageError`; and the package cache re-hashes every cached file against the
package's `info/paths.json` before linking it, extracting the package again (from the checked source) when one
differs. A lockfile's sha256 must equal the record's (`solve.locked_records`), so it holds for the bytes too.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from ...conda.package import hash_file
from ...errors import PackageError
from ..channels import Sources

#: py-rattler's words for "the archive it fetched is not a readable package" (zip, tar, bz2, zstd, checksums).
_UNREADABLE = re.compile(
    r"hash mismatch|checksum|zip|fill whole buffer|unexpected end|bz2|bzip2|zstd|corrupt|invalid (?:tar|archive)",
    re.IGNORECASE,
)
_FETCH = re.compile(r"failed to fetch (\S+?\.(?:conda|tar\.bz2))\b")
_MISMATCH = re.compile(r"expected ([0-9a-f]{64}), got ([0-9a-f]{64})")


def damaged(url: str, detail: str) -> PackageError:
    """The one error for a package file that is not what its channel's repodata describes."""
    channel = url.rsplit("/", 2)[0]
    return PackageError(
        f"{url} is not the package its channel's repodata describes ({detail}); it was replaced or damaged after "
        f"indexing, and nothing was installed. Restore the original file (`condafarm check {channel} "
        "--verify-hashes` lists every such file)"
    )


def require_sha256(records: Sequence[Any], sources: Sources) -> None:
    """Refuse records whose repodata carries no sha256: their bytes could not be checked."""
    for record in records:
        if record.sha256 is None:
            url = sources.canonical(str(record.url))
            raise PackageError(
                f"{url} has no sha256 in its channel's repodata, so its bytes cannot be checked; "
                f"index the channel with `condafarm index {url.rsplit('/', 2)[0]}`"
            )


def check_local_files(records: Sequence[Any]) -> None:
    """Hash every package of a folder channel where it lies and compare it with its record's sha256."""
    for record in records:
        url = str(record.url)
        parsed = urlparse(url)
        if parsed.scheme != "file":
            continue  # py-rattler checks what it downloads
        # a Windows share (\\server\share) is file://server/share/...
        remote = parsed.netloc not in ("", "localhost")
        path = Path(url2pathname(f"//{parsed.netloc}{parsed.path}" if remote else parsed.path))
        # opened without blocking: a fifo planted in its place would never answer, a device never end
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        try:
            with open(os.open(path, flags), "rb") as f:
                if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                    raise damaged(url, "it is not a file (a fifo or a device)")
                actual = hash_file(f).sha256
        except OSError as exc:
            raise damaged(url, f"cannot be read: {exc.strerror}") from exc
        expected = record.sha256.hex()
        if actual != expected:
            raise damaged(url, f"sha256 {actual}, repodata says {expected}")


def download_failure(message: str, records: Sequence[Any], sources: Sources) -> PackageError | None:
    """The `PackageError` for a py-rattler install failure caused by a fetched archive that does not match its
    sha256 or cannot be extracted, else None (network, access and other failures are explained elsewhere)."""
    fetch = _FETCH.search(message)
    if fetch is None:
        return None
    cause = re.sub(r"\S+://\S+", "", message[fetch.end() :])  # URLs could contain any word
    if not _UNREADABLE.search(cause):
        return None
    record = next((r for r in records if r.file_name == fetch.group(1)), None)
    if record is None:
        return None
    mismatch = _MISMATCH.search(message)
    if mismatch:
        detail = f"sha256 {mismatch.group(2)}, repodata says {mismatch.group(1)}"
    else:
        detail = f"cannot be extracted: {cause.split('Caused by:')[-1].strip()}"
    return damaged(sources.canonical(str(record.url)), detail)


def package_cache(folder: Path) -> Any:
    """py-rattler's package cache in `folder`, re-hashing cached files before it links them."""
    from rattler.package_cache import PackageCache, ValidationMode

    return PackageCache.new_layered([folder], validation_mode=ValidationMode.full())
