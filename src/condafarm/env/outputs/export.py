"""`env export`: an environment condafarm created, as a pinned YAML, an explicit lockfile, conda-lock's
conda-lock.yml and pixi's pixi.lock, each naming the request and channels it came from.

The environment's own platform comes from its `conda-meta` records (checked against its manifest, so no channel
is read); every other platform asked for is solved from the same request and channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import UsageError
from ...safe_files import write_file
from ...storage.location import S3Options
from ..install import MANIFEST, Manifest, read_manifest
from ..request import LockedPackage, Origin, conda_lock_yaml, explicit_lockfile, pinned_yaml, write_pixi_lock
from ..resolve import require_sha256


@dataclass(frozen=True)
class Exported:
    yaml: str
    lockfile: str
    origin: Origin
    #: platform -> py-rattler RepoDataRecords, with the URLs lockfiles hold (`s3://...` for S3 channels)
    records: dict[str, list[Any]]

    @property
    def conda_lock(self) -> str:
        return conda_lock_yaml(self.origin, self.records)

    def write_pixi_lock(self, path: Path) -> None:
        write_pixi_lock(self.origin, self.records, path)

    def write(
        self,
        *,
        lockfile: Path | None = None,
        conda_lock: Path | None = None,
        pixi_lock: Path | None = None,
        yaml: Path | None = None,
    ) -> None:
        """Write the artifacts given a path, each replacing what is there, never through a symlink."""
        for path, text in ((lockfile, self.lockfile), (yaml, self.yaml)):
            if path is not None:
                write_file(path, text, overwrite=True)
        if conda_lock is not None:
            write_file(conda_lock, self.conda_lock, overwrite=True)
        if pixi_lock is not None:
            self.write_pixi_lock(pixi_lock)


def export_environment(
    prefix: Path,
    name: str | None = None,
    platforms: Sequence[str] = (),
    *,
    cache_dir: Path | None = None,
    s3: S3Options | None = None,
) -> Exported:
    """The artifacts of the environment at `prefix`: pinned YAML (`name=version=build`), explicit lockfile
    (URL and sha256 of every file), and the records conda-lock.yml and pixi.lock are written from, for the
    environment's platform plus `platforms` (solved from the channels; `cache_dir` is the environment cache,
    whose repodata folder the solve uses)."""
    manifest = read_manifest(prefix)
    if manifest is None:
        raise UsageError(f"{prefix} is not an environment condafarm created (no {MANIFEST.as_posix()})")
    records = {manifest.platform: installed_records(prefix, manifest)}
    for platform in dict.fromkeys(platforms):
        if platform not in records:
            if cache_dir is None:
                raise UsageError(f"locking {platform} needs a repodata cache folder (--cache-dir)")
            records[platform] = _solved_records(manifest, platform, cache_dir / "repodata", s3)
    return Exported(
        yaml=pinned_yaml(manifest.locked, manifest.origin, name or prefix.name),
        lockfile=explicit_lockfile(manifest.locked, manifest.platform, manifest.origin),
        origin=manifest.origin,
        records=records,
    )


def installed_records(prefix: Path, manifest: Manifest) -> list[Any]:
    """The full records (depends, md5, ...) of exactly the files the manifest lists, from the environment's
    `conda-meta`, each with the manifest's URL; a record missing or with another sha256 means the environment
    changed after condafarm created it."""
    import rattler

    found = []
    for package in manifest.locked:
        path = prefix / "conda-meta" / f"{'-'.join(package.name_version_build)}.json"
        try:
            record = rattler.PrefixRecord.from_path(path)
        except Exception as exc:  # py-rattler's parse errors have no common type
            raise UsageError(
                f"{path} is missing or unreadable ({exc}); the environment changed after condafarm created it: "
                "create it again"
            ) from exc
        if record.sha256 is None or record.sha256.hex() != package.sha256:
            raise UsageError(
                f"{path} does not record {package.url} (sha256 {package.sha256}); the environment changed after "
                "condafarm created it: create it again"
            )
        found.append(rattler.RepoDataRecord(record, package.filename, package.url, package.channel))
    return found


def _solved_records(manifest: Manifest, platform: str, cache_dir: Path, s3: S3Options | None) -> list[Any]:
    """The environment's request solved for another platform, with canonical URLs."""
    import rattler

    from ..channels import resolve_channels
    from ..request import EnvSpec
    from ..resolve import solve

    sources = resolve_channels(manifest.channels, s3)
    solved = solve(EnvSpec(manifest.packages, manifest.channels, manifest.priority, platform), sources, cache_dir)
    require_sha256(solved, sources)
    canonical = []
    for record in solved:
        package = LockedPackage(sources.canonical(str(record.url)), record.sha256.hex())
        canonical.append(rattler.RepoDataRecord(record, package.filename, package.url, package.channel))
    return canonical
