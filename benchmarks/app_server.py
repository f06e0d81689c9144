"""The app served for a benchmark, and the browser that opens it: `streamlit run` on a port, waited for until it
answers, stopped afterwards; headless Chromium at 1280×720. Shared by app_latency.py and app_redraw.py (run as
scripts, so this folder is on sys.path)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1280, "height": 720}
STARTUP_S = 120


@contextmanager
def serve(port: int, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """The app on port (env: variables added to this process's), its address once it answers; stopped after."""
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
                             "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait_healthy(url: str, proc: subprocess.Popen) -> None:
    deadline = time.time() + STARTUP_S
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit("The server exited while starting: run `streamlit run streamlit_app.py` to see why.")
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return
        except OSError:
            time.sleep(0.25)
    sys.exit(f"The server did not answer on {url} within {STARTUP_S} s.")


@contextmanager
def browser():
    """A page in headless Chromium at VIEWPORT; the browser closed after."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b.new_context(viewport=VIEWPORT).new_page()
        finally:
            b.close()
