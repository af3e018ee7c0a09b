"""A pytest plugin: every log line of the whole run is scanned for personal data.

Every record any test produces (the service's, the database launcher's, a server
subprocess's stderr via ``scan_external``) is formatted as production formats it and
checked at the end of the session for NHS numbers in the 999 test range (with or without
spaces), bearer tokens (``eyJ``...) and the names of every token minted by the tests. A
hit fails the run and says where; the summary reports how many lines were scanned.

The test client's own ``httpx`` request lines are left out below WARNING: they are the
test's logs, not the service's, and the service silences that logger (configure_logging).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from app.observability.logs import JSONFormatter
from tests import support

# Not inside a longer alphanumeric run: a random request id (a UUID's hex) can hold ten
# digits starting 999. The tests' own NHS numbers are matched exactly as well (below).
_NHS = re.compile(r"(?<![0-9A-Za-z])999 ?[0-9]{3} ?[0-9]{4}(?![0-9A-Za-z])")
_TOKEN = re.compile(r"eyJ[A-Za-z0-9_-]{8,}")
_CLIENT_LOGGERS = ("httpx", "httpcore")


class _Scan:
    def __init__(self) -> None:
        self.lines = 0
        self.names: set[str] = set()
        self.numbers = {
            v for v in vars(support).values() if isinstance(v, str) and re.fullmatch(r"\d{10}", v)
        }
        self.hits: list[str] = []

    def check(self, where: str, line: str) -> None:
        self.lines += 1
        found = _NHS.findall(line) + _TOKEN.findall(line)
        found += [n for n in self.numbers | self.names if n in line]
        if found:
            self.hits.append(f"{where}: {line[:300]}")


SCAN = _Scan()


def remember(claims: Mapping[str, Any]) -> None:
    """Called for every token the tests mint: its user name must never be logged."""
    name = claims.get("name")
    if isinstance(name, str) and len(name) >= 4:
        SCAN.names.add(name)


def scan_external(source: str, lines: Iterable[str]) -> None:
    """Scan log lines that came from another process (a server subprocess's stderr)."""
    for line in lines:
        SCAN.check(source, line)


class _Handler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JSONFormatter())
        self.test = "session"

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_CLIENT_LOGGERS) and record.levelno < logging.WARNING:
            return
        try:
            SCAN.check(self.test, self.format(record))
        except Exception:  # a record that cannot be formatted is still scanned as text
            SCAN.check(self.test, str(record.msg))


_HANDLER = _Handler()


def pytest_configure(config: pytest.Config) -> None:
    root = logging.getLogger()
    root.addHandler(_HANDLER)
    # INFO as in production (CPIS_LOG_LEVEL's default), so every access-log line is scanned.
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    _HANDLER.test = item.nodeid
    root = logging.getLogger()
    # A test running `cpis` in-process (configure_logging) replaces the root handlers;
    # re-attach, or every later test's log lines would go unscanned.
    if _HANDLER not in root.handlers:
        root.addHandler(_HANDLER)
    try:
        return (yield)
    finally:
        _HANDLER.test = "session"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    logging.getLogger().removeHandler(_HANDLER)
    if SCAN.hits and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    reporter = terminalreporter
    if SCAN.hits:
        reporter.section("personal data in logs", red=True)
        for hit in SCAN.hits[:50]:
            reporter.write_line(hit)
    reporter.write_line(
        f"log privacy: {SCAN.lines} log lines scanned, {len(SCAN.hits)} with personal data"
    )
