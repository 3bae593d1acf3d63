"""Log output: text (the default) or one JSON object per line (``LOG_FORMAT=json``), set up in one place.

A JSON line has ``time`` (ISO 8601 UTC), ``level``, ``logger``, ``message``, and the fields a caller
passes as ``extra={"fields": {...}}`` (the request and socket lines: finance/api/observability.py).
Nothing here or in the callers writes a token, a header or a query string.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Final

TEXT: Final = "text"
JSON: Final = "json"
FORMATS: Final = (TEXT, JSON)
TEXT_LAYOUT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# the lines operators read per request and per socket
ACCESS: Final = logging.getLogger("invoice_finance.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"), default=str)


def configure(log_format: str) -> None:
    """The process's root handler (stderr) in ``log_format``, level INFO. Called once per server process:
    by ``python app.py`` and by each worker it starts."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == JSON else logging.Formatter(TEXT_LAYOUT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
