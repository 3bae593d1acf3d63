"""``python app.py`` with REDIS_URL unset: the embedded fakeredis, one worker, said in one line at start."""

from __future__ import annotations

import aiohttp

from tests.helpers.api import RUPEE
from tests.helpers.servers import AppProcess, Http


async def test_embedded_default_says_nothing_is_persisted_and_serves_money_and_streams() -> None:
    server = AppProcess(None, workers=4)  # more workers asked for: the embedded store allows one
    try:
        await server.start()
        first_line = server.output().splitlines()[0]
        assert first_line == (
            "REDIS_URL is not set: using the embedded in-process fakeredis with Lua, one worker; "
            "nothing is persisted, all data is lost at exit."
        )
        assert len(server.worker_pids()) == 1
        async with aiohttp.ClientSession() as session:
            http = Http(session, server.base_url)
            investor = await http.register("investor", "Embedded")
            await http.call("POST", "/api/wallet/deposit", investor["token"], {"amount": 5 * RUPEE})
            async with session.get(server.base_url + "/api/wallet",
                                   headers={"Authorization": f"Bearer {investor['token']}"}) as response:
                assert (await response.json())["balance"] == 500
    finally:
        server.close()
