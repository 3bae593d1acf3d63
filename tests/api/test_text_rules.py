"""One rule for what an email is and what a space is (finance/auth/emails.py, finance/text.py): the
document's patterns and the server's checks agree on every character, read as ECMA-262 (JSON Schema's
dialect, as jsonschema-rs and so schemathesis read it) and as Python's ``re`` (as the ``jsonschema``
package reads it). schemathesis found ``POST /api/auth/register`` refusing, as invalid_field, an email
the document allowed (a U+001F inside it: a space to Python's ``\\s``, not to ECMA-262's)."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

import jsonschema_rs  # schemathesis's validator (a dependency of the pinned schemathesis)
import pytest
from quart.typing import TestClientProtocol as Client

from finance.auth.emails import EMAIL_LENGTH_MAX, valid_email
from finance.text import SPACES, strip_spaces

# every character of the Basic Multilingual Plane (every space and control is in it), and a sample beyond
EVERY_CHARACTER = [chr(code) for code in [*range(0xD800), *range(0xE000, 0x10000),
                                          *range(0x10000, sys.maxunicode, 257)]]


async def post_json(client: Client, path: str, body: dict[str, Any], status: int = 200) -> Any:
    response = await client.post(path, json=body)
    assert response.status_code == status, await response.get_data(as_text=True)
    return await response.get_json()


@pytest.fixture
async def schemas(client: Client) -> dict[str, Any]:
    found: dict[str, Any] = (await (await client.get("/openapi.json")).get_json())["components"]["schemas"]
    return found


def judges(schema: dict[str, Any]) -> list[Callable[[str], bool]]:
    """Whether a string is valid by ``schema`` (pattern and lengths), read by ECMA-262 and by Python."""
    ecma = jsonschema_rs.validator_for(schema)
    python = re.compile(schema["pattern"])
    length_min, length_max = schema.get("minLength", 0), schema.get("maxLength", sys.maxsize)
    return [ecma.is_valid, lambda text: length_min <= len(text) <= length_max and python.search(text) is not None]


def disagreements(schema: dict[str, Any], check: Callable[[str], bool], forms: list[Callable[[str], str]],
                  characters: list[str]) -> list[tuple[str, bool, list[bool]]]:
    found = []
    ecma, python = judges(schema)
    for character in characters:
        for form in forms:
            text = form(character)
            expected = check(text)
            if ecma(text) is not expected or python(text) is not expected:
                found.append((text, expected, [ecma(text), python(text)]))
    return found


async def test_the_document_and_the_register_check_agree_on_every_email(schemas: dict[str, Any]) -> None:
    schema = schemas["RegisterRequest"]["properties"]["email"]
    forms: list[Callable[[str], str]] = [
        lambda c: f"a{c}@b.co", lambda c: f"a@b{c}.co", lambda c: f"a@b.c{c}", lambda c: f"{c}a@b.co",
        lambda c: f"a@b.co{c}", lambda c: f"{c}", lambda c: f"{c}{c}a@b.co{c}",
    ]
    assert disagreements(schema, valid_email, forms, EVERY_CHARACTER) == []
    # and the whole shape: three parts, one @, the length as sent
    for text, valid in [("a@b.c", True), ("a@b", False), ("@b.c", False), ("a@.c", False), ("a@b.", False),
                        ("a@@b.c", False), ("a@b@c.d", False), (" \t a@b.c \ufeff", True),
                        ("a@b.c" + " " * (EMAIL_LENGTH_MAX - 5), True), ("a@b.c" + " " * (EMAIL_LENGTH_MAX - 4), False),
                        ("\x01@\xd7\xab\x1foV\x10Z\xf3.\x9f\xd0Z\xce\n\t\x0b", False)]:
        assert [judge(text) for judge in judges(schema)] == [valid, valid] and valid_email(text) is valid, text


async def test_the_document_and_the_checks_agree_on_what_a_space_is(schemas: dict[str, Any]) -> None:
    assert {chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace()} <= set(SPACES)
    texts = [schemas["RegisterRequest"]["properties"]["name"],
             schemas["CreateInvoiceRequest"]["properties"]["invoiceNumber"],
             schemas["RejectRequest"]["properties"]["reason"]]
    forms: list[Callable[[str], str]] = [lambda c: c, lambda c: f" {c}\t", lambda c: f"{c}x"]
    for schema in texts:
        assert disagreements(schema, lambda text: strip_spaces(text) != "", forms, EVERY_CHARACTER) == []


@pytest.mark.parametrize("sent", ["\ufeff Ab.C+tag@Exämple.co\u3000", "\u2003AB.c+TAG@exämple.CO\n"])
async def test_an_address_the_document_allows_registers_and_signs_in(client: Client, sent: str) -> None:
    body = {"name": "\u00a0Asha\u2028", "email": sent, "password": "correct horse", "role": "investor",
            "company": " \ufeff "}
    registered = await post_json(client, "/api/auth/register", body, status=201)
    assert (registered["user"]["email"], registered["user"]["name"], registered["user"]["company"]) == (
        "ab.c+tag@exämple.co", "Asha", None)
    signed_in = await post_json(client, "/api/auth/login",
                                {"email": "AB.C+TAG@EXÄMPLE.CO", "password": "correct horse"})
    assert signed_in["user"]["id"] == registered["user"]["id"]


@pytest.mark.parametrize("sent", ["a\x1f@b.co", "a@b\x85.co", "a@b.co\x00", "a\ufeffb@c.de"])
async def test_an_address_the_document_refuses_is_refused(client: Client, sent: str) -> None:
    body = {"name": "Asha", "email": sent, "password": "correct horse", "role": "investor"}
    answer = await post_json(client, "/api/auth/register", body, status=422)
    assert answer["error"]["code"] == "invalid_field"
