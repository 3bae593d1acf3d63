"""schemathesis over the whole /openapi.json, all checks on, against ``python app.py`` on a real Redis:
one run with a token of each role (seller, investor, buyer) over every operation but logout, and one
over logout with a token of its own (its first case revokes it). Half of the invoice ids are real ones
(tests/system/schemathesis.toml), so fund, repay and cancel reach their own checks.

Seeded (``--seed 1``, at most EXAMPLES_PER_OPERATION cases an operation) and bounded in time: a run
still going after RUN_SECONDS_MAX is killed and fails the test.

What counts as a failure: every check schemathesis has (``--checks all``). A 422 for data the document
allows is an expected answer where it is a business rule that a JSON Schema cannot state (a due date in
the past, askAmount above amount, an amount outside [askAmount, amount], a reused Idempotency-Key, an
unknown buyer), so schemathesis.toml lists 422 among the expected answers of those operations; not for
register, where the document states the whole rule (finance/auth/emails.py, finance/text.py): a 422 there
is a failure.

Zero failures and zero 5xx in every run; the figures (cases per run, answers by status) are printed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import Backend
from tests.helpers.api import RUPEE, due_in_days
from tests.helpers.servers import AppProcess, Http

CONFIG = Path(__file__).with_name("schemathesis.toml")
EXAMPLES_PER_OPERATION = 20
RUN_SECONDS_MAX = 240  # the runs go in parallel; each takes about 50 s on this machine
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"

pytestmark = pytest.mark.real_redis


async def _world(http: Http) -> dict[str, Any]:
    """A token per role, and invoices in each state the money routes act on."""
    seller = await http.register("seller", "Fuzz Seller")
    investor = await http.register("investor", "Fuzz Investor")
    buyer = await http.register("buyer", "Fuzz Buyer")
    await http.call("POST", "/api/wallet/deposit", investor["token"], {"amount": 10_000 * RUPEE})
    await http.call("POST", "/api/wallet/deposit", buyer["token"], {"amount": 10_000 * RUPEE})
    ids = []
    for number in ("FUZZ-1", "FUZZ-2", "FUZZ-3"):
        created = await http.call("POST", "/api/invoices/create", seller["token"], {
            "invoiceNumber": number, "buyerId": buyer["id"], "amount": 1_000 * RUPEE, "askAmount": 900 * RUPEE,
            "dueDate": due_in_days(30)}, expect=201)
        ids.append(created["invoice"]["id"])
    await http.call("POST", f"/api/invoices/{ids[2]}/fund", investor["token"], {"amount": 950 * RUPEE})
    return {"tokens": {"seller": seller["token"], "investor": investor["token"], "buyer": buyer["token"],
                       "logout": (await http.register("investor", "Fuzz Leaver"))["token"]},
            "invoices": {"ST_INVOICE_LISTED": ids[0], "ST_INVOICE_OTHER": ids[1], "ST_INVOICE_FUNDED": ids[2]}}


async def _schemathesis(server: AppProcess, run: str, token: str, invoices: dict[str, str],
                        report: Path) -> tuple[int, str]:
    scope = ["--include-path", "/api/auth/logout"] if run == "logout" else ["--exclude-path", "/api/auth/logout"]
    process = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS), "--config-file", str(CONFIG), "run", f"{server.base_url}/openapi.json",
        "--checks", "all", "--max-examples", str(EXAMPLES_PER_OPERATION), "--seed", "1", "--no-color",
        "--header", f"Authorization: Bearer {token}", *scope,
        "--report", "ndjson", "--report-ndjson-path", str(report),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, **invoices}, cwd=report.parent)
    try:
        async with asyncio.timeout(RUN_SECONDS_MAX):
            output, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        output, _ = await process.communicate()
        return -1, f"schemathesis {run} ran over {RUN_SECONDS_MAX} s\n" + output.decode(errors="replace")
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


def _statuses(report: Path) -> Counter[int]:
    """The status of every answer the run recorded."""
    found: Counter[int] = Counter()
    for line in report.read_text().splitlines():
        finished = json.loads(line).get("ScenarioFinished")
        for interaction in ((finished or {}).get("recorder") or {}).get("interactions", {}).values():
            if interaction.get("response"):
                found[interaction["response"]["status_code"]] += 1
    return found


async def test_schemathesis_finds_nothing_with_a_token_of_each_role(real_backend: Backend, tmp_path: Path) -> None:
    assert real_backend.server is not None
    # the per-address cap stays off (AppProcess), the per-email one on: 429 is one of the answers
    server = AppProcess(real_backend.server.url)
    try:
        await server.start()
        async with aiohttp.ClientSession() as session:
            world = await _world(Http(session, server.base_url))
        runs = {run: _schemathesis(server, run, token, world["invoices"], tmp_path / f"{run}.ndjson")
                for run, token in world["tokens"].items()}
        results = dict(zip(runs, await asyncio.gather(*runs.values()), strict=True))
    finally:
        server.close()
    for run, (code, output) in results.items():
        summary = re.search(r"(\d+) generated, (\d+) passed", output)
        statuses = _statuses(tmp_path / f"{run}.ndjson")
        print(f"schemathesis {run}: {summary and summary.group(0)}; answers {dict(sorted(statuses.items()))}")
        assert code == 0, output[-6000:]
        assert summary is not None and summary.group(1) == summary.group(2), output[-6000:]
        assert not [status for status in statuses if status >= 500], statuses
        assert sum(statuses.values()) >= (10 if run == "logout" else 1_000)
