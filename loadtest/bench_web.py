"""Bench w: the web app in a real Chromium (Debian's package, driven by playwright).

1. The investor's first marketplace page with 10,000 listed invoices: from navigation to the first row
   on screen, and from a click on its Invest button to the invest panel, median over several page loads,
   beside the same page over an empty market (the baseline: the page's own cost without data).
2. 100 market events per second for 10 seconds (new listings, each inserted live at the top of the
   table): the longest main-thread task and the number over 50 ms (the browser's long tasks) and over
   200 ms, beside 10 idle seconds of the same page (the baseline), and whether the page shows the
   latest state (every listing, the last one included) when the burst ends.

    .venv/bin/python -m loadtest.bench_web [--invoices 10000] [--rate 100] [--seconds 10] [--loads 5]

Starts its own redis-server and app on free ports and stops them, and the browser, at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
from playwright.sync_api import Browser, Page, sync_playwright

from loadtest.servers import PROJECT_ROOT, running, start_app, start_redis

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
RUPEE = 100
DAY_MS = 86_400_000
# collects every long task (>= 50 ms) of the page from the moment it is installed
LONG_TASKS = """() => {
  window.__longTasks = [];
  new PerformanceObserver((list) => { for (const entry of list.getEntries()) window.__longTasks.push(entry.duration); })
    .observe({ type: 'longtask', buffered: false });
}"""


class Market:
    """The API over aiohttp, for seeding and for the event burst (in a thread with its own loop)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.sellers: list[dict[str, Any]] = []
        self.buyers: list[dict[str, Any]] = []
        self.investor: dict[str, Any] = {}
        self.serial = 0

    async def _post(self, session: aiohttp.ClientSession, path: str, body: Any, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with session.post(self.base_url + path, json=body, headers=headers) as response:
            answer = await response.json()
            if response.status >= 300:
                raise RuntimeError(f"{path}: {response.status} {answer}")
            return answer

    async def sign_up(self) -> None:
        tag = int(time.time() * 1000)
        async with aiohttp.ClientSession() as session:
            async def one(role: str, n: int) -> dict[str, Any]:
                body = {"name": f"Bench {role} {n}", "email": f"{role}{n}.{tag}@bench.example", "role": role,
                        "password": "bench-password-1", "company": f"{role.title()} {n} Industries"}
                answer = await self._post(session, "/api/auth/register", body)
                return {"id": answer["user"]["id"], "token": answer["token"], "user": answer["user"]}
            self.sellers = [await one("seller", n) for n in range(10)]
            self.buyers = [await one("buyer", n) for n in range(5)]
            self.investor = await one("investor", 0)

    def invoice(self) -> tuple[str, dict[str, Any]]:
        self.serial += 1
        n = self.serial
        amount = (1 + n % 50) * 10_000 * RUPEE
        body = {"invoiceNumber": f"B-{n:06d}", "buyerId": self.buyers[n % len(self.buyers)]["id"], "amount": amount,
                "askAmount": amount * 95 // 100,
                "dueDate": time.strftime("%Y-%m-%d", time.gmtime(time.time() + (30 + n % 60) * 86400))}
        return self.sellers[n % len(self.sellers)]["token"], body

    async def create_many(self, count: int, concurrency: int = 32) -> None:
        async with aiohttp.ClientSession() as session:
            remaining = iter(range(count))

            async def worker() -> None:
                for _ in remaining:
                    token, body = self.invoice()
                    await self._post(session, "/api/invoices/create", body, token)
            await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def paced(self, rate: int, seconds: float) -> dict[str, Any]:
        """``rate`` listings a second for ``seconds``, each started on its own tick (not after the last)."""
        async with aiohttp.ClientSession() as session:
            started = time.perf_counter()
            tasks = []
            total = int(rate * seconds)
            for n in range(total):
                delay = started + n / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                token, body = self.invoice()
                tasks.append(asyncio.create_task(self._post(session, "/api/invoices/create", body, token)))
            answers = await asyncio.gather(*tasks)
            return {"sent": total, "seconds": round(time.perf_counter() - started, 2),
                    "last": answers[-1]["invoice"]["invoiceNumber"]}


def open_market(browser: Browser, base_url: str, investor: dict[str, Any]) -> Page:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=base_url)
    session = json.dumps({"token": investor["token"], "user": investor["user"]})
    context.add_init_script(f"localStorage.setItem('invoice-finance.session', {json.dumps(session)})")
    return context.new_page()


def page_load(browser: Browser, base_url: str, investor: dict[str, Any], empty: bool) -> dict[str, float]:
    page = open_market(browser, base_url, investor)
    page.goto("/", wait_until="commit")
    if empty:
        page.get_by_text("No listed invoices match").wait_for()
    else:
        page.locator("button[aria-label^='Invest in']").first.wait_for()
    first_row_ms = page.evaluate("performance.now()")  # since navigation start
    clicked = time.perf_counter()
    if not empty:
        page.locator("button[aria-label^='Invest in']").first.click()
        page.locator(".invest-panel h2", has_text="Invest in").wait_for()
    panel_ms = (time.perf_counter() - clicked) * 1000
    rows = page.locator("table.market tbody tr").count()
    page.context.close()
    return {"first_row_ms": round(first_row_ms, 1), "click_to_panel_ms": round(panel_ms, 1), "rows": rows}


def long_tasks_during(page: Page, work: Any) -> dict[str, Any]:
    page.evaluate(LONG_TASKS)
    result = work()
    tasks = page.evaluate("window.__longTasks")
    return {"result": result, "long_tasks": len(tasks), "over_200ms": sum(1 for t in tasks if t > 200),
            "longest_ms": round(max(tasks, default=0.0), 1)}


def in_thread(coroutine: Any) -> Any:
    found: dict[str, Any] = {}

    def run() -> None:
        found["value"] = asyncio.run(coroutine)
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return found["value"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=100, help="market events per second in the burst")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--loads", type=int, default=5, help="page loads measured per case")
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    log_dir = Path(tempfile.mkdtemp(prefix="bench-web-"))
    report: dict[str, Any] = {"load_average_at_start": os.getloadavg(), "args": vars(args)}
    redis = start_redis(log_dir)
    with running(redis):
        app = start_app(redis.url, log_dir, workers=1)
        with running(app), sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            market = Market(app.url)
            in_thread(market.sign_up())
            page_load(browser, app.url, market.investor, empty=True)  # warm the server and the browser
            empty = [page_load(browser, app.url, market.investor, empty=True) for _ in range(args.loads)]
            started = time.perf_counter()
            in_thread(market.create_many(args.invoices))
            report["seeded"] = {"invoices": args.invoices, "seconds": round(time.perf_counter() - started, 1)}
            full = [page_load(browser, app.url, market.investor, empty=False) for _ in range(args.loads)]
            report["first_page"] = {
                "empty_market_first_row_ms_median": statistics.median(r["first_row_ms"] for r in empty),
                "listed_first_row_ms_median": statistics.median(r["first_row_ms"] for r in full),
                "listed_first_row_ms_max": max(r["first_row_ms"] for r in full),
                "click_to_panel_ms_median": statistics.median(r["click_to_panel_ms"] for r in full),
                "rows_on_first_page": full[0]["rows"],
                "loads": full,
            }

            page = open_market(browser, app.url, market.investor)
            page.goto("/")
            page.locator("button[aria-label^='Invest in']").first.wait_for()
            page.get_by_role("status").filter(has_text="Live").wait_for()
            idle = long_tasks_during(page, lambda: page.wait_for_timeout(args.seconds * 1000))
            rows_before = page.locator("table.market tbody tr").count()
            burst = long_tasks_during(page, lambda: in_thread(market.paced(args.rate, args.seconds)))
            shown_at = time.perf_counter()
            page.locator("table.market tbody tr", has_text=burst["result"]["last"]).wait_for()
            report["burst"] = {
                **burst, "idle_baseline": idle,
                "last_listing_shown_after_burst_ms": round((time.perf_counter() - shown_at) * 1000, 1),
                "rows_added": page.locator("table.market tbody tr").count() - rows_before,
                "new_rows_marked": page.locator("table.market tbody tr.new").count(),
            }
            page.context.close()
            browser.close()
    out = PROJECT_ROOT / "loadtest-results" / f"web-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    first, burst_report = report["first_page"], report["burst"]
    print(json.dumps(report, indent=2))
    print(f"\nfirst marketplace page, {args.invoices:,} listed: first row {first['listed_first_row_ms_median']} ms "
          f"(median of {args.loads}; max {first['listed_first_row_ms_max']}), empty market "
          f"{first['empty_market_first_row_ms_median']} ms; click -> panel {first['click_to_panel_ms_median']} ms")
    print(f"{args.rate} events/s for {args.seconds} s: longest task {burst_report['longest_ms']} ms, "
          f"{burst_report['long_tasks']} long tasks, {burst_report['over_200ms']} over 200 ms "
          f"(idle baseline: longest {burst_report['idle_baseline']['longest_ms']} ms); "
          f"{burst_report['rows_added']} rows added, last shown {burst_report['last_listing_shown_after_burst_ms']} ms "
          f"after the burst ended")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
