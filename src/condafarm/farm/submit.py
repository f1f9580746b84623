"""Submit package builds to a Deadline Cloud queue: one job per conda platform, from condafarm's job bundles.

A recipe folder may carry a `deadline-cloud.yaml` (the deadline-cloud-samples' format, `recipe_config.py`).
Each planned job is the OS's build bundle with the platform's CPU architecture (the bundle's host requirements
follow its `CpuArch` parameter) and any extra host requirements applied, so it lands on a host that builds
that platform natively. The channel and the queue follow the samples' `submit-package-job`: a channel name
becomes `s3://<the queue's job attachments bucket>/Conda/NAME`, and the queue is found by a name prefix
(`Package` by default), never by the Deadline CLI's default queue, which may be a production queue.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import UsageError
from ..safe_files import inside
from ..storage.location import Kind, check_key, classify
from .check import recipe_platforms
from .files import bundles_dir
from .recipe_config import PlatformSpec, Recipe

log = logging.getLogger(__name__)

BUNDLE_FOR_OS = {"linux": "build_linux", "windows": "build_windows", "macos": "build_macos"}
#: The samples' default package-building queue name prefix.
DEFAULT_QUEUE_PREFIX = "Package"
#: Stands for the queue's job attachments bucket in a dry run, which must not ask AWS for it.
QUEUE_BUCKET_PLACEHOLDER = "<job attachments bucket of the queue>"
#: Parameters of the samples' build bundle that are another parameter of condafarm's bundles.
RENAMED_PARAMETERS = {
    "S3CondaChannel": "DestinationChannel",
    "CondaBuildConfigFile": "VariantConfigFile",  # a conda_build_config.yaml: rattler-build reads it as variants
    "OverrideSourceArchive": "OverrideSourceArchive1",  # the samples' 2024 name
}
#: The bundles' parameters that name a file or folder of the submitting host, which the job attaches (uploads).
ATTACHED_PARAMETERS = frozenset(
    {"RecipeDir", "VariantConfigFile", "OverrideSourceArchive1", "OverrideSourceArchive2", "OverrideSourceDir"}
)
#: The name the samples' CondaBuildConfigFile gets in the job's bundle.
CONDA_BUILD_CONFIG = "conda_build_config.yaml"
#: Parameters of the samples' build bundle that condafarm needs no equivalent for: accepted, with one note.
OBSOLETE_PARAMETERS = {
    "CondaChannelName": "condafarm channels have no display name",
    **dict.fromkeys(
        ("PackageBuildEnvName", "ReusePackageBuildEnv", "CondaBuildEnvName", "ReuseCondaBuildEnv"),
        "builds run in the host's condafarm, which caches packages, so there is no build environment to name or reuse",
    ),
    "JobScriptDir": "condafarm's bundles run condafarm-worker, not scripts",
}
#: Older names condafarm's bundles do not take, and what to write instead.
REFUSED_PARAMETERS = {
    "TargetPlatform": "renamed CondaPlatform (with CpuArch choosing the host)",
    "ExtraChannels": "renamed CondaChannels",
    "VariantConfig": "renamed VariantConfigFile",
}
#: What OverridePrefixLength (conda-build's --prefix-length) becomes: rattler-build has no such setting.
PREFIX_LENGTH_NOTE = (
    "rattler-build has no prefix-length setting: it builds with its own fixed-length placeholder prefix "
    "(as long as conda-build's default, 255), and the value is not applied"
)


@dataclass
class PlannedJob:
    """One build job: the bundle it comes from, the template to submit, and its parameter values."""

    platform: PlatformSpec
    base_bundle: Path
    template: dict[str, Any]
    parameters: dict[str, str]
    files: dict[str, str] = field(default_factory=dict)  # extra bundle files (name -> text), e.g. variants

    def host_requirements(self) -> list[str]:
        """The step's host requirements with the job's parameters filled in: `name=values` or `name>=min`."""

        def fill(value: str) -> str:
            return re.sub(r"\{\{\s*Param\.(\w+)\s*\}\}", lambda m: self.parameters.get(m[1], m[0]), value)

        hosts = self.template["steps"][0].get("hostRequirements", {})
        out = [
            f"{a['name']}={','.join(fill(v) for v in a.get('anyOf', a.get('allOf', [])))}"
            for a in hosts.get("attributes", [])
        ]
        for amount in hosts.get("amounts", []):
            bounds = [f">={amount['min']}" if "min" in amount else "", f"<={amount['max']}" if "max" in amount else ""]
            out.append(amount["name"] + "".join(b for b in bounds if b))
        return out

    def write(self, folder: Path) -> Path:
        """Write this job's bundle (template, parameter_values.yaml, extra files) into `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "template.yaml").write_text(yaml.safe_dump(self.template, sort_keys=False))
        (folder / "parameter_values.yaml").write_text((self.base_bundle / "parameter_values.yaml").read_text())
        for name, text in self.files.items():
            (folder / name).write_text(text)
        return folder


def channel_name(to: str | None) -> str | None:
    """The channel name `--to` gives (default `Default`), which lives in a bucket; None for an `s3://` URL.

    Anything else is refused: a folder (or a word naming one here, `classify`'s `bare_folders`) would be a
    folder on the worker host, gone with the session; another URL is no channel a build job can publish to."""
    location = classify(to or "Default", bare_folders=True)
    if location.kind is Kind.S3:
        return None
    choose = "give s3://BUCKET/PREFIX, or a channel name for s3://<the queue's job attachments bucket>/Conda/NAME"
    if location.kind is Kind.FOLDER:
        raise UsageError(
            f"--to {location.text}: a build job publishes from a worker host, where a folder would vanish with the "
            f"session; {choose}"
        )
    if location.kind is not Kind.NAME:
        raise UsageError(f"--to {location.text}: a build job publishes to S3; {choose}")
    name = location.text.strip("/")
    try:
        return check_key(name)
    except UsageError:
        raise UsageError(
            f"--to {location.text}: a channel name is words separated by '/', without empty, '.' or '..' parts, "
            f"backslashes or colons; {choose}"
        ) from None


def destination_channel(to: str | None, bucket: str | None) -> str:
    """The channel a build job publishes to, as the samples' `--s3-channel`: an `s3://` URL as given; a name
    (default `Default`) as `s3://BUCKET/Conda/NAME` (`channel_name` refuses the rest). Without `bucket` the
    name's URL holds a placeholder (a dry run)."""
    name = channel_name(to)
    if name is None:
        return classify(to or "").channel().url
    return f"s3://{bucket or QUEUE_BUCKET_PLACEHOLDER}/Conda/{name}"


@dataclass(frozen=True)
class SubmitTarget:
    """Where `submit` sends its jobs: the queue (as a person reads it), the channel they publish to, and the
    Deadline Cloud configuration to create them with (None in a dry run, which makes no AWS call)."""

    queue: str
    channel: str
    config: Any = None


def submit_target(
    to: str | None,
    bucket: str | None = None,
    *,
    farm_id: str | None = None,
    queue_id: str | None = None,
    queue: str = DEFAULT_QUEUE_PREFIX,
    dry_run: bool = False,
) -> SubmitTarget:
    """Choose `submit`'s queue and channel, as the samples' `submit-package-job` does: the queue `queue_id`, else
    the farm's queue named `queue` or the only one whose name starts so (`select_queue`), never the Deadline CLI's
    default queue; the channel `to` (`destination_channel`), where a name lives in `bucket`, else in the queue's
    job attachments bucket. A folder is refused before any AWS call, and a dry run makes none."""
    name = channel_name(to)
    if dry_run:
        return SubmitTarget(
            queue_id or f"the queue named {queue!r} (or the only one starting so)", destination_channel(to, bucket)
        )
    config = deadline_config(farm_id, queue_id)
    chosen = queue_id
    if not queue_id:
        found = select_queue(config, queue)
        chosen = f"{found['displayName']} ({found['queueId']})"
    if name is not None and not bucket:
        bucket = queue_bucket(config)
    return SubmitTarget(str(chosen), destination_channel(to, bucket), config)


def choose_queue(queues: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    """The queue named `prefix`, or the only one whose name starts with it; several or none are refused, naming
    them, so a build never lands on a production queue by accident."""
    exact = [q for q in queues if q.get("displayName") == prefix]
    matches = exact or [q for q in queues if str(q.get("displayName", "")).startswith(prefix)]
    names = ", ".join(repr(q.get("displayName")) for q in queues) or "none"
    if not matches:
        raise UsageError(
            f"no queue's name starts with {prefix!r} (the farm's queues: {names}); give --queue or --queue-id"
        )
    if len(matches) > 1:
        found = ", ".join(repr(q.get("displayName")) for q in matches)
        raise UsageError(f"several queues' names start with {prefix!r} ({found}); give more of the name with --queue")
    return matches[0]


def _job_parameters(recipe: Recipe, allowed: set[str], bundle: str) -> dict[str, str]:
    """deadline-cloud.yaml's jobParameters as parameters of the bundle: the samples' names that condafarm calls
    otherwise are renamed, obsolete ones dropped with a note, and anything else refused saying what to do."""
    parameters: dict[str, str] = {}
    for name, value in recipe.job_parameters.items():
        where = f"{recipe.config_path}: jobParameters {name}"
        if name in REFUSED_PARAMETERS:
            raise UsageError(f"{where}: {REFUSED_PARAMETERS[name]}")
        if name in OBSOLETE_PARAMETERS:
            log.warning("%s: not needed (%s): ignored", where, OBSOLETE_PARAMETERS[name])
            continue
        if name == "S3CondaChannel" and classify(value).kind is not Kind.S3:
            raise UsageError(f"{where}: {value!r} is not an s3://BUCKET/PREFIX channel")
        target = RENAMED_PARAMETERS.get(name, name)
        if target in ATTACHED_PARAMETERS:
            value = str(_attached(recipe, value, where))
        if target not in allowed:
            raise UsageError(f"{where} is not a parameter of {bundle}; its parameters: {', '.join(sorted(allowed))}")
        if target != name:
            log.warning("%s: the samples' name for %s, which it becomes", where, target)
        parameters[target] = value
    return parameters


def _attached(recipe: Recipe, value: str, where: str) -> Path:
    """A file or folder deadline-cloud.yaml names for the job to attach: relative to that file's folder, and
    inside one of the folders source archives are looked in (`Recipe.archive_folders`) with every symlink
    followed, since the job uploads it and whoever wrote the recipe could otherwise name a file of the
    submitter's (a key, a token)."""
    base = recipe.config_path.parent if recipe.config_path else recipe.recipe_dir
    path = (base / value).absolute()
    if not path.exists():
        raise UsageError(f"{where}: {value} is not a file (looked in {base})")
    folders = recipe.archive_folders()
    if not any(inside(path, folder) for folder in folders):
        raise UsageError(
            f"{where}: {value} is outside {' and '.join(str(f) for f in folders)} (or a symlink leading out); the "
            "job attaches it, so it must lie beside deadline-cloud.yaml or in archive_files: copy it there"
        )
    return path


def _check_values(parameters: dict[str, str]) -> None:
    """Refuse here, before anything is uploaded, what the worker would refuse."""
    from ..build.tool_args import parse_tool_args

    length = parameters.get("OverridePrefixLength", "0").strip() or "0"
    if not length.isdigit() or int(length) > 255:
        raise UsageError(f"OverridePrefixLength {length}: give a number from 0 to 255")
    if length != "0":
        log.warning("OverridePrefixLength %s: %s", length, PREFIX_LENGTH_NOTE)
    parse_tool_args(parameters.get("ExtraBuildToolArgs", ""), fast_build=parameters.get("EnableFastBuild") == "true")


def plan_jobs(
    recipe: Recipe,
    *,
    channel: str,
    oses: Iterable[str] | None = None,
    platforms: Iterable[str] | None = None,
    all_platforms: bool = False,
    extra_channels: Iterable[str] = (),
    build_number: str | None = None,
    fast_build: bool = False,
    extra_args: str | None = None,
    bundles: Path | None = None,
) -> list[PlannedJob]:
    """Plan one build job per chosen platform; checks source archives exist (naming how to get them) and refuses
    any deadline-cloud.yaml parameter or value the job could not honour. Without deadline-cloud.yaml and without
    `oses` or `platforms`, the platforms are those the recipe builds (`check.recipe_platforms`)."""
    unknown = [o for o in oses or () if o not in BUNDLE_FOR_OS]
    if unknown:
        raise UsageError(f"unknown OS {unknown[0]!r}; use {', '.join(BUNDLE_FOR_OS)}")
    root = bundles_dir(bundles)
    plans = []
    shared: dict[str, str] = {}  # deadline-cloud.yaml's jobParameters, read (and noted) once
    specs = recipe.choose(oses, platforms, all_platforms)
    if recipe.config_path is None and not oses and not platforms:
        # no deadline-cloud.yaml and no choice: the platforms the recipe itself builds (build.skip, scripts)
        tool = recipe.build_tool_for(specs[0])
        specs = [PlatformSpec(p, default_submit=True) for p in recipe_platforms(recipe.recipe_dir, tool)]
    for spec in specs:
        base = root / BUNDLE_FOR_OS[spec.os]
        template = yaml.safe_load((base / "template.yaml").read_text())
        definitions = {p["name"]: p for p in template["parameterDefinitions"]}
        arches = definitions["CpuArch"]["allowedValues"]
        if spec.cpu_arch not in arches:
            raise UsageError(f"{base.name} builds on {', '.join(arches)} hosts, not {spec.cpu_arch} ({spec.platform})")
        template["name"] = f"condafarm build {recipe.name} ({spec.name})"
        _merge_host_requirements(template["steps"][0]["hostRequirements"], spec.extra_host_requirements)
        parameters = {
            "RecipeName": recipe.name,
            "RecipeDir": str(recipe.recipe_dir),
            "DestinationChannel": channel,
            **(shared := shared or _job_parameters(recipe, set(definitions), base.name)),
            "CondaPlatform": spec.platform,
            "CpuArch": spec.cpu_arch,
            "BuildTool": recipe.build_tool_for(spec),
        }
        channels = [*parameters.get("CondaChannels", "").split(), *extra_channels]
        if channels:
            parameters["CondaChannels"] = " ".join(dict.fromkeys(channels))
        if build_number is not None:
            parameters["BuildNumber"] = build_number
        if fast_build:
            parameters["EnableFastBuild"] = "true"
        if extra_args is not None:
            parameters["ExtraBuildToolArgs"] = extra_args
        for i, archive in enumerate(recipe.find_archives(spec), 1):
            parameters[f"OverrideSourceArchive{i}"] = str(archive)
        source_dir = recipe.find_source_directory(spec)
        if source_dir is not None:
            parameters["OverrideSourceDir"] = str(source_dir)
        _check_values(parameters)
        plan = PlannedJob(spec, base, template, parameters)
        if spec.variant_config is not None:
            plan.files["variant_config.yaml"] = yaml.safe_dump(spec.variant_config, sort_keys=False)
            parameters["VariantConfigFile"] = "variant_config.yaml"
        elif "CondaBuildConfigFile" in recipe.job_parameters:
            # rattler-build reads `# [sel]` selectors only in a file of this name, as conda-build read them
            plan.files[CONDA_BUILD_CONFIG] = Path(parameters["VariantConfigFile"]).read_text(encoding="utf-8")
            parameters["VariantConfigFile"] = CONDA_BUILD_CONFIG
        plans.append(plan)
    return plans


def _merge_host_requirements(target: dict[str, Any], extra: dict[str, Any]) -> None:
    """Add deadline-cloud.yaml's `additionalHostRequirements`: lists extend, a same-named attribute is replaced."""
    for kind in ("attributes", "amounts"):
        for item in extra.get(kind, []):
            items = target.setdefault(kind, [])
            items[:] = [i for i in items if i["name"] != item["name"]] + [copy.deepcopy(item)]


def deadline_config(farm_id: str | None = None, queue_id: str | None = None) -> Any:
    """The Deadline Cloud CLI's configuration, with the farm and queue overridden when given."""
    from deadline.client.config import config_file, set_setting

    config = config_file.read_config()
    if farm_id:
        set_setting("defaults.farm_id", farm_id, config=config)
    if queue_id:
        set_setting("defaults.queue_id", queue_id, config=config)
    return config


def select_queue(config: Any, prefix: str) -> dict[str, Any]:
    """Find the package-building queue of the configured farm by name prefix and make it the config's queue."""
    from deadline.client.api import list_queues
    from deadline.client.config import get_setting, set_setting

    farm_id = get_setting("defaults.farm_id", config=config)
    if not farm_id:
        raise UsageError("no farm is configured; give --farm-id or run `deadline config set defaults.farm_id FARM`")
    listed: Any = list_queues  # untyped in the deadline package
    queue = choose_queue(listed(farmId=farm_id, config=config)["queues"], prefix)
    set_setting("defaults.queue_id", queue["queueId"], config=config)
    return queue


def queue_bucket(config: Any) -> str:
    """The job attachments bucket of the config's queue, which the samples build their channels in."""
    from deadline.client.api import get_boto3_client
    from deadline.client.config import get_setting

    client: Any = get_boto3_client("deadline", config=config)
    queue = client.get_queue(
        farmId=get_setting("defaults.farm_id", config=config), queueId=get_setting("defaults.queue_id", config=config)
    )
    bucket = (queue.get("jobAttachmentSettings") or {}).get("s3BucketName")
    if not bucket:
        raise UsageError("the queue has no job attachments bucket; give --bucket, or --to s3://BUCKET/PREFIX")
    return str(bucket)


def submit_jobs(
    plans: list[PlannedJob], work_dir: Path, config: Any = None, say: Callable[[str], None] = print
) -> list[str]:
    """Write each planned bundle under `work_dir` and create its job with the Deadline Cloud library (which
    uploads the recipe folder and source archives as job attachments); returns the job ids."""
    from deadline.client.api import create_job_from_job_bundle

    job_ids = []
    for i, plan in enumerate(plans, 1):
        folder = plan.write(work_dir / f"{i:02d}-{plan.platform.name}")
        parameters = dict(plan.parameters)
        if parameters.get("VariantConfigFile") in plan.files:
            parameters["VariantConfigFile"] = str(folder / parameters["VariantConfigFile"])
        job_id = create_job_from_job_bundle(
            str(folder),
            job_parameters=[{"name": k, "value": v} for k, v in parameters.items()],
            config=config,
            print_function_callback=say,
            interactive_confirmation_callback=lambda _message, default: default,
        )
        if job_id:
            job_ids.append(str(job_id))
    return job_ids
