"""The project installed as a user installs it: ``pip install .`` without extras into a fresh virtualenv,
then the server started from an empty folder, on the embedded default and on a real Redis, serves a whole
flow. Every runtime import is a declared dependency, and the wheel holds the runtime only."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import Backend
from tests.helpers.api import RUPEE, due_in_days
from tests.helpers.servers import ROOT, AppProcess, Http

OWN_MODULES = {"app", "finance", "streams", "lua", "web"}
RUNTIME_SOURCES = [ROOT / "app.py", *sorted((ROOT / "finance").rglob("*.py")),
                   *sorted((ROOT / "streams").rglob("*.py"))]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_dependencies() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_normal(re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0]) for requirement in project["dependencies"]}


def imported_top_level_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_every_module_the_runtime_imports_is_a_declared_dependency() -> None:
    distributions = packages_distributions()
    declared = declared_dependencies()
    undeclared = {}
    for path in RUNTIME_SOURCES:
        for module in imported_top_level_modules(path) - OWN_MODULES - set(sys.stdlib_module_names):
            names = {_normal(name) for name in distributions.get(module, [module])}
            if not names & declared:
                undeclared[f"{path.relative_to(ROOT)}: {module}"] = sorted(names)
    assert undeclared == {}


def test_the_runtime_imports_no_dev_tool() -> None:
    dev_only = {"aiohttp", "websockets", "pytest", "hypothesis", "schemathesis", "loadtest", "tests"}
    offenders = {str(path.relative_to(ROOT)): sorted(imported_top_level_modules(path) & dev_only)
                 for path in RUNTIME_SOURCES if imported_top_level_modules(path) & dev_only}
    assert offenders == {}


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtualenv with the project's wheel installed (built from a copy of the checkout; no extras,
    no dev tools)."""
    scratch = tmp_path_factory.mktemp("install")
    source = scratch / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "__pycache__", "*.egg-info", "build", ".mypy_cache", ".ruff_cache", ".pytest_cache",
        "node_modules", ".hypothesis"))
    environment = scratch / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    wheels = scratch / "wheels"
    subprocess.run([str(python), "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--wheel-dir", str(wheels), str(source)], check=True, env=env, timeout=600)
    [wheel] = wheels.glob("invoice_finance-*.whl")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
                   check=True, env=env, timeout=600)
    yield environment


def _outside(tmp_path: Path) -> Path:
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    return empty


async def _whole_flow(server: AppProcess) -> None:
    async with aiohttp.ClientSession() as session:
        http = Http(session, server.base_url)
        seller = await http.register("seller", "Installed Seller")
        buyer = await http.register("buyer", "Installed Buyer")
        investor = await http.register("investor", "Installed Investor")
        await http.call("POST", "/api/wallet/deposit", investor["token"], {"amount": 1_000 * RUPEE})
        invoice = (await http.call("POST", "/api/invoices/create", seller["token"], {
            "invoiceNumber": "INST-1", "buyerId": buyer["id"], "amount": 1_000 * RUPEE,
            "askAmount": 900 * RUPEE, "dueDate": due_in_days(30)}, expect=201))["invoice"]
        funded = await http.call("POST", f"/api/invoices/{invoice['id']}/fund", investor["token"],
                                 {"amount": 950 * RUPEE})
        assert funded["invoice"]["status"] == "funded"
        assert funded["wallet"]["balance"] == 50 * RUPEE
        seller_wallet = await http.call("GET", "/api/wallet", seller["token"])
        assert seller_wallet["balance"] == 950 * RUPEE


async def _web_app_is_served(server: AppProcess) -> None:
    """The wheel carries the web app: the page and every module and stylesheet it names."""
    async with aiohttp.ClientSession() as session:
        async with session.get(server.base_url + "/") as response:
            assert response.status == 200
            page = await response.text()
        named = re.findall(r'(?:href|src)="(/app/[^"]+)"', page)
        assert len(named) >= 20
        for path in named:
            async with session.get(server.base_url + path) as response:
                assert response.status == 200, path
                assert len(await response.read()) > 100, path


def test_the_installed_venv_has_the_runtime_only(installed: Path) -> None:
    python = str(installed / "bin" / "python")
    probe = ("import importlib.util as u; "
             "print([m for m in ('finance', 'streams', 'lua', 'web', 'app', 'loadtest', 'aiohttp', 'websockets',"
             " 'pytest')"
             " if u.find_spec(m)])")
    shown = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True, cwd="/")
    assert shown.stdout.strip() == "['finance', 'streams', 'lua', 'web', 'app']"
    assert subprocess.run([python, "-m", "pip", "check"], capture_output=True, check=False).returncode == 0


async def test_installed_server_from_an_empty_folder_on_the_embedded_default(installed: Path, tmp_path: Path) -> None:
    server = AppProcess(None, command=[str(installed / "bin" / "python"), "-m", "app"], cwd=_outside(tmp_path))
    server.env.pop("PYTHONPATH", None)
    try:
        await server.start()
        assert "embedded in-process fakeredis" in server.output()
        await _whole_flow(server)
        await _web_app_is_served(server)
    finally:
        server.close()


@pytest.mark.real_redis
async def test_installed_console_script_serves_and_checks_on_real_redis(
        installed: Path, tmp_path: Path, real_backend: Backend) -> None:
    assert real_backend.server is not None
    folder = _outside(tmp_path)
    command = str(installed / "bin" / "invoice-finance")
    server = AppProcess(real_backend.server.url, workers=2, command=[command, "serve"], cwd=folder)
    server.env.pop("PYTHONPATH", None)
    try:
        await server.start()
        await _whole_flow(server)
    finally:
        server.close()
    env = {**server.env, "REDIS_URL": real_backend.server.url}
    seeded = subprocess.run([command, "seed-demo"], cwd=folder, capture_output=True, text=True,  # noqa: ASYNC221
                            timeout=120, env=env, check=False)
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    check = subprocess.run([command, "check"], cwd=folder, capture_output=True, text=True, timeout=60,  # noqa: ASYNC221
                           env=env, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip().endswith("ledger OK")
