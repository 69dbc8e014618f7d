"""A page opened in headless Chromium, for tests: its DOM after rendering, a screenshot, and every request the page
made to the network (from Chromium's own net log, so nothing the page fetched goes unseen).

Chromium is Debian's ``chromium`` (``tests/browser/install-chromium.sh`` installs it where root and apt are
available); :func:`chromium` returns None where there is none, and the tests skip with that reason.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Headless in a container as root: no sandbox, no GPU; no first-run, sync, component or update traffic of its own.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-default-apps", "--hide-scrollbars",
         "--disable-extensions", "--mute-audio")


def chromium() -> str | None:
    return next((p for n in NAMES if (p := shutil.which(n))), None)


@dataclass
class Rendered:
    dom: str
    screenshot: Path
    page_requests: list[str]  # URLs the page asked the network for (not the browser's own background traffic)
    console_errors: list[str]


def render(page: Path, out_dir: Path, width: int = 1280, height: int = 2000, timeout_s: float = 120.0) -> Rendered:
    """Open ``page`` from its file:// URL twice (DOM dump, then screenshot), both under a net log."""
    exe = chromium()
    assert exe, "no chromium"
    url = page.resolve().as_uri()
    out_dir.mkdir(parents=True, exist_ok=True)
    common = [exe, *FLAGS, f"--window-size={width},{height}", "--enable-logging=stderr", "--v=0",
              f"--user-data-dir={out_dir / 'profile'}"]
    net_dom, net_shot, shot = out_dir / "net-dom.json", out_dir / "net-shot.json", out_dir / "screenshot.png"
    dom = subprocess.run([*common, f"--log-net-log={net_dom}", "--dump-dom", url], capture_output=True, text=True,
                         timeout=timeout_s, check=True)
    got = subprocess.run([*common, f"--log-net-log={net_shot}", f"--screenshot={shot}", url], capture_output=True,
                         text=True, timeout=timeout_s, check=True)
    console = [line for line in (dom.stderr + got.stderr).splitlines()
               if "CONSOLE" in line and ("Uncaught" in line or "Error" in line or "Refused" in line)]
    return Rendered(dom.stdout, shot, page_requests(net_dom) + page_requests(net_shot), console)


def page_requests(net_log: Path) -> list[str]:
    """URLs a page (any document loaded from a file:// URL) requested, from a Chromium net log. The browser's own
    requests (update checks, accounts) carry no initiating origin and are not counted."""
    data = json.loads(net_log.read_text(encoding="utf-8"))
    types = {v: k for k, v in data["constants"]["logEventTypes"].items()}
    urls = []
    for event in data.get("events", []):
        params = event.get("params") or {}
        if types.get(event.get("type")) != "URL_REQUEST_START_JOB" or "url" not in params:
            continue
        if params.get("initiator") != "not an origin" or "file://" in params.get("network_isolation_key", ""):
            urls.append(params["url"])
    return urls


class Elements(HTMLParser):
    """Every element of a document as (tag, attributes, text directly inside it)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.items: list[dict[str, Any]] = []
        self._open: list[dict[str, Any]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        item = {"tag": tag, "attrs": {k: v or "" for k, v in attrs}, "text": "", "parents": list(self._open)}
        self.items.append(item)
        if tag not in ("meta", "link", "br", "img", "input", "rect", "line", "circle", "polygon", "polyline"):
            self._open.append(item)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i]["tag"] == tag:
                del self._open[i:]
                break

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1]["text"] += data

    def find(self, tag: str | None = None, **attrs: str) -> list[dict[str, Any]]:
        """Elements with this tag whose attributes contain these values (``class_`` for class, a word of it)."""
        out = []
        for it in self.items:
            if tag and it["tag"] != tag:
                continue
            ok = True
            for k, v in attrs.items():
                key = "class" if k == "class_" else k.replace("_", "-")
                have = it["attrs"].get(key)
                if have is None or (key == "class" and v not in have.split()) or (key != "class" and have != v):
                    ok = False
                    break
            if ok:
                out.append(it)
        return out
