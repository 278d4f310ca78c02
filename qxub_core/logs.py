"""qxub's own logs: the level ``QXUB_LOG_LEVEL`` names, and where the lines go.

Only entry points configure logging (the ``qxub`` command, the Snakemake executor, the local
backend's supervisor); importing a module never does. Each reads the level through
:func:`requested_log_level`, so a value that names no level is treated the same everywhere:
one warning, then WARNING.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

LOG_LEVEL_VARIABLE = "QXUB_LOG_LEVEL"
LOGGER_NAMES = ("qxub", "qxub_core", "snakemake_executor_plugin_qxub")
COMMAND_LINE_FORMAT = "qxub %(levelname)s %(name)s: %(message)s"
FALLBACK_LEVEL = logging.WARNING

logger = logging.getLogger(__name__)


def requested_log_level(
    environ: Mapping[str, str] | None = None, default: int = FALLBACK_LEVEL
) -> tuple[int, str | None]:
    """The level ``QXUB_LOG_LEVEL`` names (``default`` when unset), and the unusable value.

    A value that names no level gives WARNING, and is handed back so the caller can say so once.
    """
    requested = (os.environ if environ is None else environ).get(LOG_LEVEL_VARIABLE, "").strip()
    if not requested:
        return default, None

    level = logging.getLevelName(requested.upper())
    if isinstance(level, int):
        return level, None
    return FALLBACK_LEVEL, requested


def configure_logging(
    environ: Mapping[str, str] | None = None,
    *,
    default_level: int = FALLBACK_LEVEL,
    line_format: str = COMMAND_LINE_FORMAT,
    stream: TextIO | None = None,
) -> None:
    """Send qxub's logs to ``stream`` (stderr) at the level ``QXUB_LOG_LEVEL`` names."""
    level, unusable = requested_log_level(environ, default_level)
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(logging.Formatter(line_format))

    for name in LOGGER_NAMES:
        named = logging.getLogger(name)
        named.handlers = [handler]
        named.setLevel(level)
        named.propagate = False
    if unusable is not None:
        logger.warning("%s=%s is not a log level; using WARNING", LOG_LEVEL_VARIABLE, unusable)
