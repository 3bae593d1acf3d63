"""The prelude's exact arithmetic (DESIGN section 9) against Python integers, run as Lua on both backends.

``muldiv(a, b, c)`` is floor(a * b / c) although a * b passes 2^53; ``split(weights, total)`` is the
cumulative rounding every claim price and every pro-rata repayment uses. Amounts go up to 10^15 and up
to 200 holders: the shares sum exactly to the payment, each is within 1 paisa of its exact share and at
most its weight, a payment of the whole gives each holder exactly their claim, and payments split over
what remains of the claims pay each holder exactly their claim in the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from itertools import pairwise
from typing import Any

import fakeredis
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finance.keys import Keys
from finance.scripts import PRELUDE, script_source
from tests.helpers.redis_process import RedisProcess

AMOUNT_MAX = 10**15
HOLDERS_MAX = 200

SPLIT = """
local weights = {}
for i = 2, #ARGV do weights[#weights + 1] = tonumber(ARGV[i]) end
local out = {}
for i, share in ipairs(split(weights, tonumber(ARGV[1]))) do out[i] = int(share) end
return out
"""
MULDIV = "return int(muldiv(tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])))"


class Lua:
    """The prelude with a snippet after it, evaluated by one Redis."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.head = Keys().lua_key_functions() + script_source(PRELUDE)

    def split(self, weights: list[int], total: int) -> list[int]:
        return [int(share) for share in self.client.eval(self.head + SPLIT, 0, total, *weights)]

    def muldiv(self, a: int, b: int, c: int) -> int:
        return int(self.client.eval(self.head + MULDIV, 0, a, b, c))


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.real_redis)], scope="module")
def lua(request: pytest.FixtureRequest) -> Iterator[Lua]:
    if request.param == "fakeredis":
        client: Any = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    else:
        server: RedisProcess = request.getfixturevalue("redis_server")
        client = redis.Redis(port=server.port)
    yield Lua(client)
    client.close()


def reference(weights: list[int], total: int) -> list[int]:
    whole, running, before, shares = sum(weights), 0, 0, []
    for weight in weights:
        running += weight
        upto = running * total // whole
        shares.append(upto - before)
        before = upto
    return shares


@st.composite
def claims(draw: st.DrawFn) -> list[int]:
    """1..200 claims summing to a face value of 1..10^15: cut points in the face value, sorted."""
    face = draw(st.integers(1, AMOUNT_MAX))
    cuts = draw(st.lists(st.integers(1, face - 1), max_size=min(HOLDERS_MAX - 1, face - 1), unique=True)
                if face > 1 else st.just([]))
    points = [0, *sorted(cuts), face]
    return [high - low for low, high in pairwise(points)]


PROPERTY = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow])


@PROPERTY
@given(held=claims(), data=st.data())
def test_a_payment_is_split_exactly_and_each_share_is_within_a_paisa(lua: Lua, held: list[int],
                                                                     data: st.DataObject) -> None:
    face = sum(held)
    payment = data.draw(st.one_of(st.integers(0, face), st.sampled_from([1, face, face - 1 if face > 1 else 1])))
    shares = lua.split(held, payment)
    assert shares == reference(held, payment)
    assert sum(shares) == payment
    for claim, share in zip(held, shares, strict=True):
        assert 0 <= share <= claim
        assert abs(share - Fraction(claim * payment, face)) < 1
    assert lua.split(held, face) == held  # the whole payment: each holder exactly their claim


@PROPERTY
@given(held=claims(), data=st.data())
def test_payments_split_over_what_remains_pay_every_claim_exactly(lua: Lua, held: list[int],
                                                                  data: st.DataObject) -> None:
    """repay_invoice's use: each payment split over the claims' remainders; the last pays the rest."""
    received = [0] * len(held)
    outstanding = sum(held)
    for _ in range(data.draw(st.integers(1, 6))):
        payment = data.draw(st.integers(1, outstanding))
        remains = [claim - got for claim, got in zip(held, received, strict=True)]
        shares = lua.split(remains, payment)
        assert sum(shares) == payment
        for remain, share in zip(remains, shares, strict=True):
            assert 0 <= share <= remain
            assert abs(share - Fraction(remain * payment, outstanding)) < 1
        received = [got + share for got, share in zip(received, shares, strict=True)]
        outstanding -= payment
        if outstanding == 0:
            break
    remains = [claim - got for claim, got in zip(held, received, strict=True)]
    assert lua.split(remains, outstanding) == remains
    assert [got + rest for got, rest in zip(received, remains, strict=True)] == held


@PROPERTY
@given(c=st.integers(1, AMOUNT_MAX), data=st.data())
def test_muldiv_is_exact_where_the_product_is_not(lua: Lua, c: int, data: st.DataObject) -> None:
    a = data.draw(st.integers(0, c))
    b = data.draw(st.integers(0, AMOUNT_MAX))
    assert lua.muldiv(a, b, c) == a * b // c


@pytest.mark.parametrize(("a", "b", "c"), [
    (10**15, 10**15, 10**15),
    (10**15 - 1, 10**15 - 3, 10**15),  # the product is about 10^30: a double keeps 16 digits of it
    (99_999_999, 100_000_001, 100_000_000),
    (2**50 - 1, 2**50 - 1, 2**50),
    (1, 10**15, 3),
    (116_875_080_110_173, 357_378_439_299_872, 354_049_187_853_932),
    (0, 10**15, 7),
])
def test_muldiv_at_the_edges(lua: Lua, a: int, b: int, c: int) -> None:
    assert lua.muldiv(a, b, c) == a * b // c


def test_a_double_would_get_it_wrong() -> None:
    """Why muldiv exists: the obvious Lua expression, in doubles, is off for everyday amounts."""
    a, b, c = 116_875_080_110_173, 357_378_439_299_872, 354_049_187_853_932
    assert int(float(a) * float(b) / float(c)) != a * b // c
