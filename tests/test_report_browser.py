"""The report page in a real headless Chromium (DevTools protocol): it loads, every <img>
resolves (naturalWidth > 0), no console errors or uncaught exceptions. CI must install
Chromium (Debian: ``apt-get install -y chromium``) and websocket-client (the ``test``
extra): without Chromium these tests are skipped outside CI and fail in CI (tests/conftest.py);
without websocket-client they fail."""
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

import optbench as ob
from optbench.plots.report import report
from optbench.record.store import Store

pytestmark = pytest.mark.browser  # skipped without Chromium outside CI (tests/conftest.py)
BROWSERS = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "headless_shell")


def _browser() -> str:
    for b in BROWSERS:
        p = shutil.which(b)
        if p:
            return p
    pytest.fail("no Chromium found: install it (Debian: apt-get install -y chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def inspect_page(url: str, tmp: Path, timeout: float = 60.0) -> dict:
    """Load ``url`` in headless Chromium; return images, console errors and exceptions."""
    try:
        import websocket
    except ImportError:
        pytest.fail("websocket-client is missing: pip install -e '.[test]'")
    port = _free_port()
    proc = subprocess.Popen(
        [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={tmp / 'profile'}",
         f"--remote-debugging-port={port}", "--remote-allow-origins=*", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t0, targets = time.time(), None
        while time.time() - t0 < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=2) as r:
                    targets = [t for t in json.load(r) if t.get("type") == "page"]
                if targets:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert targets, "Chromium did not open its DevTools endpoint"
        ws = websocket.create_connection(targets[0]["webSocketDebuggerUrl"], timeout=timeout,
                                         suppress_origin=True)
        errors, exceptions = [], []
        ids = iter(range(1, 10**6))

        def send(method, **params):
            i = next(ids)
            ws.send(json.dumps({"id": i, "method": method, "params": params}))
            return i

        def pump(until=None, want_id=None, deadline=timeout):
            end = time.time() + deadline
            while time.time() < end:
                m = json.loads(ws.recv())
                meth = m.get("method")
                if meth == "Runtime.consoleAPICalled" and m["params"]["type"] in ("error", "assert"):
                    errors.append(" ".join(str(a.get("value", a.get("description")))
                                           for a in m["params"]["args"]))
                elif meth == "Log.entryAdded" and m["params"]["entry"]["level"] == "error":
                    errors.append(m["params"]["entry"]["text"] + " " +
                                  m["params"]["entry"].get("url", ""))
                elif meth == "Runtime.exceptionThrown":
                    exceptions.append(m["params"]["exceptionDetails"].get("text"))
                if want_id is not None and m.get("id") == want_id:
                    return m
                if until is not None and meth == until:
                    return m
            raise AssertionError(f"timed out waiting for {until or want_id}")

        for meth in ("Runtime.enable", "Log.enable", "Page.enable"):
            pump(want_id=send(meth))
        send("Page.navigate", url=url)
        pump(until="Page.loadEventFired")
        time.sleep(0.3)
        expr = ("JSON.stringify({title: document.title, images: Array.from(document.images)"
                ".map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0}))})")
        res = pump(want_id=send("Runtime.evaluate", expression=expr, returnByValue=True))
        page = json.loads(res["result"]["result"]["value"])
        ws.close()
        return {**page, "errors": errors, "exceptions": exceptions}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_the_checker_sees_broken_images_and_console_errors(tmp_path):
    """Negative control: a page with a missing image and a console error must be caught."""
    (tmp_path / "ok.png").write_bytes(b"")  # empty file: not an image
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"><title>bad</title>'
                    '</head><body><img src="missing.png"><img src="ok.png">'
                    '<script>console.error("boom")</script></body></html>')
    got = inspect_page(page.as_uri(), tmp_path)
    assert got["title"] == "bad"
    assert [i["ok"] for i in got["images"]] == [False, False]
    assert any("boom" in e for e in got["errors"])


def test_report_page_loads_with_every_image(tmp_path):
    runs, traces = ob.sweep([ob.problem("quadratic", dim=2, cond=10.0), "saddle"],
                            ["gd", "adam"], grid={"lr": [0.01, 0.1]}, seeds=2, steps=100)
    st = Store(tmp_path / "res")
    st.append(runs, traces)
    st.write_meta(suite="browser-test")
    index = report(tmp_path / "res", formats="png", n_boot=100)
    figs = sorted((tmp_path / "res" / "report" / "figures").glob("*.png"))
    assert len(figs) >= 8
    for name in ("status", "tuned", "steps", "art", "scores"):
        assert (index.parent / "tables" / f"{name}.md").read_text().strip()
        assert r"\toprule" in (index.parent / "tables" / f"{name}.tex").read_text()
    got = inspect_page(index.as_uri(), tmp_path)
    assert got["title"].startswith("optbench report")
    srcs = sorted(i["src"] for i in got["images"])
    assert srcs == sorted(f"figures/{p.name}" for p in figs)  # every figure is on the page
    assert all(i["ok"] for i in got["images"]), [i for i in got["images"] if not i["ok"]]
    assert got["errors"] == [] and got["exceptions"] == []
