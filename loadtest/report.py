"""Turn a load run into the JSON result, the checks (double fundings, ledger) and a readable table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from loadtest.events import latency_samples
from loadtest.gaps import check_spans
from loadtest.scenario import LoadOutcome
from loadtest.servers import PROJECT_ROOT
from loadtest.stats import summarize

SETUP_OPERATIONS = ("register", "deposit")
LEDGER_CHECK_TIMEOUT_S = 300.0


def ledger_check(redis_url: str) -> dict[str, Any]:
    """`python -m finance check` with REDIS_URL set; it exits non-zero naming what broke."""
    env = dict(os.environ, REDIS_URL=redis_url)
    command = [sys.executable, "-m", "finance", "check"]
    try:
        completed = subprocess.run(
            command,
            check=False,
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=LEDGER_CHECK_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "exit_code": None, "output": f"timed out after {LEDGER_CHECK_TIMEOUT_S} s"}
    output = (completed.stdout + completed.stderr).strip()
    return {"ok": completed.returncode == 0, "exit_code": completed.returncode, "output": output[-4000:]}


def build_result(outcome: LoadOutcome) -> dict[str, Any]:
    config, api, state = outcome.config, outcome.api, outcome.state
    operations: dict[str, Any] = {}
    for name, stats in api.stats.items():
        elapsed = outcome.setup_s if name in SETUP_OPERATIONS else outcome.run_s
        operations[name] = {"phase": "setup" if name in SETUP_OPERATIONS else "run", **stats.summary(elapsed)}
    run_requests = sum(s.count for n, s in api.stats.items() if n not in SETUP_OPERATIONS)
    double_fundings = sorted(invoice for invoice, wins in state.fund_wins.items() if wins > 1)
    result: dict[str, Any] = {
        "run_id": outcome.run_id,
        "config": {
            key: (str(value) if isinstance(value, Path) else value)
            for key, value in vars(config).items()
            if key != "progress"
        },
        "setup_s": round(outcome.setup_s, 3),
        "run_s": round(outcome.run_s, 3),
        "run_requests": run_requests,
        "run_requests_per_s": round(run_requests / outcome.run_s, 1) if outcome.run_s else None,
        "operations": operations,
        "checks": {
            "invoices_raced": len(state.fund_wins),
            "double_fundings": len(double_fundings),
            "double_funded_invoices": double_fundings[:20],
            "races_without_winner": sum(1 for wins in state.fund_wins.values() if wins == 0),
            "http_errors": sum(s.errors for s in api.stats.values()),
        },
    }
    if outcome.ws_result is not None:
        samples = latency_samples(outcome.ws_result.receipts, state.triggers)
        result["events"] = {
            "clients": outcome.ws_result.totals(),
            "deliveries": samples.deliveries,
            "deliveries_without_known_trigger": samples.without_trigger,
            "trigger_to_receipt": summarize(samples.trigger_ms),
            "commit_to_receipt": summarize(samples.commit_ms),
            "trigger_to_receipt_by_event": {
                event: summarize(values) for event, values in sorted(samples.trigger_ms_by_event.items())
            },
        }
        if config.redis_url:  # every socket's events of each stream against the stream: no gap
            result["events"]["gaps"] = check_spans(config.redis_url, outcome.ws_result.spans)
        totals = result["events"]["clients"]
        result["checks"]["ws_gaps"] = result["events"].get("gaps", {}).get("spans_with_gap", 0)
        result["checks"]["ws_out_of_order"] = totals["out_of_order"]
        result["checks"]["ws_duplicates"] = totals["duplicates"]
    return result


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}" if value >= 100 else f"{value:.2f}"
    return str(value)


def render_table(result: dict[str, Any]) -> str:
    lines = [
        f"run {result['run_id']}: setup {result['setup_s']} s, run {result['run_s']} s, "
        f"{result['run_requests']} requests ({result['run_requests_per_s']}/s)",
        "",
        f"{'operation':<12}{'phase':<7}{'count':>8}{'ok':>8}{'ok/s':>9}{'refused':>9}{'errors':>8}"
        f"{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}",
    ]
    order = ["register", "deposit", "create", "fund", "repay", "top-up"]
    names = sorted(result["operations"], key=lambda n: (order.index(n) if n in order else len(order), n))
    for name in names:
        op = result["operations"][name]
        lines.append(
            f"{name:<12}{op['phase']:<7}{op['count']:>8}{op['ok']:>8}{_fmt(op['ok_per_s']):>9}"
            f"{op['refused']:>9}{op['errors']:>8}{_fmt(op['p50_ms']):>9}{_fmt(op['p90_ms']):>9}"
            f"{_fmt(op['p99_ms']):>9}{_fmt(op['max_ms']):>9}"
        )
        odd = {k: v for k, v in op["statuses"].items() if not k.startswith("2")}
        if odd:
            lines.append(f"{'':<19}non-2xx: {odd}")
    events = result.get("events")
    if events:
        clients = events["clients"]
        lines += [
            "",
            f"websockets: {clients['connected']}/{clients['sockets']} connected over {clients['processes']} "
            f"process(es), {clients['hello']} hello, {events['deliveries']} event deliveries, "
            f"duplicates {clients['duplicates']}, out of order {clients['out_of_order']}, "
            f"gaps {events.get('gaps', {}).get('spans_with_gap', '-')} "
            f"(of {events.get('gaps', {}).get('spans_checked', '-')} spans checked), "
            f"closed by the server {clients.get('sockets_closed_by_server', {})}, "
            f"client CPU {clients['client_cpu_s']} s",
            f"{'event latency':<26}{'count':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}",
        ]
        rows = [
            ("trigger -> receipt", events["trigger_to_receipt"]),
            ("commit -> receipt", events["commit_to_receipt"]),
        ]
        rows += [(f"  {name}", s) for name, s in events["trigger_to_receipt_by_event"].items()]
        for label, s in rows:
            lines.append(
                f"{label:<26}{s['count']:>9}{_fmt(s['p50_ms']):>9}{_fmt(s['p90_ms']):>9}"
                f"{_fmt(s['p99_ms']):>9}{_fmt(s['max_ms']):>9}"
            )
    checks = result["checks"]
    lines += [
        "",
        f"double fundings: {checks['double_fundings']} (of {checks['invoices_raced']} invoices raced; "
        f"{checks['races_without_winner']} races without a winner), HTTP errors: {checks['http_errors']}",
    ]
    ledger = checks.get("ledger")
    if ledger is not None:
        verdict = "passed" if ledger["ok"] else f"FAILED (exit {ledger['exit_code']})"
        lines.append(f"ledger check: {verdict}" + ("" if ledger["ok"] else f"\n{ledger['output']}"))
    return "\n".join(lines)


def write_json(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")
