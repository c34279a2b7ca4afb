"""``bench report html``: the page built from a real store (copy-source and the tiny test method on
synthetic data, tracked by ``bench.runner.run``) and checked in headless Chromium; the seeded choice
of the videos that runs keep (``--save-videos K``)."""
from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import re
import select
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from bench.checkpoints import save_checkpoint
from bench.cli import main
from bench.reports.html import table_html, write_html_report
from bench.reports.runs import load_runs
from bench.reports.tables import build_table
from bench.runner import RunSettings, run
from bench.runner.videos import chosen_items, video_file
from tests.tiny_method import NAME as TINY, build_tiny

#: the Debian package (``apt-get install -y chromium``); ``CHROMIUM=/path/to/chrome`` picks another binary
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
METHODS = ("copy-source", TINY)
SAVE = 2


def chromium_binary() -> str | None:
    """``$CHROMIUM`` (a path or a name on the PATH), else the first of :data:`CHROMIUM_NAMES` on the PATH."""
    names = (os.environ["CHROMIUM"],) if os.environ.get("CHROMIUM") else CHROMIUM_NAMES
    return next((path for path in map(shutil.which, names) if path), None)


needs_chromium = pytest.mark.skipif(chromium_binary() is None, reason="Chromium not found (apt-get install -y "
                                    "chromium, or set CHROMIUM=/path/to/chromium)")


class Chromium:
    """Headless Chromium driven through the DevTools protocol over a pipe (``--remote-debugging-pipe``:
    NUL-terminated JSON on the child's fds 3 and 4), so no websocket client or driver is needed."""

    FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync", "--mute-audio",
             "--hide-scrollbars", "--window-size=1280,1000", "--remote-debugging-pipe")

    def __init__(self, binary: str, profile: Path, log: Path) -> None:
        to_child, self._write = os.pipe()
        self._read, from_child = os.pipe()

        def child_fds() -> None:  # runs in the child before exec: its fd 3 reads commands, fd 4 writes replies
            high_in, high_out = fcntl.fcntl(to_child, fcntl.F_DUPFD, 10), fcntl.fcntl(from_child, fcntl.F_DUPFD, 10)
            os.dup2(high_in, 3)
            os.dup2(high_out, 4)

        self.log = log
        with log.open("wb") as stderr:
            self.process = subprocess.Popen([binary, *self.FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                                            preexec_fn=child_fds, close_fds=False)
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._read], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"Chromium did not answer in time (its log: {self.log})")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise EOFError(f"Chromium exited (its log: {self.log})")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30.0,
             browser: bool = False) -> dict[str, Any]:
        """Send a command (to the page's session unless ``browser``) and return its result; events that
        arrive meanwhile are kept in :attr:`events`."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self.session and not browser:
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def open(self, url: str, timeout: float = 30.0) -> None:
        """A new page with console, exceptions and load errors recorded, navigated to ``url`` until loaded."""
        target = self.call("Target.createTarget", {"url": "about:blank"}, browser=True)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 browser=True)["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            self.call(f"{domain}.enable")
        self.call("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._message(deadline))

    def evaluate(self, expression: str, timeout: float = 30.0) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, timeout)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0) -> Any:
        """Poll ``expression`` until it is truthy; returns its last value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.1)

    def errors(self) -> list[str]:
        """Uncaught exceptions, console errors and failed loads (e.g. a missing video file) so far."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(json.dumps(params["exceptionDetails"])[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(f"{params['entry'].get('text')} {params['entry'].get('url', '')}")
        return found

    def screenshot(self) -> Image.Image:
        """The whole page (beyond the window) as an image."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        shot = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": {
            "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
        return Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB")

    def close(self) -> None:
        try:
            self.call("Browser.close", browser=True, timeout=5)
        except (TimeoutError, EOFError, RuntimeError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._write)
        os.close(self._read)


@dataclass(frozen=True)
class Store:
    uri: str
    root: Path
    run_ids: list[str]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    """copy-source and the tiny method on 3 synthetic videos and 3 pairs, both tasks, 2 videos kept."""
    root = tmp_path_factory.mktemp("html-store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.setenv("MOTIONBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "motionbench-cache"))
        patch.chdir(root)  # the store's artifacts (./mlruns) stay in tmp
        torch.manual_seed(0)
        checkpoint = save_checkpoint(root / "tiny.pt", method=TINY, config={"channels": 4},
                                     model=build_tiny({"channels": 4}).state_dict())
        run_ids = []
        for method in METHODS:
            settings = RunSettings(method=method, dataset="synthetic", task="all", max_videos=3, num_pairs=3,
                                   save_videos=SAVE, refs=3, metrics=["l1", "psnr", "ssim"], device="cpu",
                                   checkpoint=str(checkpoint) if method == TINY else None,
                                   out=str(root / "runs" / method), track=True)
            run_ids += [report.run_id for report in run(settings)]
    assert len(run_ids) == 4 and all(run_ids)
    return Store(uri, root, run_ids)


@pytest.fixture
def store_env(store, monkeypatch) -> Store:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    return store


def test_kept_videos_are_a_seeded_choice_independent_of_order_and_method():
    names = [f"id{i:02d}#{i:04d}" for i in range(40)]
    four = chosen_items(names, 4, seed=0)
    assert len(four) == 4 and four == [n for n in names if n in four]  # in the items' order
    assert four != names[:4]  # not simply the first K
    assert chosen_items(list(reversed(names)), 4, seed=0) == list(reversed(four))
    assert set(chosen_items(names, 2, seed=0)) <= set(four) <= set(chosen_items(names, 9, seed=0))
    assert set(chosen_items(names, 4, seed=1)) != set(four)
    assert chosen_items(names, 0, seed=0) == [] and chosen_items(names[:3], 5, seed=0) == names[:3]
    assert "#" not in video_file("id10001#abc#000") and video_file("a") != video_file("a#")


def test_every_method_keeps_the_same_seeded_videos(store):
    for task in ("reconstruction", "animation"):
        kept = [sorted(p.name for p in (store.root / "runs" / m / task / "videos").glob("*.mp4")) for m in METHODS]
        assert len(kept[0]) == SAVE and kept[0] == kept[1]
    items = ["id00#0024", "id00#0030", "id01#0025"]  # the first 3 test videos (--max-videos 3)
    recon = sorted(p.name for p in (store.root / "runs" / METHODS[0] / "reconstruction" / "videos").glob("*.mp4"))
    assert recon == sorted(video_file(n) for n in chosen_items(items, SAVE, seed=0))
    assert recon != sorted(video_file(n) for n in items[:SAVE])  # seeded, not the first K


def test_html_table_bolds_best_shows_arrows_parentheses_and_na_reasons(store_env):
    text = table_html(build_table("table1", load_runs()))
    assert '<th title="lower is better">L1 ↓</th>' in text and '<th title="higher is better">PSNR ↑</th>' in text
    assert re.search(r"<td[^>]*><strong>0\.0\d+</strong> <span class=\"best\"[^>]*>\(0\.0\d+\)</span></td>", text)
    assert '<span class="na" title="lpips not logged for reconstruction">N/A</span>' in text
    assert "Copy source" in text and TINY in text and "Synthetic" in text


@needs_chromium
def test_report_page_plays_every_method_side_by_side_in_chromium(store_env, tmp_path):
    out = tmp_path / "report"
    page = write_html_report(out, run_ids=store_env.run_ids)  # what bench demo calls
    assert page == out / "index.html"
    assert len(list((out / "media").rglob("*.mp4"))) == 2 * SAVE * (1 + len(METHODS))  # driving + one per method
    assert (out / "figures" / "per_video_synthetic_reconstruction.png").is_file()

    browser = Chromium(chromium_binary(), tmp_path / "profile", tmp_path / "chromium.log")
    try:
        browser.open(page.as_uri())
        ready = browser.wait_for("[...document.querySelectorAll('video')].every(v => v.readyState >= 2)")
        state = browser.evaluate("""(() => ({
            grids: [...document.querySelectorAll('section.grid')].map(s => ({
                task: s.dataset.task,
                methods: [...s.querySelectorAll('th.method')].map(th => th.dataset.method),
                rows: [...s.querySelectorAll('tbody tr')].map(
                    tr => tr.querySelectorAll('td[data-method] video').length),
                labels: [...s.querySelectorAll('td[data-method] .metrics')].map(d => d.textContent)})),
            videos: [...document.querySelectorAll('video')].map(v => ({
                width: v.videoWidth, error: v.error && v.error.message, paused: v.paused})),
            images: [...document.images].map(i => i.naturalWidth),
            tables: [...document.querySelectorAll('table.results')].map(t => t.id)}))()""")
        assert ready, f"videos did not load: {state['videos']}"
        assert browser.errors() == []
        assert sorted(g["task"] for g in state["grids"]) == ["animation", "reconstruction"]
        for grid in state["grids"]:
            assert grid["methods"] == list(METHODS) and grid["rows"] == [len(METHODS)] * SAVE
        recon = next(g for g in state["grids"] if g["task"] == "reconstruction")
        assert all("L1↓" in label and "PSNR↑" in label for label in recon["labels"])  # per-video metrics
        assert all(v["width"] == 64 and v["error"] is None for v in state["videos"])
        assert all(width > 0 for width in state["images"]) and "table-table1" in state["tables"]

        # in sync: a row's slider pauses and moves every video of the row, and "Play all" plays them together
        browser.evaluate("""document.querySelectorAll('.scrub input').forEach(r => {
            r.value = 0.5; r.dispatchEvent(new Event('input')); })""")
        synced = browser.wait_for("""[...window.motionbench.groups.values()].every(g => g.every(v =>
            v.paused && Math.abs(v.currentTime - g[0].duration / 2) < 0.05))""", timeout=10)
        assert synced
        browser.evaluate("document.getElementById('play-all').click()")
        time.sleep(1.0)
        drift = browser.evaluate("""Math.max(...[...window.motionbench.groups.values()].flatMap(g =>
            g.map(v => v.paused ? 99 : Math.abs(v.currentTime - g[0].currentTime))))""")  # g[0]: the driving video
        assert drift < 0.25
        box = browser.evaluate("""(() => {
            const r = document.querySelector('td[data-method] video').getBoundingClientRect();
            return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height]; })()""")
        browser.evaluate("document.getElementById('pause-all').click()")
        shot = browser.screenshot()
        assert browser.errors() == []
    finally:
        browser.close()
    shot.save(tmp_path / "report.png")
    assert len(shot.getcolors(1 << 24)) > 50  # not blank: text, tables, figures and frames
    left, top, width, height = (round(x) for x in box)
    frame = shot.crop((left, top, left + width, top + height))
    assert width > 0 and len(frame.getcolors(1 << 24)) > 10  # a method's video frame was drawn


def test_cli_writes_the_page_and_refuses_options_that_do_not_apply(store_env, tmp_path, capsys):
    assert main(["report", "html", "--out", str(tmp_path / "r")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "r" / "index.html")
    text = (tmp_path / "r" / "index.html").read_text()
    assert text.count('<th class="method"') == 2 * len(METHODS)
    assert not re.search(r'(src|href)="(https?:)?//', text)  # nothing from the network: opens from disk
    assert main(["report", "html"]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["report", "html", "--out", str(tmp_path / "x"), "--reported-only"]) == 2
    assert "--reported-only" in capsys.readouterr().err


def test_one_bad_saved_video_costs_its_row_not_the_page(tmp_path):
    """Issue 26: a valid but tiny mp4 (2x2 pixels: no thirds to cut) used to stop the whole report with
    'cannot write empty image'; now the grid notes why that row is missing and the page is written."""
    import numpy as np
    import pandas as pd

    from bench.reports.artifacts import RunFiles
    from bench.reports.grids import video_grids
    from bench.reports.media import encode_mp4

    tiny = encode_mp4(np.zeros((3, 2, 2, 3), np.uint8), tmp_path / "src" / "item-0000abcd.mp4", 5.0)
    runs = pd.DataFrame({"run_id": ["r1"], "method": ["copy-source"], "dataset": ["synthetic"],
                         "task": ["reconstruction"]})
    (grid,) = video_grids(runs, {"r1": RunFiles(videos={tiny.name: tiny})}, tmp_path / "page")
    assert grid.rows == [] and any("could not be" in note for note in grid.notes), grid.notes
