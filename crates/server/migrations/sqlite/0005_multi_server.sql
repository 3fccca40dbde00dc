-- What several servers on one database must agree on, and what must hold
-- across them. Keep in step with migrations/postgres/0005_multi_server.sql.

-- Settings written once, at first start: `master_key_check` (a hash of the
-- master key) lets a server with another key refuse to start.
CREATE TABLE server_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Failed logins per e-mail (as given, known or not, so that a lockout does
-- not tell which accounts exist): `failures` since `window_start`, and
-- no logins until `locked_until`.
CREATE TABLE login_failures (
    email TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    locked_until INTEGER
);
