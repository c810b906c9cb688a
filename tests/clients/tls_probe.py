"""A TLS client for probing pgtls's listeners, driven one JSON line at a time.

Usage: python3 tests/clients/tls_probe.py, then write requests to stdin, one JSON object a
line; each gets one JSON line back on stdout. Used by tests/integration/tls_conformance_test.ts.

{"op": "suites"}: the cipher suites this OpenSSL can offer in TLS 1.2 (names), at security
level 0.

{"op": "connect", "port": P, "client": NAME, ...}: one connection. The client NAME is an
SSLContext made on its first use from "min"/"max" ("1.0" to "1.3"), "ciphers" (OpenSSL list)
and "cert"/"key" (a client certificate); sessions can only be offered through the context that
saved them. "direct": true starts TLS at once (PostgreSQL 17's sslnegotiation=direct, ALPN
"postgresql"); else SSLRequest first. "resume": a session saved earlier under that name is
offered; "save": the session is saved under that name once the server has answered.
"startup": true (default) sends a StartupMessage for "user"/"database" and reports the first
message back: its type, and for an ErrorResponse its SQLSTATE and message. "keep": NAME keeps
the connection open after the handshake instead, with nothing sent, under that name.
"sni": the server name to send (default "localhost"; null sends none). "ca": a CA file that
client NAME verifies the server's certificate with (no host name check); the answer then has
"peer", the subject CN of the certificate the session was verified with (for a resumed session,
the one of the handshake that made it).
The answer: {"handshake": "ok", "version", "cipher", "reused", "peer", "answer", "sqlstate",
"message", "detail"} or {"handshake": "failed", "error"}.

{"op": "startup", "kept": NAME, "user": U, "database": D}: sends the StartupMessage on a kept
connection, reports the first message back as "connect" does ({"answer", "sqlstate", ...}),
and closes it.
"""

import json
import socket
import ssl
import struct
import sys

VERSIONS = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}
SSL_REQUEST = struct.pack("!II", 8, 80877103)

contexts = {}
sessions = {}
kept = {}


def context(request):
    name = request["client"]
    if name not in contexts:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # What is probed is the server's TLS, not its certificate (other tests verify that).
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if request.get("ca"):
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(request["ca"])
        ctx.set_ciphers(request.get("ciphers") or "DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = VERSIONS[request.get("min", "1.2")]
        ctx.maximum_version = VERSIONS[request.get("max", "1.3")]
        ctx.set_alpn_protocols(["postgresql"])
        if request.get("cert"):
            ctx.load_cert_chain(request["cert"], request["key"])
        contexts[name] = ctx
    return contexts[name]


def startup_message(user, database):
    body = b"".join(f"{k}\0{v}\0".encode() for k, v in (("user", user), ("database", database)))
    body += b"\0"
    return struct.pack("!II", 8 + len(body), 196608) + body


def read_message(tls):
    """The first message the server sends: (type, body), or None when it closed first."""
    data = b""
    while True:
        if len(data) >= 5:
            length = struct.unpack("!I", data[1:5])[0]
            if len(data) >= 1 + length:
                return data[:1], data[5 : 1 + length]
        try:
            chunk = tls.recv(65536)
        except (ssl.SSLError, OSError):
            chunk = b""
        if not chunk:
            return None
        data += chunk


def connect(request):
    ctx = context(request)
    raw = socket.create_connection(("127.0.0.1", request["port"]), timeout=20)
    try:
        if not request.get("direct"):
            raw.sendall(SSL_REQUEST)
            answer = raw.recv(1)
            if answer != b"S":
                return {"handshake": "failed", "error": f"SSLRequest answered {answer!r}"}
        session = sessions.get(request["resume"]) if request.get("resume") else None
        try:
            tls = ctx.wrap_socket(raw, server_hostname=request.get("sni", "localhost"), session=session)
        except (ssl.SSLError, OSError) as error:
            return {"handshake": "failed", "error": str(error)}
        result = {
            "handshake": "ok",
            "version": tls.version(),
            "cipher": tls.cipher()[0],
            "reused": tls.session_reused,
        }
        peer = tls.getpeercert()
        if peer:
            names = [value for rdn in peer.get("subject", ()) for key, value in rdn if key == "commonName"]
            result["peer"] = names[0] if names else None
        if request.get("keep"):
            kept[request["keep"]] = (tls, raw)
            raw = None
            return result
        if request.get("startup", True):
            result.update(startup(tls, request))
        if request.get("save"):
            sessions[request["save"]] = tls.session
        tls.close()
        return result
    finally:
        if raw is not None:
            raw.close()


def startup(tls, request):
    """Sends a StartupMessage and reports the first message back."""
    result = {}
    try:
        tls.sendall(startup_message(request["user"], request["database"]))
        message = read_message(tls)
    except (ssl.SSLError, OSError) as error:
        message = None
        result["error"] = str(error)
    if message is None:
        result["answer"] = "closed"
    else:
        kind, body = message
        result["answer"] = kind.decode()
        if kind == b"E":
            fields = {f[:1].decode(): f[1:].decode() for f in body.split(b"\0") if f}
            result.update(sqlstate=fields.get("C"), message=fields.get("M"), detail=fields.get("D"))
    return result


def startup_kept(request):
    tls, raw = kept.pop(request["kept"])
    try:
        return startup(tls, request)
    finally:
        tls.close()
        raw.close()


def suites():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    # Suites from SSLv3 and TLS 1.0 days can be negotiated in TLS 1.2 too; TLS 1.3's cannot.
    return sorted({c["name"] for c in ctx.get_ciphers() if c["protocol"] != "TLSv1.3"})


for line in sys.stdin:
    request = json.loads(line)
    if request["op"] == "suites":
        reply = suites()
    elif request["op"] == "connect":
        reply = connect(request)
    elif request["op"] == "startup":
        reply = startup_kept(request)
    else:
        reply = {"error": f"unknown op {request['op']}"}
    print(json.dumps(reply), flush=True)
