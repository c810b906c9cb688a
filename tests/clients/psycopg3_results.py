"""psycopg 3 through pgtls: many results of many sizes, on a sync and an async connection.

Usage: /usr/bin/python3 psycopg3_results.py
Settings come from the environment, as for psycopg3_client.py. Prints one JSON
line (queries run, rows and bytes read); exits 1 with a message on stderr when
something fails.

psycopg waits on the socket itself rather than through libpq, so a result whose
end libpq left decrypted inside OpenSSL (a TLS record bigger than libpq's 8 KiB
of room) never completes: the query hangs with nothing left on the wire. A
watchdog reports that state (OpenSSL's SSL_pending on the stuck connection, and
whether the socket has anything to read) and exits 3 instead of hanging.
"""

import asyncio
import ctypes
import ctypes.util
import json
import os
import select
import sys
import threading
import time

import psycopg
from psycopg.pq import _pq_ctypes

# Row widths and counts around PostgreSQL's 8 KiB records and TLS's 16 KiB ones.
WIDTHS = (100, 700, 2434, 4000, 8100, 9000, 16000, 20000)
COUNTS = (1, 5, 43, 100)
ROUNDS = 4
# Far beyond what one of these queries takes on a loaded machine.
STALL_SECONDS = 20

QUERY = "SELECT repeat('x', %s) FROM generate_series(1, %s)"


def connect_args():
    return dict(
        host=os.environ.get("PGHOST", "localhost"),
        port=int(os.environ["PGPORT"]),
        user=os.environ["PGUSER"],
        password=os.environ["PGPASSWORD"],
        dbname=os.environ["PGDATABASE"],
        sslmode="verify-full",
        sslrootcert=os.environ["PGSSLROOTCERT"],
        # SCRAM channel binding cannot span pgtls's two TLS sessions.
        channel_binding="disable",
        connect_timeout=10,
        autocommit=True,
    )


def shapes():
    for _ in range(ROUNDS):
        for width in WIDTHS:
            for count in COUNTS:
                yield width, count


class Watchdog:
    """Exits 3 with a description when one query runs longer than STALL_SECONDS."""

    def __init__(self):
        libssl = ctypes.CDLL(ctypes.util.find_library("ssl"))
        libssl.SSL_pending.argtypes = [ctypes.c_void_p]
        libssl.SSL_pending.restype = ctypes.c_int
        _pq_ctypes.pq.PQgetssl.argtypes = [ctypes.c_void_p]
        _pq_ctypes.pq.PQgetssl.restype = ctypes.c_void_p
        self.ssl_pending = libssl.SSL_pending
        self.current = None
        threading.Thread(target=self.watch, daemon=True).start()

    def start(self, pgconn, what):
        self.current = (pgconn, what, time.monotonic())

    def stop(self):
        self.current = None

    def watch(self):
        while True:
            time.sleep(0.5)
            current = self.current
            if current is None or time.monotonic() - current[2] < STALL_SECONDS:
                continue
            pgconn, what, _ = current
            ssl = _pq_ctypes.pq.PQgetssl(pgconn._pgconn_ptr)
            pending = self.ssl_pending(ssl) if ssl else -1
            readable = bool(select.select([pgconn.socket], [], [], 0)[0])
            print(
                f"psycopg3 results: {what} stalled for {STALL_SECONDS} s: "
                f"SSL_pending={pending}, socket readable={readable}",
                file=sys.stderr,
                flush=True,
            )
            os._exit(3)


def check(rows, width, count):
    if len(rows) != count or any(len(row[0]) != width for row in rows):
        raise AssertionError(f"wrong result for width {width}, count {count}")


def run_sync(watchdog, totals):
    with psycopg.connect(**connect_args()) as conn:
        for width, count in shapes():
            watchdog.start(conn.pgconn, f"sync width {width} count {count}")
            rows = conn.execute(QUERY, (width, count)).fetchall()
            watchdog.stop()
            check(rows, width, count)
            totals["queries"] += 1
            totals["bytes"] += width * count


async def run_async(watchdog, totals):
    async with await psycopg.AsyncConnection.connect(**connect_args()) as conn:
        for width, count in shapes():
            watchdog.start(conn.pgconn, f"async width {width} count {count}")
            cursor = await conn.execute(QUERY, (width, count))
            rows = await cursor.fetchall()
            watchdog.stop()
            check(rows, width, count)
            totals["queries"] += 1
            totals["bytes"] += width * count


def main():
    watchdog = Watchdog()
    totals = {"queries": 0, "bytes": 0}
    run_sync(watchdog, totals)
    asyncio.run(run_async(watchdog, totals))
    print(json.dumps({"client": "psycopg3", "version": psycopg.__version__, **totals}))


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # report any failure as one line and a non-zero exit
        print(f"psycopg3 results failed: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
