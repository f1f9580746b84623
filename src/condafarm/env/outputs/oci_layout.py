"""OCI image layout folders (`oci-layout`, `index.json`, `blobs/sha256/...`): written by `env image`, read back to
push them and to take a base image from; every blob read is checked against its digest."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import UsageError

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor: what a manifest or index says about one blob."""

    media_type: str
    digest: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


class Layout:
    """An OCI image layout folder: blobs by digest, `index.json` naming its images by tag."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def new(cls, root: Path) -> Layout:
        shutil.rmtree(root, ignore_errors=True)  # what a killed run left
        (root / "blobs" / "sha256").mkdir(parents=True)
        return cls(root)

    def blob(self, digest: str) -> Path:
        algorithm, _, hexdigest = digest.partition(":")
        if algorithm != "sha256" or len(hexdigest) != 64 or not set(hexdigest) <= _HEX:
            raise UsageError(
                f"{digest!r} in {self.root} is not a sha256 digest; give a layout skopeo or condafarm wrote"
            )
        return self.root / "blobs" / "sha256" / hexdigest

    def add(self, data: bytes, media_type: str) -> Descriptor:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self.blob(digest)
        if not path.exists():
            path.write_bytes(data)
        return Descriptor(media_type, digest, len(data))

    def copy_from(self, source: Layout, entry: dict[str, Any]) -> Descriptor:
        """Copy the blob `entry` describes from `source` into this layout, checked against its digest."""
        digest = str(entry.get("digest"))
        target = self.blob(digest)
        if not target.exists():
            partial = target.with_name(target.name + ".partial")
            hasher = hashlib.sha256()
            with source.blob(digest).open("rb") as reading, partial.open("wb") as writing:
                while chunk := reading.read(1 << 20):
                    hasher.update(chunk)
                    writing.write(chunk)
            if "sha256:" + hasher.hexdigest() != digest:
                partial.unlink()
                raise UsageError(f"blob {digest} of {source.root} does not match its digest; copy the image again")
            partial.replace(target)
        return Descriptor(str(entry.get("mediaType", LAYER_TYPE)), digest, target.stat().st_size)

    def read_json(self, descriptor: dict[str, Any]) -> dict[str, Any]:
        """A JSON blob of this layout, checked against its digest."""
        data = self.blob(str(descriptor.get("digest"))).read_bytes()
        if "sha256:" + hashlib.sha256(data).hexdigest() != descriptor.get("digest"):
            raise UsageError(f"blob {descriptor.get('digest')} of {self.root} does not match its digest")
        document = json.loads(data)
        if not isinstance(document, dict):
            raise UsageError(f"blob {descriptor.get('digest')} of {self.root} is not a JSON object")
        return document

    def image(self, tag: str = "", arch: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
        """(index entry, manifest) of the image tagged `tag` (or the layout's only image); from a multi-platform
        index, the `arch` image."""
        try:
            index = json.loads((self.root / "index.json").read_text(encoding="utf-8"))
            entries = [m for m in index.get("manifests", []) if isinstance(m, dict)]
        except (OSError, ValueError, AttributeError) as exc:
            raise UsageError(
                f"{self.root} is not an OCI image layout (index.json: {exc}); write one with skopeo copy"
            ) from exc
        if tag:
            entries = [m for m in entries if m.get("annotations", {}).get(REF_NAME) == tag]
        if len(entries) != 1:
            raise UsageError(
                f"{self.root} holds {len(entries)} images{f' tagged {tag}' if tag else ''}; name one as FOLDER:TAG"
            )
        entry, manifest = entries[0], self.read_json(entries[0])
        if manifest.get("mediaType") == INDEX_TYPE or "manifests" in manifest:
            matching = [m for m in manifest.get("manifests", []) if m.get("platform", {}).get("architecture") == arch]
            if not matching:
                raise UsageError(f"{self.root} has no image for {arch or 'one platform'}")
            entry, manifest = matching[0], self.read_json(matching[0])
        return entry, manifest

    def finish(self, manifest: Descriptor, tag: str) -> None:
        entry = {**manifest.to_json(), "annotations": {REF_NAME: tag}}
        index = {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [entry]}
        (self.root / "index.json").write_text(json.dumps(index), encoding="utf-8")
        (self.root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}), encoding="utf-8")
