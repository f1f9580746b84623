"""What each job step does on the worker host: one condafarm library call, reported in OpenJD's terms.

Every function here runs inside `Supervisor.run` (so a cancel stops it cleanly), reports through `Messages`
and returns an exit code; a `CondafarmError` becomes `openjd_fail: <its one-line message>` and its exit code.
Only condafarm's public API (`condafarm.__all__`) is used; each action imports the subsystem it needs.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from condafarm import (
    DEFAULT_GRACE_HOURS,
    CondafarmError,
    Throttle,
    UsageError,
    numbers,
    package_files,
    parse_channel,
    parse_size,
    report_build_failure,
    report_check,
)
from condafarm import __version__ as condafarm_version

from .cancel import Supervisor
from .messages import Messages
from .session import SessionInfo

ProgressCallback = Callable[[str, int, int], None]


def progress_between(messages: Messages, start: float, end: float) -> ProgressCallback:
    """A condafarm progress callback `(what, done, total)` mapped onto `start..end` percent of the task."""
    throttle = Throttle(step=1.0)

    def report(what: str, done: int, total: int) -> None:
        percent = start + (end - start) * (done / total if total else 1.0)
        if throttle(percent, final=done == total):
            messages.progress(percent)

    return report


def reported(messages: Messages, action: Callable[[], int]) -> int:
    """Run `action`; turn a `CondafarmError` into `openjd_fail` and its documented exit code."""
    try:
        return action()
    except CondafarmError as exc:
        messages.fail(str(exc))
        return exc.exit_code


def optional(value: str | None) -> str | None:
    """Template parameters arrive as "" when unset (an empty PATH or STRING): treat that as absent."""
    return value if value not in (None, "") else None


def is_true(value: str) -> bool:
    """A boolean template parameter (a CHECK_BOX or true/false dropdown) as a bool."""
    return value.strip().lower() in ("true", "yes", "1")


def split_list(value: str | None) -> list[str]:
    """A space- or comma-separated list parameter (channels, file names) as a list."""
    return [item for item in (value or "").replace(",", " ").split() if item]


def enter(messages: Messages, session: SessionInfo) -> int:
    """The package-building queue environment's onEnter: put this condafarm install first on the session's
    PATH (so every step runs the same `condafarm` and `condafarm-worker`) and say what it is."""
    scripts = sysconfig.get_path("scripts")
    path = os.environ.get("PATH", "")
    if scripts and scripts not in path.split(os.pathsep):
        messages.set_env("PATH", os.pathsep.join([scripts, path]) if path else scripts)
    try:
        builder = f"py-rattler-build {metadata.version('py-rattler-build')}"
    except metadata.PackageNotFoundError:  # the session can still publish and maintain channels, but not build
        builder = "py-rattler-build missing: package builds will fail; reinstall condafarm"
    messages.log(f"condafarm {condafarm_version} (python {sys.version.split()[0]}, {builder}) from {scripts}")
    messages.log(f"session: {session.describe()}")
    messages.status(f"condafarm {condafarm_version} ready")
    return 0


def attached_packages(folder: Path) -> list[Path]:
    """Every conda package file under `folder` (the attached job input), sorted for a stable order."""
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder; attach the folder of .conda/.tar.bz2 files as PackagesDir")
    files = package_files(folder)
    if not files:
        raise UsageError(f"no .conda or .tar.bz2 files under {folder}; attach the built packages as PackagesDir")
    return files


def build(
    messages: Messages,
    *,
    recipe: Path,
    location: str,
    build_number: str | None,
    channels: list[str],
    conda_platform: str | None,
    build_tool: str | None,
    variant_config: Path | None,
    override_sources: list[Path],
    override_source_dir: Path | None,
    override_source_sha256: str | None,
    package_name: str | None,
    prefix_length: str,
    fast_build: bool,
    extra_args: str,
    min_free_disk: str,
    work_dir: Path | None,
) -> int:
    """The build bundles: build the attached recipe and publish every package it makes, all or none.

    The job's host requirements choose the host, and the host builds its own platform: a `conda_platform`
    that is not this host's is refused before anything is built (the job was sent to the wrong host). The
    build log goes to the task log. Runs in a child of the action's process (`Supervisor.run_child`), because
    py-rattler-build holds the GIL until the build ends.
    """
    from condafarm import BuildFailed, build_recipe, check_native_platform, parse_tool_args

    if prefix_length.strip() not in ("", "0"):
        # what `condafarm submit` says too: rattler-build has no such setting, its placeholder prefix is fixed
        messages.log(
            f"OverridePrefixLength {prefix_length}: not applied: rattler-build builds with its own fixed-length "
            "placeholder prefix"
        )
    options = parse_tool_args(extra_args, fast_build=fast_build)
    if conda_platform is not None:
        check_native_platform(conda_platform)
    channel = parse_channel(location)
    name = recipe.parent.name if recipe.name == "recipe" else recipe.name  # the samples' NAME/recipe/ layout
    messages.status(f"building {name} for {conda_platform or 'this host'} into {channel.url}")
    messages.progress(1)
    publishing: list[str] = []

    def uploaded(filename: str, done: int, total: int) -> None:
        if not publishing:
            publishing.append(filename)
            messages.status(f"publishing to {channel.url}")
        messages.progress(80 + 20 * (done / total if total else 1.0))

    try:
        report = build_recipe(
            recipe,
            channel,
            build_number=build_number,
            channels=channels,
            target_platform=conda_platform,
            variant_config=[variant_config] if variant_config else [],
            output_dir=work_dir / "condafarm-output" if work_dir else None,
            override_source=override_sources,
            override_source_sha256=override_source_sha256,
            override_source_dir=override_source_dir,
            package_name=package_name,
            build_tool=build_tool,
            options=options,
            min_free_disk=parse_size(min_free_disk),
            on_log=messages.log,
            progress=uploaded,
        )
    except BuildFailed as exc:
        report_build_failure(exc, messages.log, kept_on="this host")
        raise
    published = report.published.packages if report.published else []
    for item in published:
        messages.log(f"published {item.url} ({item.subdir}, build number {item.build_number})")
    messages.progress(100)
    messages.status(f"published {len(published)} package(s) to {channel.url} in {report.seconds:.0f}s")
    return 0


def publish(messages: Messages, supervisor: Supervisor, folder: Path, location: str, force: bool) -> int:
    """The publish-prebuilt bundle: validate and publish every package file in the attached folder, all or none."""
    from condafarm import publish as publish_files

    channel = parse_channel(location)
    files = attached_packages(folder)
    messages.status(f"publishing {len(files)} package(s) to {channel.url}")
    with supervisor.shielded("publishing"):
        report = publish_files(channel, files, force=force, progress=upload_progress(messages, files, 0, 95))
    for item in report.packages:
        messages.log(f"  {item.url}  (build {item.build_number}{', replaced' if item.replaced else ''})")
    messages.log(report.summary())
    messages.progress(100)
    messages.status(f"published {len(report.packages)} package(s) to {channel.url}")
    return 0


def upload_progress(messages: Messages, files: list[Path], start: float, end: float) -> ProgressCallback:
    """Per-file upload progress `(filename, bytes done, bytes total)` as one percentage over all `files`."""
    overall = progress_between(messages, start, end)
    total = sum(f.stat().st_size for f in files) or 1
    done: dict[str, int] = {}

    def report(filename: str, sent: int, _size: int) -> None:
        done[filename] = sent
        overall("upload", min(sum(done.values()), total), total)

    return report


@dataclass(frozen=True)
class PruneRules:
    """The maintenance bundle's prune parameters (empty job parameters mean "not given")."""

    keep: int | None = None
    newer_than_days: float | None = None
    spec: str | None = None
    grace_hours: float = DEFAULT_GRACE_HOURS
    protect_lockfiles: tuple[str, ...] = ()

    @classmethod
    def from_args(cls, keep: str, newer_than: str, spec: str, grace_hours: str, protect: str) -> PruneRules:
        return cls(
            numbers.whole_number(keep, "prune: KeepBuilds", numbers.AT_LEAST_ONE) if keep.strip() else None,
            numbers.number(newer_than, "prune: NewerThanDays", numbers.POSITIVE_DURATION)
            if newer_than.strip()
            else None,
            spec.strip() or None,
            numbers.number(grace_hours, "prune: GraceHours", numbers.DURATION)
            if grace_hours.strip()
            else DEFAULT_GRACE_HOURS,
            tuple(split_list(protect)),
        )


def maintain(
    messages: Messages,
    supervisor: Supervisor,
    action: str,
    location: str,
    files: list[str],
    rules: PruneRules | None = None,
) -> int:
    """The maintenance bundle: `check`, `index`, `rebuild-index` (re-read every package), `remove`, `yank`,
    `prune` (keep the newest builds: yank now, delete after the grace period), `page` (the channel's index.html)
    and `mirror` (copy what the channel's kept mirror specs need from their upstreams).

    Every action except `check` ends with a check, so the task fails if the channel is left with problems.
    """
    from condafarm import check_channel, index_channel

    channel = parse_channel(location)
    if action in ("remove", "yank") and not files:
        raise UsageError(f"{action} needs the file names to {action} (Filenames parameter), e.g. tool-1.0-h0_0.conda")
    if action in ("index", "rebuild-index"):
        messages.status(f"indexing {channel.url}")
        with supervisor.shielded("indexing"):
            report = index_channel(
                channel, rebuild=action == "rebuild-index", progress=progress_between(messages, 0, 80)
            )
        messages.log(report.summary())
    elif action in ("remove", "yank"):
        from condafarm import remove, yank

        messages.status(f"{action} {len(files)} file(s) in {channel.url}")
        with supervisor.shielded(action):
            done = remove(channel, files, yes=True) if action == "remove" else yank(channel, files)
        messages.log(f"{action}: {', '.join(done.changed)}")
    elif action == "prune":
        from condafarm import prune_channel

        rules = rules or PruneRules()
        messages.status(f"pruning {channel.url}")
        with supervisor.shielded("prune"):
            pruned = prune_channel(
                channel,
                keep=rules.keep,
                newer_than_days=rules.newer_than_days,
                spec=rules.spec,
                grace_hours=rules.grace_hours,
                protect_lockfiles=list(rules.protect_lockfiles),
                yes=True,
            )
        messages.log(pruned.summary())
    elif action == "page":
        from condafarm import write_page

        page = write_page(channel)
        messages.log(f"wrote {page.url}: {page.builds} builds, {page.yanked} yanked")
    elif action == "mirror":
        from condafarm import mirror_channel

        # Not shielded: a mirror killed half-way leaves a valid channel, and the next run completes it.
        messages.status(f"mirroring into {channel.url}")
        for mirrored in mirror_channel(channel, progress=lambda wanted: messages.log(f"copied {wanted.key}")):
            messages.log(mirrored.summary())
    elif action != "check":
        raise UsageError(
            f"unknown action {action!r}; use check, index, rebuild-index, remove, yank, prune, page or mirror"
        )
    supervisor.check()
    messages.status(f"checking {channel.url}")
    result = check_channel(channel)
    messages.progress(100)
    messages.status(report_check(result, messages.log))
    return 0
