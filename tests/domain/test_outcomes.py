"""One error vocabulary: every code the API, the WebSocket and the Lua scripts answer is an ``Outcome``,
with one status in one table, on its script's ``Returns:`` line, and in the docs; no module spells a
code as a string literal of its own."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from finance.api.errors import STATUS
from finance.outcomes import FRAME_OUTCOMES, LAYER_OUTCOMES, Outcome
from finance.scripts import PRELUDE, script_names, script_source
from tests.helpers.servers import ROOT

CODES = {outcome.value for outcome in Outcome}
_REFUSED = re.compile(r"refuse\('([a-z_]+)'|return \{'([a-z_]+)'")
_FUNCTION = re.compile(r"^local function (\w+)\(", re.MULTILINE)
HTTP_OUTCOMES = [outcome for outcome in Outcome
                 if outcome is not Outcome.OK and outcome not in FRAME_OUTCOMES | LAYER_OUTCOMES]


def _codes_in(source: str) -> set[str]:
    return {direct or returned for direct, returned in _REFUSED.findall(source)}


def _prelude_functions() -> dict[str, str]:
    """name -> body of each prelude function (up to the next one)."""
    source = script_source(PRELUDE)
    starts = [(match.start(), match.group(1)) for match in _FUNCTION.finditer(source)]
    ends = [start for start, _ in starts[1:]] + [len(source)]
    return {name: source[start:end] for (start, name), end in zip(starts, ends, strict=True)}


def _reachable_codes(source: str) -> set[str]:
    """The codes a script answers with: its own, and those of the prelude functions it calls (transitively)."""
    functions = _prelude_functions()
    seen: set[str] = set()
    pending = [source]
    codes: set[str] = set()
    while pending:
        text = pending.pop()
        codes |= _codes_in(text)
        for name, body in functions.items():
            if name not in seen and re.search(rf"\b{name}\(", text) and name != "refuse":
                seen.add(name)
                pending.append(body)
    return codes


def _returns_line(source: str) -> set[str]:
    """The codes of a header's ``-- Returns:`` entry (continued on lines indented ``--   ``)."""
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("-- Returns:"))
    text = lines[start].removeprefix("-- Returns:")
    for line in lines[start + 1:]:
        if not line.startswith("--   "):
            break
        text += " " + line.removeprefix("--")
    text = re.sub(r"\([^)]*\)", "", re.sub(r"\{[^}]*\}", "", text))  # payload shapes and remarks
    return {alternative.split()[0] for alternative in text.split("|") if alternative.strip()}


def test_every_http_outcome_has_one_status_and_no_frame_outcome_has_one() -> None:
    assert sorted(STATUS) == sorted(HTTP_OUTCOMES)
    assert all(400 <= STATUS[outcome] <= 599 for outcome in HTTP_OUTCOMES)


@pytest.mark.parametrize("name", script_names())
def test_each_code_a_script_answers_is_an_outcome_and_on_its_returns_line(name: str) -> None:
    """Its own refusals are all on the line; the line lists nothing the script (with the prelude helpers
    it calls) cannot answer. A helper's code the script cannot meet (a deposit's payer is the external
    account, never short of funds) may stay off the line."""
    source = script_source(name)
    own = _codes_in(source) | {Outcome.OK.value}
    listed = _returns_line(source)
    assert _reachable_codes(source) - CODES == set(), "codes that are no Outcome"
    assert own - listed == set(), "refused in the script, missing from its Returns: line"
    assert listed - _reachable_codes(source) - {Outcome.OK.value} == set(), "listed, never answered"


def test_the_prelude_answers_only_outcomes() -> None:
    assert _codes_in(script_source(PRELUDE)) - CODES == set()


def test_the_returns_check_sees_codes_of_prelude_helpers() -> None:
    """caller_refused and transfer_refused answer for the scripts that call them."""
    assert _reachable_codes("local refused = caller_refused(session_key, user_id)") == {"unauthorized"}
    assert _reachable_codes("transfer_refused(a, b, 1)") == {"insufficient_funds", "balance_limit_exceeded"}
    assert _returns_line("-- Returns: ok {a} | x_y (why) |\n--   z {m}\n-- Events: none") == {"ok", "x_y", "z"}


def _documented(path: Path) -> dict[str, set[int]]:
    """code -> the statuses docs/api.md's error table gives it (rows ``| 409 | `code` | ... |``)."""
    found: dict[str, set[int]] = {}
    for status, code in re.findall(r"^\| (\d{3}) \| `([a-z_]+)` \|", path.read_text(), re.MULTILINE):
        found.setdefault(code, set()).add(int(status))
    return found


def test_docs_api_lists_every_outcome_with_its_status() -> None:
    documented = _documented(ROOT / "docs" / "api.md")
    assert documented == {outcome.value: {STATUS[outcome]} for outcome in HTTP_OUTCOMES}
    text = (ROOT / "docs" / "api.md").read_text()
    assert [outcome.value for outcome in LAYER_OUTCOMES if f"| `{outcome.value}` |" not in text] == []


def test_docs_websocket_lists_every_frame_outcome() -> None:
    text = (ROOT / "docs" / "websocket.md").read_text()
    assert [outcome.value for outcome in FRAME_OUTCOMES if f'"{outcome.value}"' not in text] == []


def test_no_module_spells_an_error_code_of_its_own() -> None:
    """Outside finance/outcomes.py no string literal is an error code: each is ``Outcome.<NAME>``."""
    sources = [ROOT / "app.py", *(ROOT / "finance").rglob("*.py"), *(ROOT / "streams").rglob("*.py"),
               *(ROOT / "loadtest").rglob("*.py")]
    spelled = []
    for path in sources:
        if path == ROOT / "finance" / "outcomes.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in CODES - {Outcome.OK.value}:
                spelled.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert spelled == []
