"""page: a channel's index.html, made from repodata alone, rendered by a real browser (headless Chromium): the
rows, the search, the platform filter and yanked builds; folder and S3 channels; kept current by index."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
from support.cli import run_cli
from support.packages import make_package

from condafarm import Channel, index_channel, parse_channel, prune_channel, publish, remove, yank
from condafarm.channel.page import PAGE_KEY, SHOWN_KEY, render_page, write_page
from condafarm.conda.repodata import Repodata
from condafarm.storage import Storage, open_storage

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
#: In CI (CI=true, as CI services and .ci/run set it) a missing browser fails these tests instead of skipping them.
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
GET_CHROMIUM = "no Chromium on this host (Debian: apt-get install chromium; see README.md)"
needs_browser = pytest.mark.skipif(CHROMIUM is None and not IN_CI, reason=GET_CHROMIUM)


def _dom(page: Path, tmp_path: Path, fragment: str = "") -> str:
    """The page's DOM after its scripts ran, as headless Chromium renders it from file://."""
    if CHROMIUM is None:
        pytest.fail(f"CI=true and {GET_CHROMIUM}")
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
    cells = r"<td[^>]*>(?:<a [^>]*>)?(?:<code>)?([^<]*)"
    return [re.findall(cells, row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1))]


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


def _page(storage: Storage) -> str:
    blob = storage.get(PAGE_KEY)
    assert blob is not None
    return blob.data.decode()


def test_every_change_keeps_an_existing_page_current_on_folders_and_s3(channel: Channel, tmp_path: Path) -> None:
    """page, then publish, yank, remove, prune and index (also --rebuild): the page always shows the channel."""
    storage = open_storage(channel)
    publish(channel, [make_package(tmp_path / "a", "first", "1.0")])
    assert PAGE_KEY not in {o.key for o in storage.list_objects("")}  # no page until asked for
    s3 = ["--endpoint-url", channel.s3.endpoint_url or "", "--force-path-style"] if channel.s3 is not None else []
    result = run_cli("page", channel.url, *s3)
    assert result.returncode == 0, result.stderr
    assert "1 builds, 0 yanked" in result.stdout
    publish(channel, [make_package(tmp_path / "b", "second", "1.0")])
    assert "second-1.0-h0_0.conda" in _page(storage)
    yank(channel, ["second-1.0-h0_0.conda"])
    assert '"second-1.0-h0_0.conda",""]' in _page(storage)  # a yanked row
    remove(channel, ["second-1.0-h0_0.conda"], yes=True)
    assert "second-1.0-h0_0.conda" not in _page(storage)
    for build in (1, 2):
        publish(channel, [make_package(tmp_path / f"b{build}", "first", "1.0", build_number=build)])
    prune_channel(channel, keep=1, yes=True)
    assert '"first-1.0-h0_1.conda",""]' in _page(storage) and '"first-1.0-h0_0.conda",""]' in _page(storage)
    make_package(tmp_path / "c", "third", "1.0")
    storage.put("noarch/third-1.0-h0_0.conda", (tmp_path / "c" / "noarch" / "third-1.0-h0_0.conda").read_bytes())
    index_channel(channel)  # a file put there by hand
    assert "third-1.0-h0_0.conda" in _page(storage)
    written = storage.head(PAGE_KEY)
    before = storage.request_counts()
    index_channel(storage)  # nothing changed: the page is not written again
    assert storage.head(PAGE_KEY) == written
    if channel.is_s3:
        assert storage.request_counts().get("PutObject", 0) == before.get("PutObject", 0)
    index_channel(channel, rebuild=True)
    assert "third-1.0-h0_0.conda" in _page(storage) and "first-1.0-h0_2.conda" in _page(storage)


def test_a_page_rewritten_by_another_party_is_made_again_without_trusting_its_record(tmp_path: Path) -> None:
    """`.condafarm/page.json` is a side file anyone with write access can change: a malformed one makes the page
    again, and one that claims the current state only keeps a stale page until the next change."""
    channel = parse_channel(str(tmp_path / "channel"))
    publish(channel, [make_package(tmp_path / "a", "first")])
    write_page(channel)
    storage = open_storage(channel)
    storage.put(SHOWN_KEY, json.dumps({"state": 7, "made": {"noarch/first-1.0-h0_0.conda": "\x1b[2J"}}).encode())
    publish(channel, [make_package(tmp_path / "b", "second")])
    assert "second-1.0-h0_0.conda" in _page(storage) and "[2J" not in _page(storage)


@needs_browser
def test_each_build_links_to_its_file_and_its_install_command_installs_it(tmp_path: Path) -> None:
    root = tmp_path / "channel"
    channel = _channel(root)
    write_page(channel)
    dom = _dom(root / PAGE_KEY, tmp_path, "#q=farm-hello")
    links = re.findall(r'<a href="([^"]+)"[^>]*><code>([^<]+)</code></a>', dom)
    assert links == [("noarch/farm-hello-1.0-h0_5.conda", "farm-hello-1.0-h0_5.conda")]
    assert (root / links[0][0]).is_file()  # the link, relative to the page, is the package
    (command,) = re.findall(r'<button type="button" title="([^"]+)">copy</button>', dom)
    argv = shlex.split(command.replace("&amp;", "&").replace("&quot;", '"'))
    assert argv[:3] == ["condafarm", "env", "create"] and argv[3] == "./env"
    result = run_cli(*argv[1:3], str(tmp_path / "env"), *argv[4:], "--cache-dir", str(tmp_path / "cache"))
    assert result.returncode == 0, result.stderr
    assert list((tmp_path / "env" / "conda-meta").glob("farm-hello-1.0-h0_5.json"))
