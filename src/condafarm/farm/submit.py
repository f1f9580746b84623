"""Submit package builds to a Deadline Cloud queue: one job per conda platform, from condafarm's job bundles.

A recipe folder may carry a `deadline-cloud.yaml` (the format of the deadline-cloud-samples recipes): which
platforms to build (`condaPlatforms`: `platform`, `variant`, `defaultSubmit`, `sourceArchiveFilename`,
`sourceDownloadInstructions`, `additionalHostRequirements`, `variantConfig`) and extra `jobParameters`.
Each planned job is the OS's build bundle with the platform's CPU architecture and any extra host
requirements applied, so it lands on a host that builds that platform natively.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import UsageError

#: The OS family and CPU architecture of the hosts that build each conda platform.
PLATFORM_HOSTS = {
    "linux-64": ("linux", "x86_64"),
    "linux-aarch64": ("linux", "arm64"),
    "win-64": ("windows", "x86_64"),
    "osx-64": ("macos", "x86_64"),
    "osx-arm64": ("macos", "arm64"),
}
#: The platform built for an OS when the recipe does not say.
DEFAULT_PLATFORM = {"linux": "linux-64", "windows": "win-64", "macos": "osx-arm64"}
BUNDLE_FOR_OS = {"linux": "build_linux", "windows": "build_windows", "macos": "build_macos"}
#: Written in place of the channel by a dry run without `--to`, which must not ask AWS for the queue's bucket.
QUEUE_CHANNEL_PLACEHOLDER = "s3://<job attachments bucket of the queue>/Conda/Default"
CONFIG_NAME = "deadline-cloud.yaml"


@dataclass(frozen=True)
class PlatformSpec:
    """One `condaPlatforms` entry of a recipe's deadline-cloud.yaml."""

    platform: str
    variant: str | None = None
    default_submit: bool = True
    source_archives: tuple[str, ...] = ()
    download_instructions: str = ""
    extra_host_requirements: dict[str, Any] = field(default_factory=dict)
    variant_config: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return f"{self.platform}-{self.variant}" if self.variant else self.platform

    @property
    def os(self) -> str:
        return PLATFORM_HOSTS[self.platform][0]

    @classmethod
    def from_yaml(cls, item: dict[str, Any], where: Path) -> PlatformSpec:
        platform = item.get("platform")
        if platform not in PLATFORM_HOSTS:
            raise UsageError(f"{where}: platform {platform!r} is not one of {', '.join(PLATFORM_HOSTS)}")
        archives = item.get("sourceArchiveFilename") or ()
        return cls(
            platform=platform,
            variant=item.get("variant"),
            default_submit=bool(item.get("defaultSubmit", True)),
            source_archives=(archives,) if isinstance(archives, str) else tuple(archives),
            download_instructions=str(item.get("sourceDownloadInstructions", "")),
            extra_host_requirements=dict(item.get("additionalHostRequirements") or {}),
            variant_config=item.get("variantConfig"),
        )


@dataclass(frozen=True)
class Recipe:
    """A recipe folder as `submit` sees it: where recipe.yaml is, and its deadline-cloud.yaml if any."""

    recipe_dir: Path
    name: str
    config_path: Path | None
    platforms: tuple[PlatformSpec, ...]
    job_parameters: dict[str, str]

    @classmethod
    def load(cls, location: Path) -> Recipe:
        """Accept a recipe.yaml, its folder, or the samples' layout (a folder with `deadline-cloud.yaml` and
        `recipe/recipe.yaml`)."""
        location = location.expanduser().absolute()
        if location.is_file():
            location = location.parent
        recipe_dir = next((d for d in (location, location / "recipe") if (d / "recipe.yaml").is_file()), None)
        if recipe_dir is None:
            hint = " (it has a conda-build meta.yaml; condafarm builds rattler-build recipe.yaml files)"
            meta = any((d / "meta.yaml").is_file() for d in (location, location / "recipe"))
            raise UsageError(f"no recipe.yaml in {location} or {location / 'recipe'}{hint if meta else ''}")
        config_path = next(
            (
                d / CONFIG_NAME
                for d in dict.fromkeys((location, recipe_dir, recipe_dir.parent))
                if (d / CONFIG_NAME).is_file()
            ),
            None,
        )
        name = (location if location != recipe_dir or recipe_dir.name != "recipe" else recipe_dir.parent).name
        if config_path is None:
            return cls(recipe_dir, name, None, (), {})
        data = yaml.safe_load(config_path.read_text()) or {}
        if not isinstance(data, dict):
            raise UsageError(f"{config_path}: expected a mapping with condaPlatforms and jobParameters")
        platforms = tuple(PlatformSpec.from_yaml(item, config_path) for item in data.get("condaPlatforms") or ())
        parameters = {str(p["name"]): str(p["value"]) for p in data.get("jobParameters") or ()}
        return cls(recipe_dir, name, config_path, platforms, parameters)

    def archive_folders(self) -> list[Path]:
        """Where source archives named in deadline-cloud.yaml are looked for, in order."""
        base = self.config_path.parent if self.config_path else self.recipe_dir
        return list(dict.fromkeys([base, base / "archive_files", base.parent / "archive_files"]))

    def choose(self, oses: Iterable[str] | None, names: Iterable[str] | None) -> list[PlatformSpec]:
        """The platforms to submit: `names` exactly; else every platform of `oses`; else the recipe's
        `defaultSubmit` ones (or Linux alone for a recipe without deadline-cloud.yaml)."""
        known = self.platforms or tuple(PlatformSpec(p) for p in (DEFAULT_PLATFORM[o] for o in oses or ["linux"]))
        if names:
            wanted = list(dict.fromkeys(names))
            by_name = {p.name: p for p in known}
            missing = [n for n in wanted if n not in by_name]
            if missing:
                raise UsageError(f"{self.name} does not build {missing[0]!r}; choose from {', '.join(by_name)}")
            return [by_name[n] for n in wanted]
        if oses:
            chosen = [p for p in known if p.os in set(oses)]
            if not chosen:
                raise UsageError(
                    f"{self.name} builds no platform for {', '.join(oses)}; its platforms: "
                    f"{', '.join(p.name for p in known)}"
                )
            return chosen
        return [p for p in known if p.default_submit] or list(known)


@dataclass
class PlannedJob:
    """One build job: the bundle it comes from, the template to submit, and its parameter values."""

    platform: PlatformSpec
    base_bundle: Path
    template: dict[str, Any]
    parameters: dict[str, str]
    files: dict[str, str] = field(default_factory=dict)  # extra bundle files (name -> text), e.g. variants

    def host_requirements(self) -> list[str]:
        """The step's host requirements, one `name=values` or `name>=min` string each."""
        hosts = self.template["steps"][0].get("hostRequirements", {})
        out = [f"{a['name']}={','.join(a.get('anyOf', a.get('allOf', [])))}" for a in hosts.get("attributes", [])]
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


def bundles_dir(override: Path | None = None) -> Path:
    """condafarm's job_bundles folder: `override`, else `$CONDAFARM_JOB_BUNDLES`, else the source checkout's."""
    env = os.environ.get("CONDAFARM_JOB_BUNDLES")
    folder = override or (Path(env) if env else Path(__file__).resolve().parents[3] / "job_bundles")
    if not (folder / BUNDLE_FOR_OS["linux"] / "template.yaml").is_file():
        raise UsageError(
            f"condafarm's job bundles are not in {folder}; pass --bundles or set CONDAFARM_JOB_BUNDLES to the "
            "job_bundles folder of a condafarm checkout"
        )
    return folder


def _merge_host_requirements(target: dict[str, Any], extra: dict[str, Any]) -> None:
    """Add deadline-cloud.yaml's `additionalHostRequirements`: lists extend, a same-named attribute is replaced."""
    for kind in ("attributes", "amounts"):
        for item in extra.get(kind, []):
            items = target.setdefault(kind, [])
            items[:] = [i for i in items if i["name"] != item["name"]] + [copy.deepcopy(item)]


def plan_jobs(
    recipe: Recipe,
    *,
    channel: str,
    oses: Iterable[str] | None = None,
    platforms: Iterable[str] | None = None,
    extra_channels: Iterable[str] = (),
    build_number: str | None = None,
    bundles: Path | None = None,
) -> list[PlannedJob]:
    """Plan one build job per chosen platform; checks source archives exist (naming how to get them)."""
    unknown = [o for o in oses or () if o not in BUNDLE_FOR_OS]
    if unknown:
        raise UsageError(f"unknown OS {unknown[0]!r}; use {', '.join(BUNDLE_FOR_OS)}")
    root = bundles_dir(bundles)
    plans = []
    for spec in recipe.choose(oses, platforms):
        base = root / BUNDLE_FOR_OS[spec.os]
        template = yaml.safe_load((base / "template.yaml").read_text())
        allowed = next(p for p in template["parameterDefinitions"] if p["name"] == "TargetPlatform")["allowedValues"]
        if spec.platform not in allowed:
            raise UsageError(f"{base.name} builds {', '.join(allowed)}, not {spec.platform}")
        hosts = template["steps"][0]["hostRequirements"]
        for attribute in hosts["attributes"]:
            if attribute["name"] == "attr.worker.cpu.arch":
                attribute["anyOf"] = [PLATFORM_HOSTS[spec.platform][1]]
        _merge_host_requirements(hosts, spec.extra_host_requirements)
        parameters = {
            "RecipeName": recipe.name,
            "RecipeDir": str(recipe.recipe_dir),
            "DestinationChannel": channel,
            "TargetPlatform": spec.platform,
            **recipe.job_parameters,
        }
        if extra_channels:
            parameters["ExtraChannels"] = " ".join(extra_channels)
        if build_number is not None:
            parameters["BuildNumber"] = build_number
        if spec.source_archives:
            parameters["OverrideSourceArchive"] = str(_find_archive(recipe, spec))
        plan = PlannedJob(spec, base, template, parameters)
        if spec.variant_config is not None:
            plan.files["variant_config.yaml"] = yaml.safe_dump(spec.variant_config, sort_keys=False)
            parameters["VariantConfig"] = "variant_config.yaml"
        plans.append(plan)
    return plans


def _find_archive(recipe: Recipe, spec: PlatformSpec) -> Path:
    if len(spec.source_archives) != 1:
        raise UsageError(
            f"{recipe.config_path}: {spec.name} names {len(spec.source_archives)} source archives; the build job "
            "takes one (--override-source): combine them into one archive"
        )
    (filename,) = spec.source_archives
    folders = recipe.archive_folders()
    found = next((f / filename for f in folders if (f / filename).is_file()), None)
    if found is None:
        how = f"; to get it: {spec.download_instructions}" if spec.download_instructions else ""
        raise UsageError(
            f"source archive {filename} for {spec.name} is not in {' or '.join(str(f) for f in folders)}{how}"
        )
    return found


def queue_channel(config: Any = None) -> str:
    """`s3://<the default queue's job attachments bucket>/Conda/Default`, as the samples' submitter does."""
    from deadline.client.api import get_boto3_client
    from deadline.client.config import get_setting

    client: Any = get_boto3_client("deadline", config=config)
    queue = client.get_queue(
        farmId=get_setting("defaults.farm_id", config=config), queueId=get_setting("defaults.queue_id", config=config)
    )
    bucket = (queue.get("jobAttachmentSettings") or {}).get("s3BucketName")
    if not bucket:
        raise UsageError("the queue has no job attachments bucket; give the channel with --to s3://BUCKET/PREFIX")
    return f"s3://{bucket}/Conda/Default"


def deadline_config(farm_id: str | None = None, queue_id: str | None = None) -> Any:
    """The Deadline Cloud CLI's configuration, with the farm and queue overridden when given."""
    from deadline.client.config import config_file, set_setting

    config = config_file.read_config()
    if farm_id:
        set_setting("defaults.farm_id", farm_id, config=config)
    if queue_id:
        set_setting("defaults.queue_id", queue_id, config=config)
    return config


def submit_jobs(
    plans: list[PlannedJob], work_dir: Path, config: Any = None, say: Callable[[str], None] = print
) -> list[str]:
    """Write each planned bundle under `work_dir` and create its job with the Deadline Cloud library (which
    uploads the recipe folder and source archive as job attachments); returns the job ids."""
    from deadline.client.api import create_job_from_job_bundle

    job_ids = []
    for i, plan in enumerate(plans, 1):
        folder = plan.write(work_dir / f"{i:02d}-{plan.platform.name}")
        parameters = dict(plan.parameters)
        if "VariantConfig" in parameters:
            parameters["VariantConfig"] = str(folder / parameters["VariantConfig"])
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
