"""psycopg2 through pgtls: a query, a transaction and a COPY round trip.

Usage: /usr/bin/python3 psycopg2_client.py NAME
Settings come from the environment: PGHOST, PGPORT, PGUSER, PGPASSWORD,
PGDATABASE and PGSSLROOTCERT (the CA that verifies pgtls). Prints one JSON
line of results; exits 1 with a message on stderr when something fails.
"""

import io
import json
import os
import sys

import psycopg2

ROWS = 1000


def copy_data():
    """The rows COPY sends: tab-separated id and a payload with non-ASCII text."""
    return "".join(f"{i}\tpayload {i} é€ {'x' * (i % 200)}\n" for i in range(1, ROWS + 1))


def main(name):
    table = f"clients_{name}"
    conn = psycopg2.connect(
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
    )
    result = {"client": "psycopg2", "version": psycopg2.__version__.split()[0]}
    result["client_tls"] = bool(conn.info.ssl_in_use)
    cur = conn.cursor()

    cur.execute("SELECT 41 + 1")
    result["answer"] = cur.fetchone()[0]
    cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    result["backend_ssl"] = cur.fetchone()[0]

    cur.execute(f"DROP TABLE IF EXISTS {table}, {table}_copy")
    cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, note text)")
    cur.execute(f"CREATE TABLE {table}_copy (id int PRIMARY KEY, payload text)")
    conn.commit()

    # psycopg2 opens a transaction before the first statement; rollback() and commit() end it.
    cur.execute(f"INSERT INTO {table} VALUES (1, 'rolled back')")
    cur.execute(f"SELECT count(*) FROM {table} WHERE id = 1")
    result["tx_rows_inside"] = cur.fetchone()[0]
    conn.rollback()
    cur.execute(f"SELECT count(*) FROM {table} WHERE id = 1")
    result["tx_rows_after_rollback"] = cur.fetchone()[0]
    cur.execute(f"INSERT INTO {table} VALUES (2, 'committed')")
    conn.commit()
    cur.execute(f"SELECT count(*) FROM {table} WHERE id = 2")
    result["tx_rows_after_commit"] = cur.fetchone()[0]
    conn.commit()

    data = copy_data()
    cur.copy_expert(f"COPY {table}_copy (id, payload) FROM STDIN", io.StringIO(data))
    result["copy_in_rows"] = cur.rowcount
    conn.commit()
    out = io.StringIO()
    cur.copy_expert(f"COPY (SELECT id, payload FROM {table}_copy ORDER BY id) TO STDOUT", out)
    back = out.getvalue()
    result["copy_out_rows"] = back.count("\n")
    result["copy_out_matches"] = back == data
    result["copy_bytes"] = len(back.encode())
    cur.execute(f"SELECT count(*) FROM {table}_copy")
    result["table_rows"] = cur.fetchone()[0]
    conn.commit()
    conn.close()
    print(json.dumps(result))


if __name__ == "__main__":
    try:
        main(sys.argv[1] if len(sys.argv) > 1 else "psycopg2")
    except Exception as error:  # report any failure as one line and a non-zero exit
        print(f"psycopg2 client failed: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
