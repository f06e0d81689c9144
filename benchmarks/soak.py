"""Memory under load: many short browser sessions that upload sweep files, and the server's memory meanwhile.

    python benchmarks/soak.py                        # 3 sessions at a time for 3 minutes
    python benchmarks/soak.py --sessions 5 --minutes 10

Starts ``streamlit run streamlit_app.py`` on a free port of 127.0.0.1 (killed by ``timeout`` however this
script ends), then, until the time is up, opens --sessions headless Chromium sessions at once; each opens
Explore, uploads one of --files distinct generated sweep files (tests/fakes.py's fake_sweep, a new seed
each) and closes. The server's resident memory (its process and children, psutil) is sampled every
--sample-s seconds from just after one visit to Home (which loads the app's modules); after the load it
idles --idle-s seconds with no session open. The table shows, per minute, the sessions finished and the
memory at the start, peak and end, with the slope of a straight line fitted to that minute's samples.
Every request goes to 127.0.0.1; others are refused.
"""
from __future__ import annotations

import argparse
import importlib.util
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # fake_sweep: the same generated table the tests use

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
HOST = "127.0.0.1"
STARTUP_S = 90  # the server must answer its health check within this
STEP_S = 60  # the longest one page step (load, upload) may take
QUIET_S = 1.5  # a page counts as done once Streamlit's running indicator has been gone this long
SERVER_MARGIN_S = 180  # the server's hard limit beyond the planned minutes, idle time and start-up
UPLOADED = "Uploaded this session"
MIB = 2**20
MAX_SESSIONS, MAX_MINUTES, MAX_FILES = 20, 60, 50  # the flags' ceilings: each session is a Chromium tab


@dataclass
class Samples:
    """(seconds since the load began, resident bytes) of the server, taken by a background thread."""

    points: list[tuple[float, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def rss_bytes(server: psutil.Process) -> int:
    """Resident memory of the server and its children (a process that has just gone counts zero)."""
    total = 0
    for p in [server, *server.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def sample(server: psutil.Process, every_s: float, t0: float, out: Samples) -> None:
    while not out.stop.is_set():
        out.points.append((time.monotonic() - t0, rss_bytes(server)))
        out.stop.wait(every_s)


def sweep_files(folder: Path, n: int) -> list[Path]:
    """n distinct sweep files (different seeds, so different bytes) to upload."""
    from fakes import fake_sweep
    paths = []
    for seed in range(n):
        path = folder / f"soak-{seed}.parquet"
        fake_sweep(seed=seed).to_parquet(path)
        paths.append(path)
    return paths


def start_server(port: int, limit_s: int, log) -> subprocess.Popen:
    """The app under `timeout`, so it stops after limit_s even if this script is killed."""
    command = ["timeout", str(limit_s), sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
               "--server.headless", "true", "--server.port", str(port), "--server.address", HOST,
               "--browser.gatherUsageStats", "false"]
    return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def wait_healthy(url: str, proc: subprocess.Popen) -> psutil.Process:
    """The streamlit process (the child of `timeout`) once the server answers."""
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return psutil.Process(proc.pid).children()[0]
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"The app did not answer on {url} within {STARTUP_S} s: see the server log printed above.")


def local_only(route) -> None:
    if urlparse(route.request.url).hostname == HOST:
        route.continue_()
    else:
        route.abort()


def settle(page) -> None:
    """Wait until the script has stopped running and the page has been quiet for QUIET_S."""
    deadline = time.monotonic() + STEP_S
    quiet_since = None
    while time.monotonic() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        quiet_since = None if running else (quiet_since or time.monotonic())
        if quiet_since and time.monotonic() - quiet_since > QUIET_S:
            return
        page.wait_for_timeout(250)
    raise TimeoutError(f"the page was still running after {STEP_S} s")


def warm_up(browser, url: str) -> None:
    """Open Home once: on a fresh server a deep link to /explore is sent there (state.through_navigation)."""
    context = browser.new_context()
    context.route("**/*", local_only)
    page = context.new_page()
    page.goto(url, timeout=STEP_S * 1000)
    page.get_by_role("heading", name="What does speech recognition cost?").first.wait_for(timeout=STEP_S * 1000)
    settle(page)
    context.close()


def open_explore(browser, url: str):
    context = browser.new_context()
    context.route("**/*", local_only)
    page = context.new_page()
    page.goto(f"{url}/explore", timeout=STEP_S * 1000)
    page.get_by_role("heading", name="Explore the sweep").first.wait_for(timeout=STEP_S * 1000)
    settle(page)
    return context, page


def upload(page, path: Path) -> None:
    page.get_by_text("Add sweep files").first.click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    page.get_by_text(UPLOADED).first.wait_for(timeout=STEP_S * 1000)
    settle(page)


def one_wave(browser, url: str, files: list[Path], first: int) -> tuple[int, int]:
    """n sessions open at once, each uploading a file, then all closed: (finished, failed)."""
    opened, failed = [], 0
    for i, path in enumerate(files):
        try:
            context, page = open_explore(browser, url)
            opened.append(context)
            upload(page, path)
        except Exception as exc:  # noqa: BLE001 - a stuck page is counted, and the soak goes on
            print(f"session {first + i} failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
            failed += 1
    for context in opened:
        context.close()
    return len(files) - failed, failed


def drive(url: str, files: list[Path], args: argparse.Namespace, server: psutil.Process,
          samples: Samples) -> tuple[list[float], int, float]:
    """After one visit to Home (the app's imports), sample memory and run waves of sessions until the
    time is up: (when each session finished, failures, seconds of load)."""
    from playwright.sync_api import sync_playwright
    done_at, failed, wave = [], 0, 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            warm_up(browser, url)
            t0 = time.monotonic()
            threading.Thread(target=sample, args=(server, args.sample_s, t0, samples), daemon=True).start()
            sessions = args.sessions
            while time.monotonic() - t0 < args.minutes * 60:
                batch = [files[(wave * sessions + i) % len(files)] for i in range(sessions)]
                ok, bad = one_wave(browser, url, batch, wave * sessions)
                done_at += [time.monotonic() - t0] * ok
                failed += bad
                wave += 1
        finally:
            browser.close()
    return done_at, failed, time.monotonic() - t0


def slope_mib_per_min(points: list[tuple[float, int]]) -> float:
    if len(points) < 2:
        return float("nan")
    t, rss = np.array(points, dtype=float).T
    return float(np.polyfit(t / 60, rss / MIB, 1)[0])


def table(samples: list[tuple[float, int]], done_at: list[float], minutes: float) -> str:
    """One row per minute of load, then the whole load."""
    rows = ["| minute | sessions | RSS start (MiB) | RSS peak (MiB) | RSS end (MiB) | slope (MiB/min) |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    spans = [(f"{m}–{min(m + 1, minutes):.3g}", m * 60, (m + 1) * 60) for m in range(int(np.ceil(minutes)))]
    for label, lo, hi in [*spans, ("all", 0, minutes * 60)]:
        points = [(t, r) for t, r in samples if lo <= t <= hi]
        if not points:
            continue
        rss = [r / MIB for _, r in points]
        n = len(done_at) if label == "all" else sum(lo <= t < hi for t in done_at)
        slope = slope_mib_per_min(points)
        rows.append(f"| {label} | {n} | {rss[0]:.0f} | {max(rss):.0f} | {rss[-1]:.0f} | "
                    f"{'—' if np.isnan(slope) else f'{slope:+.1f}'} |")
    return "\n".join(rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=3, help="browser sessions open at once (default 3)")
    ap.add_argument("--minutes", type=float, default=3.0, help="how long to keep opening sessions (default 3)")
    ap.add_argument("--files", type=int, default=4, help="distinct sweep files to upload in turn (default 4)")
    ap.add_argument("--sample-s", type=float, default=2.0, help="seconds between memory samples (default 2)")
    ap.add_argument("--idle-s", type=float, default=20.0, help="seconds to keep sampling once all sessions closed")
    args = ap.parse_args(argv)
    if not (1 <= args.sessions <= MAX_SESSIONS and 1 <= args.files <= MAX_FILES and 0 < args.minutes <= MAX_MINUTES
            and args.sample_s > 0 and 0 <= args.idle_s <= MAX_MINUTES * 60):
        ap.error(f"--sessions must be 1 to {MAX_SESSIONS}, --files 1 to {MAX_FILES}, --minutes above 0 and at most "
                 f"{MAX_MINUTES}, --sample-s above 0 and --idle-s 0 to {MAX_MINUTES * 60}.")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if importlib.util.find_spec("playwright") is None:
        print("Playwright is not installed: pip install playwright, then run this again.")
        return 2
    if not Path(CHROMIUM).exists():
        print(f"Chromium is not installed at {CHROMIUM}: install it (apt-get install chromium), then run this again.")
        return 2
    port = free_port()
    url = f"http://{HOST}:{port}"
    limit_s = int(args.minutes * 60 + args.idle_s + STARTUP_S + SERVER_MARGIN_S)
    samples = Samples()
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "server.log", "w+") as log:
        files = sweep_files(Path(tmp), args.files)
        proc = start_server(port, limit_s, log)
        try:
            server = wait_healthy(url, proc)
            done_at, failed, load_s = drive(url, files, args, server, samples)
            time.sleep(args.idle_s)
            samples.stop.set()
        except BaseException:
            log.seek(0)
            print(log.read()[-3000:])
            raise
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    under_load = [(t, r) for t, r in samples.points if t <= load_s]
    print(f"{len(done_at)} sessions ({args.sessions} at a time, {failed} failed) over {load_s / 60:.1f} min, "
          f"each opening Explore and uploading one of {args.files} sweep files, then closing:\n")
    print(table(under_load, done_at, load_s / 60))
    print(f"\nAfter {args.idle_s:.0f} s with no session open: RSS {samples.points[-1][1] / MIB:.0f} MiB.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
