"""Build: a rattler-build recipe to packages published in a channel, in one call, on any host with Python.

`build_recipe` checks what it can first (recipe, source archive, disk, write access), reserves build numbers
in the destination so concurrent jobs never make the same filename, builds every output and variant with
py-rattler-build, then publishes all of the packages or none. Dependencies come from the `channels` given and
the destination itself; S3 channels reach rattler-build through a local read-only server
(`channel_server.py`) that uses condafarm's S3 options and credentials.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..channel.build_number import BuildNumber, Reservation, next_build_number, reserve_build_number
from ..conda.repodata import repodata_key
from ..errors import UsageError
from ..storage import Storage, open_storage
from ..storage.cas import put_if_unchanged
from ..storage.location import Channel, Kind, S3Options, classify
from .channel_server import serve_channels
from .preflight import DEFAULT_MIN_FREE_DISK_BYTES, check_free_disk, check_source_archive
from .provenance import built_by
from .recipe import (
    Output,
    find_recipe,
    load_recipe,
    output_of,
    override_sources,
    render,
    rendered_sources,
    select_recipe,
    staged_recipe,
    variant_files,
)
from .runner import BuildFailed, LogSink, run_variants
from .tool_args import ToolOptions, parse_tool_args

if TYPE_CHECKING:
    from ..channel.publish import PublishReport, UploadProgress


@dataclass
class BuildReport:
    """What a build made (or, with dry_run, would make) and where it went."""

    recipe: Path
    outputs: list[Output]
    #: Destination URL of each output's package (empty without a destination channel).
    urls: list[str]
    packages: list[Path] = field(default_factory=list)
    published: PublishReport | None = None
    output_dir: Path | None = None
    seconds: float = 0.0
    dry_run: bool = False


@contextlib.contextmanager
def _channel_urls(channels: Sequence[str], destination: Storage | None, s3: S3Options | None) -> Iterator[list[str]]:
    """Channel URLs rattler-build can read: the destination first (once it exists), then `channels`.

    The destination comes first so the studio's own packages win over a public channel's of the same name.
    Folders become `file://` URLs and `s3://` channels are served on 127.0.0.1 (`channel_server.py`); channel
    names (conda-forge, conda-forge/label/dev) and http(s) URLs pass through. An existing folder wins over a
    channel name (`classify`'s `bare_folders`).
    """
    entries: list[str | Channel] = []
    if destination is not None and destination.head(repodata_key("noarch")) is not None:
        entries.append(destination.channel)
    for given in channels:
        location = classify(given, bare_folders=True)
        entries.append(location.text if location.kind in (Kind.NAME, Kind.HTTP) else location.channel(s3))
    remote = [e for e in entries if isinstance(e, Channel) and e.path is None]
    with serve_channels(remote) as served:
        urls = iter(served)
        yield [e if isinstance(e, str) else e.path.as_uri() if e.path else next(urls) for e in entries]


def _check_writable(storage: Storage) -> None:
    """Fail before building if the destination refuses writes (e.g. read-only queue credentials)."""
    key = f"noarch/.condafarm/build-numbers/write-check-{secrets.token_hex(8)}.json"
    put_if_unchanged(storage, key, b"{}", None, content_type="application/json")
    storage.delete(key)


def _numbers(
    outputs: Sequence[Output], wanted: BuildNumber | None, destination: Storage | None, reserve: bool
) -> tuple[int | None, list[Reservation]]:
    """The build number for all outputs (they share one) and the reservations that hold it.

    Each output name needs its own reservation of the same number; when another job holds it for one of them,
    everything is released and the next number is tried for all.
    """
    if wanted is None or not wanted.relative:
        return (wanted.value if wanted else None), []
    if destination is None:
        raise UsageError("--build-number=+N counts from the destination channel: give --to CHANNEL")
    packages = list(dict.fromkeys((o.name, o.version, o.subdir) for o in outputs))
    number = max(next_build_number(destination, *p, increment=wanted.value) for p in packages)
    if not reserve:
        return number, []
    while True:
        held: list[Reservation] = []
        try:
            for package in packages:
                held.append(reserve_build_number(destination, *package, increment=wanted.value, at_least=number))
                if held[-1].number != number:
                    break
            else:
                return number, held
        except BaseException:
            _release(held)
            raise
        _release(held)
        number = held[-1].number


def _release(reservations: Sequence[Reservation]) -> None:
    for reservation in reservations:
        reservation.release()


@contextlib.contextmanager
def _scratch(path: Path | None, keep: bool) -> Iterator[Path]:
    """The output folder: `path`, or a new temp folder removed afterwards unless `keep` (or on failure)."""
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    folder = Path(tempfile.mkdtemp(prefix="condafarm-build-"))
    yield folder
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)


def _archives(override_source: Path | Sequence[Path] | None) -> list[Path]:
    return [override_source] if isinstance(override_source, Path) else list(override_source or ())


def build_recipe(
    recipe: Path,
    destination: Channel | Storage | None,
    *,
    build_number: BuildNumber | str | None = None,
    channels: Sequence[str] = (),
    s3: S3Options | None = None,
    target_platform: str | None = None,
    variant_config: Sequence[Path] = (),
    output_dir: Path | None = None,
    keep_build: bool = False,
    test: bool = True,
    publish: bool = True,
    override_source: Path | Sequence[Path] | None = None,
    override_source_sha256: str | None = None,
    override_source_dir: Path | None = None,
    package_name: str | None = None,
    build_tool: str | None = None,
    options: ToolOptions | None = None,
    min_free_disk: int = DEFAULT_MIN_FREE_DISK_BYTES,
    dry_run: bool = False,
    on_log: LogSink | None = None,
    progress: UploadProgress | None = None,
) -> BuildReport:
    """Build `recipe` (a `recipe.yaml` or its folder) and publish every package it makes to `destination`.

    `build_number` is `"+N"` (the highest of the same name and version in the destination plus N, reserved
    atomically), `N`, or None for the recipe's own. `channels` are searched for dependencies after the
    destination; `s3` options apply to `s3://` ones (default: the destination's). With `publish=False` the
    packages stay in `output_dir` (default: a new temp folder, in the report). `dry_run` renders and reports,
    touching nothing. `override_source` (one archive or several, in order) and `override_source_dir` replace the
    recipe's sources as rendered for the target platform (`override_source_sha256` checks the first archive);
    `package_name` renames a single-output recipe; `build_tool` picks recipe.yaml or meta.yaml in a folder with
    both; `options` are rattler-build settings (`parse_tool_args`). Raises `BuildError` (exit 8) for recipe,
    source, disk, script and test failures (`BuildFailed` carries the log tail and the kept build folder),
    `UsageError` for an override that cannot apply, and `AccessDenied` if the destination is read-only; the
    channel is then unchanged.
    """
    started, started_at = time.monotonic(), time.time()
    options = options or ToolOptions()
    wanted = BuildNumber.parse(build_number) if isinstance(build_number, str) else build_number
    storage = open_storage(destination) if isinstance(destination, Channel) else destination
    if publish and not dry_run and storage is None:
        raise UsageError("give the destination channel (--to CHANNEL), or build only with --no-publish")
    recipe_file = find_recipe(select_recipe(recipe, build_tool))
    archives = _archives(override_source)
    for i, archive in enumerate(archives):
        check_source_archive(archive, override_source_sha256 if i == 0 else None)
    if override_source_dir is not None and not override_source_dir.is_dir():
        raise UsageError(f"override source folder {override_source_dir} not found; give a local folder")
    if not dry_run:
        temp = Path(tempfile.gettempdir())
        check_free_disk(list(dict.fromkeys([output_dir or temp, temp])), min_free_disk)
    stage0 = load_recipe(recipe_file)
    variants_files = variant_files(recipe_file, variant_config)
    variants = render(stage0, recipe_file, variants_files, target_platform, options.experimental)
    if not variants:  # every variant is skipped here (build.skip): like rattler-build, a success with no package
        return BuildReport(recipe=recipe_file, outputs=[], urls=[], dry_run=dry_run)
    first = [output_of(v) for v in variants]
    if package_name is not None:
        first = [dataclasses.replace(o, name=package_name) for o in first]
    sources = None
    if archives or override_source_dir is not None:
        platform = first[0].subdir if first else str(target_platform)
        sources = override_sources(
            rendered_sources(variants), archives, override_source_dir, recipe_file.parent, platform
        )
    reserve = publish and not dry_run
    if reserve and storage is not None and (wanted is None or not wanted.relative):
        _check_writable(storage)
    number, reservations = _numbers(first, wanted, storage, reserve)
    staged: Path | None = None
    try:
        if number is not None or sources is not None or package_name is not None:
            exclude = [output_dir] if output_dir else []
            staged = staged_recipe(
                stage0,
                recipe_file,
                build_number=number,
                sources=sources,
                package_name=package_name,
                exclude=exclude,
            )
            variants = render(load_recipe(staged), staged, variants_files, target_platform, options.experimental)
        outputs = [output_of(v) for v in variants]
        report = BuildReport(
            recipe=recipe_file,
            outputs=outputs,
            urls=[storage.channel.url_of(f"{o.subdir}/{o.filename}") for o in outputs] if storage else [],
            dry_run=dry_run,
        )
        if dry_run:
            return report
        s3 = s3 if s3 is not None or storage is None else storage.channel.s3
        # The output folder is kept after a failure (it holds the build folder to debug) and without publish.
        with _scratch(output_dir, keep_build or options.keep_build or not publish) as folder:
            report.output_dir = folder
            with _channel_urls([*channels, *options.channels], storage, s3) as urls:
                report.packages = run_variants(
                    variants,
                    output_dir=folder,
                    channels=urls,
                    keep_build=keep_build,
                    test=test,
                    on_log=on_log,
                    options=options,
                )
            if publish and storage is not None:
                from ..channel.publish import publish as publish_packages

                made = built_by(recipe_file, _sources_of(variants), archives, started_at, time.time())
                report.published = publish_packages(
                    storage, report.packages, progress=progress, provenance={p.name: made for p in report.packages}
                )
    finally:
        _release(reservations)
        if staged is not None:
            shutil.rmtree(staged.parent.parent, ignore_errors=True)
    report.seconds = time.monotonic() - started
    return report


def _sources_of(variants: Sequence[Any]) -> list[dict[str, Any]]:
    """The sources the build used, as rendered (the first variant's: variants of one build share them)."""
    return [source.to_dict() for source in variants[0].recipe.sources] if variants else []


__all__ = ["BuildFailed", "BuildNumber", "BuildReport", "Output", "ToolOptions", "build_recipe", "parse_tool_args"]
