/**
 * Help texts.
 *
 * @module
 */

/** `pgtls --help`. */
export const MAIN_HELP = `pgtls: a PostgreSQL-aware TLS terminating proxy

Usage:
  pgtls serve [--config FILE] [flags]   run the proxy
  pgtls check [--config FILE] [--probe] validate the config and its certificate files
  pgtls health [URL]                    exit 0 if a running pgtls's GET /healthz answers 200
                                        (default URL http://127.0.0.1:9187/healthz)
  pgtls --version                       print the version
  pgtls --help                          print this help

Run "pgtls serve --help" for the serve flags.

Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
`;

/** `pgtls serve --help`. */
export const SERVE_HELP = `Usage: pgtls serve [--config FILE] [flags]

Accepts PostgreSQL clients over TLS and relays each session to the backend,
in plaintext or over verified TLS. Flags override the file (which must then
define a single proxy). With neither a file nor --cert/--key, pgtls listens on
127.0.0.1:6432 with an ephemeral self-signed certificate in front of
127.0.0.1:5432.

Flags:
  --config FILE        YAML configuration (see README)
  --listen HOST:PORT   address to accept clients on        (default 127.0.0.1:6432)
  --backend HOST:PORT  PostgreSQL server to relay to       (default 127.0.0.1:5432)
  --cert FILE          listener certificate chain, PEM
  --key FILE           listener private key, PEM
  --backend-tls MODE   disable | require | verify-ca | verify-full   (default disable)
  --backend-ca FILE    CA certificates that verify the backend, PEM (with verify-ca/-full)
  --log-level LEVEL    debug | info | warn | error                    (default info)
  --log-format FORMAT  text | json                                    (default text)
  --workers N|auto     processes accepting on the same ports; auto: one per CPU (default 1)
  -h, --help           print this help
`;

/** `pgtls check --help`. */
export const CHECK_HELP = `Usage: pgtls check [--config FILE] [--probe] [flags]

Validates the configuration (the same flags as serve apply) and loads every
certificate and key it names, printing a warning for a certificate within 30
days of its end, for backend TLS settings that go unused, for a listener
certificate file without the issuer of its certificate, for route names the
certificate does not cover and for routes an earlier one shadows. A private
key others than its owner may read is refused, and so is an encrypted key
without its key_passphrase_file. Exits 0 when all is well, 1 when a
certificate pgtls presents has expired, 2 when the configuration is wrong.

  --probe   also connect to every backend as a session would (SSLRequest and
            verified TLS when tls_enabled) and print its TLS version and
            certificate subject, issuer and expiry; exits 1 if a backend
            cannot be used or its certificate has expired
`;
