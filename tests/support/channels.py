"""Channels as the tests meet them: how a test puts plain files into one and what a `condafarm` process needs in
its environment to reach it, the same for a folder and for the local S3 endpoint."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

from condafarm.storage.location import Channel
from support.s3 import S3Endpoint, upload_dir


def endpoint_of(channel: Channel) -> S3Endpoint:
    """The local S3 endpoint an `s3://` channel lives on."""
    url = channel.s3.endpoint_url
    assert channel.is_s3 and url is not None, f"{channel.url} is not on a local S3 endpoint"
    return S3Endpoint(url, int(urlsplit(url).port or 80))


def place_files(channel: Channel, folder: Path) -> None:
    """Put the package files under `folder` (`subdir/filename`) into `channel` as a plain uploader or `cp`
    would: no index, no hash metadata."""
    if channel.is_s3:
        upload_dir(endpoint_of(channel), str(channel.bucket), channel.prefix, folder)
        return
    assert channel.path is not None
    shutil.copytree(folder, channel.path, ignore=shutil.ignore_patterns(".staging"), dirs_exist_ok=True)


def process_env(channel: Channel, **extra: str) -> dict[str, str]:
    """The environment of a `condafarm` process that should reach `channel` (plus `extra` variables)."""
    env = endpoint_of(channel).env() if channel.is_s3 else dict(os.environ)
    return {**env, **extra}
