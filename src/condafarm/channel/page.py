"""A channel's `index.html`: one self-contained page to browse, search and filter its packages.

Made from the repodata condafarm already has (no package is read), with the data embedded as JSON and a little
plain JavaScript, so it works from `file://`, from an S3 bucket or from any static web server, with no
external assets. Rows are drawn on demand, so a channel of tens of thousands of builds stays readable.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..conda.repodata import Repodata
from ..storage import Storage, open_storage
from ..storage.location import Channel
from .provenance import read_many, summary
from .store import discover_subdirs, load_repodata

PAGE_KEY = "index.html"


@dataclass(frozen=True)
class Page:
    """What `write_page` wrote: where, and how many builds it shows."""

    url: str
    builds: int
    yanked: int


def _rows(subdir: str, repodata: Repodata, made: Mapping[tuple[str, str], str]) -> list[list[Any]]:
    """One row per build: name, version, build, build number, subdir, size, timestamp (ms), yanked, filename,
    and who or which job made it."""
    rows: list[list[Any]] = []
    for filename, record in repodata.records().items():
        stamp = record.get("timestamp") or record.get("indexed_timestamp") or 0
        stamp = int(stamp) * (1000 if int(stamp) < 10**11 else 1)  # conda writes seconds or milliseconds
        rows.append(
            [
                str(record.get("name", "")),
                str(record.get("version", "")),
                str(record.get("build", "")),
                int(record.get("build_number", 0) or 0),
                subdir,
                int(record.get("size", 0) or 0),
                stamp,
                0,
                filename,
                made.get((subdir, filename), ""),
            ]
        )
    rows += [["", "", "", 0, subdir, 0, 0, 1, name, ""] for name in sorted(set(repodata.removed))]
    return rows


def render_page(
    channel_url: str,
    subdirs: dict[str, Repodata],
    made: Mapping[tuple[str, str], str] | None = None,
    *,
    generated_ms: int | None = None,
) -> bytes:
    """The page's bytes for these subdirs' repodata, with `made[(subdir, filename)]` saying who made each."""
    rows = [row for subdir in sorted(subdirs) for row in _rows(subdir, subdirs[subdir], made or {})]
    data = json.dumps(
        {"channel": channel_url, "generated": generated_ms or int(time.time() * 1000), "rows": rows},
        separators=(",", ":"),
        ensure_ascii=True,
    ).replace("<", "\\u003c")  # no markup inside the <script> it sits in, whatever a package name holds
    options = "".join(f'<option value="{html.escape(s)}">{html.escape(s)}</option>' for s in sorted(subdirs))
    template = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
    page = template.replace("@TITLE@", html.escape(channel_url)).replace("@PLATFORMS@", options)
    return page.replace("@DATA@", data).encode()


def write_page(channel: Channel | Storage) -> Page:
    """Write the channel's `index.html` from the repodata of all its subdirs."""
    storage = open_storage(channel)
    subdirs = {subdir: load_repodata(storage, subdir)[0] for subdir in discover_subdirs(storage)}
    found = read_many(storage, [(s, name) for s, repodata in subdirs.items() for name in repodata.records()])
    made = {key: summary(record) for key, record in found.items()}
    page = render_page(storage.channel.url, subdirs, made)
    storage.put(PAGE_KEY, page, content_type="text/html; charset=utf-8")
    builds = sum(len(r.records()) for r in subdirs.values())
    yanked = sum(len(set(r.removed)) for r in subdirs.values())
    return Page(storage.channel.url_of(PAGE_KEY), builds, yanked)
