"""Check the built documentation site in a real browser (``make docs-check``).

Serves ``build/site`` on 127.0.0.1 and opens it in headless Chromium (Debian's
``chromium``) driven by Playwright, from its own environment
(``docs/requirements-browser.txt``; never the project's). For the home page,
one tutorial and the API page of ``snnx.neurons.LIF`` it asserts:

* no console errors and no uncaught page errors;
* every image on the page loaded (``naturalWidth > 0``);
* the page's own content is there (the tutorial's figure, the ``LIF`` heading);

then types ``LIF`` into the site search and waits for a result that links to
the ``LIF`` API entry. Screenshots go to ``build/site-check/``. Exit status 1
with a list of the failures when anything is wrong.

``python docs/check_site.py [--site build/site] [--chromium /usr/bin/chromium]``
"""

from __future__ import annotations

import argparse
import functools
import http.server
import socketserver
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = {
    "home": "",
    "tutorial": "tutorials/07_activity/",
    "api_lif": "api/neurons/",
}
# Chromium flags for a closed network: no background connections, no first-run work.
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the page requests are not the report
        pass


def _serve(site: Path) -> tuple[socketserver.TCPServer, str]:
    handler = functools.partial(_Quiet, directory=str(site))
    server = socketserver.TCPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def _check_page(page, name: str, url: str, shots: Path, failures: list[str]) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    response = page.goto(url, wait_until="networkidle")
    if response is None or response.status != 200:
        failures.append(f"{name}: {url} answered {None if response is None else response.status}")
        return
    images = page.eval_on_selector_all(
        "article img", "imgs => imgs.map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])"
    )
    broken = [src for src, ok in images if not ok]
    if broken:
        failures.append(f"{name}: images that did not load: {broken}")
    if name == "tutorial" and not images:
        failures.append(f"{name}: the tutorial page shows no figure")
    if name == "api_lif" and page.locator("[id='snnx.neurons.LIF']").count() == 0:
        failures.append(f"{name}: no element with id 'snnx.neurons.LIF' (the LIF API entry)")
    page.screenshot(path=str(shots / f"{name}.png"), full_page=False)
    failures.extend(f"{name}: {e}" for e in errors)
    print(f"{name}: {url} ({len(images)} images, {len(errors)} console errors)")


def _check_search(page, base: str, shots: Path, failures: list[str]) -> None:
    page.goto(base, wait_until="networkidle")
    box = page.locator("input.md-search__input")  # the header's search box (desktop width)
    box.click()
    box.type("LIF", delay=50)  # key by key, as a reader types: the search runs on input events
    results = page.locator(".md-search-result__link")
    try:
        results.first.wait_for(timeout=15000)
    except Exception as err:  # any Playwright timeout is the failure to report
        failures.append(f"search: no result for 'LIF' ({type(err).__name__})")
        return
    hrefs = results.evaluate_all("links => links.map(a => a.href)")
    page.screenshot(path=str(shots / "search.png"))
    if not any("snnx.neurons.LIF" in h for h in hrefs):
        failures.append(f"search: no result for 'LIF' links to the LIF API entry; got {hrefs[:5]}")
    print(f"search: {len(hrefs)} results for 'LIF'")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", default=str(ROOT / "build" / "site"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--shots", default=str(ROOT / "build" / "site-check"))
    args = parser.parse_args(argv)
    site, shots = Path(args.site), Path(args.shots)
    if not (site / "index.html").is_file():
        print(f"check_site: {site}/index.html does not exist: run `make docs` first", file=sys.stderr)
        return 2
    if not Path(args.chromium).is_file():
        print(f"check_site: no browser at {args.chromium}: `apt-get install chromium`", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    shots.mkdir(parents=True, exist_ok=True)
    server, base = _serve(site)
    failures: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=FLAGS)
            for name, path in PAGES.items():
                _check_page(browser.new_page(), name, base + path, shots, failures)
            _check_search(browser.new_page(), base, shots, failures)
            browser.close()
    finally:
        server.shutdown()
    print(f"screenshots in {shots}")
    if failures:
        print("check_site: FAILED\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print("check_site: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
