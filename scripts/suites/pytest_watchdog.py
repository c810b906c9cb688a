"""A pytest plugin for scripts/driver_suites.ts: per-test results and a hang watchdog.

Loaded with `-p pytest_watchdog` (this directory on PYTHONPATH). Reads two
environment variables:

- PGTLS_SUITE_RESULTS: a file to which one JSON line per test phase is
  appended ({"id", "when", "outcome"}, and {"id", "when": "start"} as each
  test begins), so that a run killed from outside still names the test it was in.
- PGTLS_SUITE_TIMEOUT: seconds one phase (setup, call, teardown) may take.
  Past that, SIGALRM interrupts it (psycopg waits in select(), which returns
  to Python for the signal) and the phase fails with a message that starts
  "pgtls watchdog:" and gives, for every open libpq connection, OpenSSL's
  SSL_pending (decrypted bytes libpq has not read) and whether its socket
  has anything to read: a client asleep on an empty socket with bytes
  pending is the hang of issue 20.
"""

import ctypes
import ctypes.util
import gc
import json
import os
import select
import signal

import pytest

RESULTS = os.environ.get("PGTLS_SUITE_RESULTS")
TIMEOUT = float(os.environ.get("PGTLS_SUITE_TIMEOUT", "0"))
MARK = "pgtls watchdog:"


def _write(line):
    if RESULTS:
        with open(RESULTS, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")


def _connections():
    """SSL_pending and socket readability of each open libpq connection of psycopg's."""
    try:
        from psycopg.pq import pq_ctypes
        from psycopg.pq import _pq_ctypes
    except ImportError:
        return "psycopg's ctypes libpq is not in use"
    libssl = ctypes.CDLL(ctypes.util.find_library("ssl"))
    libssl.SSL_pending.argtypes = [ctypes.c_void_p]
    libssl.SSL_pending.restype = ctypes.c_int
    _pq_ctypes.pq.PQgetssl.argtypes = [ctypes.c_void_p]
    _pq_ctypes.pq.PQgetssl.restype = ctypes.c_void_p
    found = []
    for obj in gc.get_objects():
        if not isinstance(obj, pq_ctypes.PGconn) or not obj._pgconn_ptr:
            continue
        try:
            ssl = _pq_ctypes.pq.PQgetssl(obj._pgconn_ptr)
            pending = libssl.SSL_pending(ssl) if ssl else None
            sock = obj.socket
            readable = bool(select.select([sock], [], [], 0)[0])
            found.append(f"fd {sock}: SSL_pending={pending} readable={readable}")
        except Exception as error:  # a connection closing under us
            found.append(f"unreadable connection ({error})")
    return "; ".join(found) or "no open connection"


def _alarm(signum, frame):
    raise pytest.fail.Exception(
        f"{MARK} still running after {TIMEOUT:g} s; {_connections()}", pytrace=True
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _write({"id": item.nodeid, "when": "start"})
    yield


def _guarded():
    if TIMEOUT <= 0:
        yield
        return
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, TIMEOUT)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    yield from _guarded()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    yield from _guarded()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    yield from _guarded()


def pytest_runtest_logreport(report):
    line = {"id": report.nodeid, "when": report.when, "outcome": report.outcome}
    if report.failed:
        said = [text for text in report.longreprtext.splitlines() if text.strip()]
        watchdog = [text for text in said if MARK in text]
        if watchdog:
            line["outcome"] = "timeout"
        # pytest's "E   assert 0.24 == 0.2 ± 4.0e-02" lines say more than the last one's location.
        errors = [text for text in said if text.startswith("E ")]
        line["message"] = (watchdog or errors[:1] or said[-1:] or [""])[0].strip()[:500]
    _write(line)
