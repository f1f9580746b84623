"""page: a channel's index.html, made from repodata alone, rendered by a real browser (headless Chromium): the
rows, the search, the platform filter and yanked builds; folder and S3 channels; kept current by index."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
from support.cli import run_cli
from support.packages import make_package

from condafarm import Channel, index_channel, parse_channel, publish, yank
from condafarm.channel.page import PAGE_KEY, render_page, write_page
from condafarm.conda.repodata import Repodata
from condafarm.storage import open_storage

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_browser = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on this host (Debian: apt-get install chromium)"
)


def _dom(page: Path, tmp_path: Path, fragment: str = "") -> str:
    """The page's DOM after its scripts ran, as headless Chromium renders it from file://."""
    assert CHROMIUM is not None
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--dump-dom",
            page.as_uri() + fragment,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


def _shown(dom: str) -> list[list[str]]:
    body = re.search(r'<tbody id="rows">(.*?)</tbody>', dom, re.S)
    assert body is not None
    return [
        re.findall(r"<td[^>]*>(?:<code>)?([^<]*)", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1))
    ]


def _channel(root: Path) -> Channel:
    for number, (name, version, subdir) in enumerate(
        [
            ("blender", "4.5.1", "linux-64"),
            ("blender", "4.5.1", "linux-64"),
            ("blender", "4.2.0", "linux-64"),
            ("blender", "4.5.1", "win-64"),
            ("mtoa", "5.4.0", "noarch"),
            ("farm-hello", "1.0", "noarch"),
        ]
    ):
        make_package(root, name, version, build_number=number, subdir=subdir)
    channel = parse_channel(str(root))
    index_channel(channel)
    yank(channel, ["mtoa-5.4.0-h0_4.conda"])
    return channel


@needs_browser
def test_the_page_shows_every_build_and_search_and_platform_filter_rows_in_a_real_browser(tmp_path: Path) -> None:
    root = tmp_path / "channel"
    channel = _channel(root)
    page = write_page(channel)
    assert (page.builds, page.yanked) == (5, 1)
    everything = _shown(_dom(root / PAGE_KEY, tmp_path))
    assert [row[0] for row in everything] == ["blender"] * 4 + ["farm-hello"]  # yanked hidden by default
    assert everything[0][:4] == ["blender", "4.5.1", "h0_3", "win-64"]
    found = _shown(_dom(root / PAGE_KEY, tmp_path, "#q=" + quote("blender 4.5")))
    assert sorted(row[2] for row in found) == ["h0_0", "h0_1", "h0_3"]
    on_windows = _shown(_dom(root / PAGE_KEY, tmp_path, "#platform=win-64"))
    assert [row[6] for row in on_windows] == ["blender-4.5.1-h0_3.conda"]
    dom = _dom(root / PAGE_KEY, tmp_path)
    assert "5 builds of 2 packages, 1 yanked" in dom and "5 matches" in dom


@needs_browser
def test_ten_thousand_builds_stay_readable(tmp_path: Path) -> None:
    template = {"name": "x", "version": "1.0", "build": "h0_0", "build_number": 0, "size": 1000, "depends": []}
    repodata = Repodata(subdir="linux-64")
    for i in range(10_000):
        repodata.set(
            f"plugin{i % 100}-1.{i // 100}-h0_0.conda",
            {**template, "name": f"plugin{i % 100}", "version": f"1.{i // 100}"},
        )
    page = tmp_path / "index.html"
    page.write_bytes(render_page("s3://studio/Conda/Default", {"linux-64": repodata}))
    dom = _dom(page, tmp_path)
    assert "10000 matches (first 1000 shown; refine the search)" in dom
    assert len(_shown(dom)) == 1000
    narrowed = _shown(_dom(page, tmp_path, "#q=plugin42%201.99"))
    assert [row[6] for row in narrowed] == ["plugin42-1.99-h0_0.conda"]


def test_the_page_is_self_contained_and_its_data_cannot_close_the_script(tmp_path: Path) -> None:
    repodata = Repodata(subdir="noarch")
    record = {"name": "odd", "version": "1.0", "build": "h0_0", "build_number": 0, "size": 1, "depends": []}
    repodata.set("odd-1.0-h0_0.conda", {**record, "summary": "</script><script>alert(1)</script>"})
    html = render_page("file:///c/<b>", {"noarch": repodata}).decode()
    assert "</script><script>alert(1)" not in html and "<b>" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # no external assets
    data = re.search(r'<script id="data" type="application/json">(.*?)</script>', html, re.S)
    assert data is not None and json.loads(data.group(1))["rows"][0][0] == "odd"


def test_page_on_s3_and_index_keeps_it_current(s3_channel: Channel, tmp_path: Path) -> None:
    publish(s3_channel, [make_package(tmp_path / "a", "first", "1.0")])
    result = run_cli("page", s3_channel.url, "--endpoint-url", s3_channel.s3.endpoint_url or "", "--force-path-style")  # type: ignore[union-attr]
    assert result.returncode == 0, result.stderr
    assert "1 builds, 0 yanked" in result.stdout
    storage = open_storage(s3_channel)
    head = storage.head(PAGE_KEY)
    assert head is not None
    publish(s3_channel, [make_package(tmp_path / "b", "second", "1.0")])
    index_channel(s3_channel)  # nothing new to index: the page is left as it is
    assert storage.head(PAGE_KEY) == head
    make_package(tmp_path / "c", "third", "1.0")
    storage.put("noarch/third-1.0-h0_0.conda", (tmp_path / "c" / "noarch" / "third-1.0-h0_0.conda").read_bytes())
    index_channel(s3_channel)
    page = storage.get(PAGE_KEY)
    assert page is not None and b"third-1.0-h0_0.conda" in page.data and b"second-1.0-h0_0.conda" in page.data
