"""`env image`: an environment as an OCI image, built from its files without Docker and without root.

Each package becomes its own layer (its files as installed, relocated to the image's prefix, in a tar made
byte-for-byte reproducible: sorted, owner 0, time 0, gzip without a timestamp), so the same package at the same
image prefix is the same layer in every image, and a registry stores and a host pulls it once. Files no package
owns (conda-meta, condafarm's manifest) form the last layer. The image's `Env` carries the environment's
activation (PATH, CONDA_PREFIX, env_vars.d, activate.d), so any entrypoint runs activated. A base image, given as
an OCI layout (e.g. from `skopeo copy docker://debian:12 oci:base:12`), goes below; without one the image holds
only the environment. Written as an OCI image layout folder, or a .tar of one (skopeo's `oci-archive:`).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from ...errors import UsageError
from ...safe_files import write_streamed
from .oci_layout import CONFIG_TYPE, LAYER_TYPE, MANIFEST_TYPE, Descriptor, Layout
from .pack import prefix_files
from .unpack_script import replaced

DEFAULT_PREFIX = "/opt/env"
#: Layers beyond this many make some container runtimes fail (overlayfs stacks ~128); the smallest packages
#: past it share one layer.
MAX_LAYERS = 100
_ARCH = {"linux-64": "amd64", "linux-aarch64": "arm64", "linux-ppc64le": "ppc64le", "linux-s390x": "s390x"}
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Image:
    output: Path
    manifest: Descriptor
    layers: int
    tag: str


def _owned_files(prefix: Path) -> dict[str, list[str]]:
    """package file name -> the environment files its conda-meta record lists (checked to stay inside)."""
    owned: dict[str, list[str]] = {}
    for record in sorted((prefix / "conda-meta").glob("*.json")):
        data = json.loads(record.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "files" not in data:
            continue  # condafarm's own manifest, or not a package record
        files = []
        for relative in data["files"]:
            path = PurePosixPath(relative) if isinstance(relative, str) else None
            if path is None or path.is_absolute() or ".." in path.parts:
                raise UsageError(f"{record} lists {relative!r}, outside the environment; create the environment again")
            files.append(relative)
        owned[record.stem] = files
    return owned


def _grouped(owned: dict[str, list[str]], prefix: Path) -> list[tuple[str, list[str]]]:
    """Layers as (name, files): one per package, the smallest sharing one past MAX_LAYERS - 1."""
    sizes = {name: sum(_size(prefix / f) for f in files) for name, files in owned.items()}
    by_size = sorted(owned, key=lambda name: (-sizes[name], name))
    alone, shared = sorted(by_size[: MAX_LAYERS - 2]), sorted(by_size[MAX_LAYERS - 2 :])
    groups = [(name, owned[name]) for name in alone]
    if shared:
        groups.append((" ".join(shared), [f for name in shared for f in owned[name]]))
    return groups


def _size(path: Path) -> int:
    return path.lstat().st_size if path.is_file() or path.is_symlink() else 0


def _members(root: str, relatives: Sequence[str]) -> Iterator[str]:
    """Every path a layer holds, folders before what is in them, sorted: the same input gives the same tar."""
    paths = set()
    for relative in relatives:
        path = PurePosixPath(root, relative)
        paths.add(str(path))
        paths.update(str(parent) for parent in path.parents if str(parent) not in (".", "/"))
    yield from sorted(paths)


def _layer(prefix: Path, image_prefix: str, relatives: Sequence[str], relocate: dict[str, str]) -> tuple[bytes, str]:
    """(gzip blob, diff_id) of a reproducible layer holding `relatives` at `image_prefix`."""
    root = image_prefix.strip("/")
    wanted = {str(PurePosixPath(root, r)): r for r in relatives}
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in _members(root, relatives):
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            relative = wanted.get(name)
            path = prefix / relative if relative is not None else None
            if path is None or (path.is_dir() and not path.is_symlink()):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif path.is_symlink():
                info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, os.readlink(path)
                tar.addfile(info)
            elif path.is_file():
                data = path.read_bytes()
                assert relative is not None
                if relative in relocate:
                    data = _relocated(data, prefix, image_prefix, relocate[relative], relative)
                info.mode, info.size = path.stat().st_mode & 0o7777, len(data)
                tar.addfile(info, io.BytesIO(data))
    uncompressed = raw.getvalue()
    compressed = io.BytesIO()
    with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0, filename="", compresslevel=6) as out:
        out.write(uncompressed)
    return compressed.getvalue(), "sha256:" + hashlib.sha256(uncompressed).hexdigest()


def _relocated(data: bytes, prefix: Path, image_prefix: str, mode: str, relative: str) -> bytes:
    try:
        return replaced(data, str(prefix).encode(), image_prefix.encode(), mode, relative)
    except SystemExit as exc:  # the standalone unpack script's way of refusing a longer prefix
        raise UsageError(f"{exc}; give a shorter --image-prefix") from None


def _base(base: str, layout: Layout, arch: str) -> tuple[list[Descriptor], dict[str, Any]]:
    """The layers (copied into `layout`) and config of the base image `base`: an OCI layout folder, optionally
    with `:TAG` (default: its only image)."""
    folder, _, tag = base.rpartition(":") if ":" in Path(base).name else (base, "", "")
    source = Layout(Path(folder))
    _, manifest = source.image(tag, arch)
    config = source.read_json(manifest["config"])
    if config.get("architecture") != arch:
        raise UsageError(f"base image {base} is {config.get('architecture')}, the environment is {arch}")
    return [layout.copy_from(source, entry) for entry in manifest.get("layers", [])], config


def build_image(
    prefix: Path,
    output: Path,
    *,
    tag: str = "latest",
    image_prefix: str = DEFAULT_PREFIX,
    base: str | None = None,
    entrypoint: Sequence[str] = (),
) -> Image:
    """Write the OCI image of the environment at `prefix` to `output` (a layout folder, or a .tar of one)."""
    from ..install import activation_changes, read_manifest

    prefix = prefix.absolute()
    manifest = read_manifest(prefix)
    if manifest is None:
        raise UsageError(f"{prefix} is not an environment condafarm created (no conda-meta/condafarm-env.json)")
    arch = _ARCH.get(manifest.platform)
    if arch is None:
        raise UsageError(f"{prefix} is a {manifest.platform} environment; OCI images hold Linux environments")
    parts = PurePosixPath(image_prefix).parts
    if not image_prefix.startswith("/") or len(parts) < 2 or "\n" in image_prefix or ".." in parts:
        raise UsageError(f"--image-prefix {image_prefix!r} must be an absolute POSIX path")
    if output.exists():
        raise UsageError(f"{output} already exists; choose a new path")
    with tempfile.TemporaryDirectory(prefix=".condafarm-image-", dir=output.parent) as work:
        layout = Layout.new(Path(work) / "layout")  # next to OUTPUT, renamed there when complete
        layers, config = _base(base, layout, arch) if base else ([], {})
        diff_ids = list(config.get("rootfs", {}).get("diff_ids", []))
        relocate = dict(prefix_files(prefix))
        owned = _owned_files(prefix)
        history = list(config.get("history", []))
        groups = _grouped(owned, prefix)
        claimed = {f for files in owned.values() for f in files}
        rest = sorted(
            p.relative_to(prefix).as_posix()
            for p in prefix.rglob("*")
            if (p.is_file() or p.is_symlink()) and p.relative_to(prefix).as_posix() not in claimed
        )
        for name, files in [*groups, ("environment metadata", rest)]:
            blob, diff_id = _layer(prefix, image_prefix, files, relocate)
            layers.append(layout.add(blob, LAYER_TYPE))
            diff_ids.append(diff_id)
            history.append({"created_by": f"condafarm env image: {name}"})
        base_config = config.get("config", {})
        base_env = dict(e.split("=", 1) for e in base_config.get("Env", []) if "=" in e)
        activation = activation_changes(prefix, {"PATH": base_env.get("PATH", _SYSTEM_PATH)})
        env = {**base_env}
        for key, value in activation.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value.replace(str(prefix), image_prefix)
        image_config = {
            "architecture": arch,
            "os": "linux",
            "config": {
                **base_config,
                "Env": [f"{k}={v}" for k, v in env.items()],
                **({"Entrypoint": list(entrypoint)} if entrypoint else {}),
                "Labels": {
                    **base_config.get("Labels", {}),
                    "org.condafarm.request": " ".join(manifest.packages),
                    "org.condafarm.channels": " ".join(manifest.channels),
                    "org.condafarm.priority": manifest.priority,
                    "org.condafarm.platform": manifest.platform,
                },
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        }
        config_blob = layout.add(json.dumps(image_config, sort_keys=True).encode(), CONFIG_TYPE)
        image_manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": config_blob.to_json(),
            "layers": [layer.to_json() for layer in layers],
            "annotations": {"org.opencontainers.image.title": prefix.name},
        }
        manifest_blob = layout.add(json.dumps(image_manifest, sort_keys=True).encode(), MANIFEST_TYPE)
        layout.finish(manifest_blob, tag)
        if output.suffix == ".tar":

            def write(out: IO[bytes]) -> None:
                with tarfile.open(fileobj=out, mode="w") as tar:
                    for path in sorted(layout.root.rglob("*")):
                        tar.add(path, arcname=path.relative_to(layout.root).as_posix(), recursive=False)

            write_streamed(output, write)
        else:
            layout.root.replace(output)
    return Image(output, manifest_blob, len(layers), tag)
