"""Helpers for the browser tests (no tests here): the server as a subprocess, the API over plain HTTP,
pages that record every console error, and signing a user in."""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from tests.helpers.servers import ROOT, AppProcess

# as root, Chromium needs --no-sandbox; the rest keeps it off the network this machine does not have
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
SCREENSHOTS = ROOT / "build" / "screenshots"
RUPEE = 100
_serial = itertools.count(1)
_run = int(time.time() * 1000)


class WebServer(AppProcess):
    """``python app.py`` on a real Redis, started and waited for without an event loop."""

    def start_sync(self) -> None:
        self.launch()
        assert self.process is not None
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(self.base_url + "/health", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"app did not start: {self.output()}")
            time.sleep(0.05)

    def start(self) -> None:  # type: ignore[override]
        self.start_sync()

    def api(self, method: str, path: str, token: str | None = None, body: Any = None, expect: int = 200,
            headers: dict[str, str] | None = None) -> Any:
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token:
            sent["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        answer = json.loads(raw) if raw else None
        assert status == expect, (method, path, status, answer)
        return answer

    def api_error(self, method: str, path: str, token: str, body: Any) -> str:
        """The API's message for a request it refuses."""
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        request = urllib.request.Request(self.base_url + path, data=json.dumps(body).encode(), method=method,
                                         headers=headers)
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError as error:
            message: str = json.loads(error.read())["error"]["message"]
            return message
        raise AssertionError(f"{method} {path} was not refused")

    def api_headers(self, path: str) -> dict[str, str]:
        with urllib.request.urlopen(self.base_url + path, timeout=10) as response:
            return {name.lower(): value for name, value in response.headers.items()}

    def sign_up(self, role: str, name: str, company: str | None = None) -> User:
        n = next(_serial)
        email = f"{role}{n}.{_run}@example.com"
        body = {"name": name, "email": email, "password": "correct-horse", "role": role}
        if company:
            body["company"] = company
        answer = self.api("POST", "/api/auth/register", body=body, expect=201)
        return User(answer["user"], answer["token"], email)

    def deposit(self, user: User, paise: int) -> None:
        self.api("POST", "/api/wallet/deposit", user.token, {"amount": paise})

    def create_invoice(self, seller: User, buyer: User, number: str, amount: int, ask: int, days: int = 30,
                       **extra: Any) -> dict[str, Any]:
        body = {"invoiceNumber": number, "buyerId": buyer.id, "amount": amount, "askAmount": ask,
                "dueDate": due_in(days), **extra}
        invoice: dict[str, Any] = self.api("POST", "/api/invoices/create", seller.token, body, expect=201)["invoice"]
        return invoice

    def balance(self, user: User) -> int:
        balance: int = self.api("GET", "/api/wallet", user.token)["balance"]
        return balance


@dataclass
class User:
    data: dict[str, Any]
    token: str
    email: str

    @property
    def id(self) -> str:
        user_id: str = self.data["id"]
        return user_id

    @property
    def display(self) -> str:
        shown: str = self.data["company"] or self.data["name"]
        return shown


@dataclass
class Tab:
    """A page in a context of its own, with every console error and uncaught exception it showed."""

    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)

    def assert_no_console_errors(self, allowed: tuple[str, ...] = ()) -> None:
        unexpected = [error for error in self.errors if not any(part in error for part in allowed)]
        assert unexpected == [], unexpected


def open_tab(browser: Browser, server: AppProcess, width: int = 1440, height: int = 900) -> Tab:
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=server.base_url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    tab = Tab(context, page)
    page.on("console", lambda message: tab.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: tab.errors.append(f"uncaught: {error}"))
    # which request a "Failed to load resource" was: Chromium's console message does not say
    page.on("response", lambda response: tab.errors.append(
        f"{response.status} {response.request.method} {response.url}") if response.status >= 400 else None)
    return tab


def signed_in(browser: Browser, server: WebServer, user: User, width: int = 1440, height: int = 900) -> Tab:
    """A tab where ``user`` is signed in, through the sign-in form, and the live connection is up."""
    tab = open_tab(browser, server, width, height)
    page = tab.page
    page.goto("/")
    page.get_by_label("Email", exact=True).fill(user.email)
    page.get_by_label("Password", exact=True).fill("correct-horse")
    page.get_by_role("button", name="Sign in").click()
    wait_live(page)
    return tab


def go_to(page: Page, link_text: str) -> None:
    """Follows a link of the main navigation and waits until its view is mounted. The router mounts the
    view on ``hashchange``, after the click returns: a control looked up before that may be the same
    label on the view being left (the marketplace and the limits page both have "Find buyer")."""
    link = page.get_by_role("navigation", name="Main").get_by_role("link", name=link_text, exact=True)
    link.click()
    expect(link).to_have_attribute("aria-current", "page")


def hold_requests(page: Page, pattern: str) -> list[Route]:
    """Each request matching ``pattern`` waits in the returned list until the test fulfils, continues or
    aborts it: a request held in flight."""
    held: list[Route] = []

    def hold(route: Route) -> None:  # playwright needs a function of ours, not a bound builtin
        held.append(route)

    page.route(pattern, hold)
    return held


def wait_routed(page: Page, held: list[Route], count: int, seconds: float = 15) -> None:
    """Waits until a route handler has been handed ``count`` requests. Playwright delivers a route
    event apart from the page's own updates: the button may show "in flight" before the handler ran."""
    deadline = time.monotonic() + seconds
    while len(held) < count and time.monotonic() < deadline:
        page.wait_for_timeout(20)  # lets playwright dispatch its events
    assert len(held) == count, f"{len(held)} requests routed, {count} expected"


def wait_live(page: Page) -> None:
    page.get_by_role("status").filter(has_text="Live").wait_for()


def due_in(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).date().isoformat()


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


class LostFirstAnswer:
    """A route handler for a money request: the server gets every request and moves the money, but the
    first answer is lost on the way back (a reset connection), as when a network drops mid-request.
    ``keys`` is each request's Idempotency-Key, ``statuses`` what the server answered to each."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.statuses: list[int] = []

    def __call__(self, route: Route) -> None:
        self.keys.append(route.request.headers["idempotency-key"])
        response = route.fetch()
        self.statuses.append(response.status)
        if len(self.keys) == 1:
            route.abort("connectionreset")
        else:
            route.fulfill(status=response.status, headers=response.headers, body=response.body())
