"""The ``pointlab`` logger: console + ``train.log``/``test.log`` in Pointcept's line format."""
from __future__ import annotations

import logging
import sys

from pointlab.engine.comm import get_rank

LOGGER_NAME = "pointlab"
# Pointcept's plain format, so log parsers written for it keep working.
LOG_FORMAT = "[%(asctime)s %(levelname)s %(filename)s line %(lineno)d %(process)d] %(message)s"


class _StdoutHandler(logging.StreamHandler):
    """Writes to the *current* ``sys.stdout`` (so redirections made later are honoured)."""

    _pointlab_console = True

    def __init__(self):
        super().__init__(stream=sys.stdout)

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):  # StreamHandler.__init__ assigns it; we always follow sys.stdout
        pass


def get_root_logger(log_file: str | None = None, file_mode: str = "w", log_level: int = logging.INFO) -> logging.Logger:
    """Return the ``pointlab`` logger, (re)configured for ``log_file``.

    Calling it again with another file replaces the previous file handler (several runs in
    one process, e.g. tests or train-then-test). Non-main ranks log errors only and never
    write the file.

    Args:
        log_file: path of the text log, or None for console only.
        file_mode: ``"w"`` for a fresh run, ``"a"`` when resuming.
    """
    logger = logging.getLogger(LOGGER_NAME)
    logger.propagate = False
    rank = get_rank()
    formatter = logging.Formatter(LOG_FORMAT)
    for h in list(logger.handlers):
        if isinstance(h, logging.FileHandler) and log_file is not None:
            logger.removeHandler(h)
            h.close()
    if not any(getattr(h, "_pointlab_console", False) for h in logger.handlers):
        console = _StdoutHandler()
        console.setFormatter(formatter)
        logger.addHandler(console)
    if log_file is not None and rank == 0:
        fh = logging.FileHandler(log_file, mode=file_mode)
        fh.setFormatter(formatter)
        logger.addHandler(fh)
    logger.setLevel(log_level if rank == 0 else logging.ERROR)
    return logger


def close_file_handlers(logger: logging.Logger | None = None) -> None:
    """Flush and detach the file handlers (end of a run), keeping the console handler."""
    logger = logger or logging.getLogger(LOGGER_NAME)
    for h in list(logger.handlers):
        if isinstance(h, logging.FileHandler):
            logger.removeHandler(h)
            h.close()
