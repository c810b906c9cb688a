"""psycopg 3 through pgtls: a query, a transaction and a COPY round trip.

Usage: /usr/bin/python3 psycopg3_client.py NAME
Settings come from the environment: PGHOST, PGPORT, PGUSER, PGPASSWORD,
PGDATABASE and PGSSLROOTCERT (the CA that verifies pgtls), and libpq's
channel_binding from PGTLS_CHANNEL_BINDING (default disable). Prints one JSON
line of results; exits 1 with a message on stderr when something fails.
"""

import json
import os
import sys

import psycopg

ROWS = 1000


def copy_data():
    """The rows COPY sends: tab-separated id and a payload with non-ASCII text."""
    return "".join(f"{i}\tpayload {i} é€ {'x' * (i % 200)}\n" for i in range(1, ROWS + 1))


def main(name):
    table = f"clients_{name}"
    conn = psycopg.connect(
        host=os.environ.get("PGHOST", "localhost"),
        port=int(os.environ["PGPORT"]),
        user=os.environ["PGUSER"],
        password=os.environ["PGPASSWORD"],
        dbname=os.environ["PGDATABASE"],
        sslmode="verify-full",
        sslrootcert=os.environ["PGSSLROOTCERT"],
        # SCRAM channel binding cannot span pgtls's two TLS sessions unless
        # pgtls authenticates itself (auth): then the tests set prefer or require.
        channel_binding=os.environ.get("PGTLS_CHANNEL_BINDING", "disable"),
        connect_timeout=10,
        autocommit=True,
    )
    result = {"client": "psycopg3", "version": psycopg.__version__}
    result["client_tls"] = bool(conn.pgconn.ssl_in_use)
    with conn, conn.cursor() as cur:
        result["answer"] = cur.execute("SELECT 41 + 1").fetchone()[0]
        result["backend_ssl"] = cur.execute(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone()[0]

        cur.execute(f"DROP TABLE IF EXISTS {table}, {table}_copy")
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, note text)")
        cur.execute(f"CREATE TABLE {table}_copy (id int PRIMARY KEY, payload text)")

        count = f"SELECT count(*) FROM {table} WHERE id = %s"
        with conn.transaction():
            cur.execute(f"INSERT INTO {table} VALUES (1, 'rolled back')")
            result["tx_rows_inside"] = cur.execute(count, (1,)).fetchone()[0]
            raise psycopg.Rollback()
        result["tx_rows_after_rollback"] = cur.execute(count, (1,)).fetchone()[0]
        with conn.transaction():
            cur.execute(f"INSERT INTO {table} VALUES (2, 'committed')")
        result["tx_rows_after_commit"] = cur.execute(count, (2,)).fetchone()[0]

        data = copy_data()
        encoded = data.encode()
        with cur.copy(f"COPY {table}_copy (id, payload) FROM STDIN") as copy:
            # Several writes, so the rows travel in several CopyData messages.
            for start in range(0, len(encoded), 8192):
                copy.write(encoded[start:start + 8192])
        result["copy_in_rows"] = cur.rowcount
        back = bytearray()
        with cur.copy(f"COPY (SELECT id, payload FROM {table}_copy ORDER BY id) TO STDOUT") as copy:
            for block in copy:
                back += block
        result["copy_out_rows"] = back.count(b"\n")
        result["copy_out_matches"] = bytes(back) == encoded
        result["copy_bytes"] = len(back)
        result["table_rows"] = cur.execute(f"SELECT count(*) FROM {table}_copy").fetchone()[0]
    print(json.dumps(result))


if __name__ == "__main__":
    try:
        main(sys.argv[1] if len(sys.argv) > 1 else "psycopg3")
    except Exception as error:  # report any failure as one line and a non-zero exit
        print(f"psycopg3 client failed: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
