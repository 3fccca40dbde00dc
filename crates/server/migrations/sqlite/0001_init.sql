-- printwatch server schema v1 (SQLite). Times are UNIX seconds, UTC.
-- Keep in step with migrations/postgres/0001_init.sql: same tables, columns and meaning.

CREATE TABLE tenants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    parent_id INTEGER REFERENCES tenants(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('provider', 'customer')),
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE sites (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE device_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    totp_secret TEXT,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE group_grants (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    group_id INTEGER NOT NULL REFERENCES device_groups(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX audit_log_tenant_at ON audit_log (tenant_id, at);

CREATE TABLE agents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    site_id INTEGER REFERENCES sites(id) ON DELETE SET NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'active', 'revoked')),
    pin_verifier BLOB,
    pin_expires_at INTEGER,
    pin_failures INTEGER NOT NULL DEFAULT 0,
    key_sealed BLOB,
    expires_at INTEGER,
    last_seq INTEGER NOT NULL DEFAULT 0,
    last_seen_at INTEGER,
    agent_version TEXT,
    os TEXT,
    hostname TEXT,
    created_at INTEGER NOT NULL
);

CREATE TABLE devices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    site_id INTEGER REFERENCES sites(id) ON DELETE SET NULL,
    identity TEXT NOT NULL,
    family TEXT,
    vendor TEXT,
    model TEXT,
    serial TEXT,
    mac TEXT,
    target TEXT,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    last_agent_id INTEGER REFERENCES agents(id) ON DELETE SET NULL,
    snapshot TEXT NOT NULL,
    UNIQUE (tenant_id, identity)
);
CREATE INDEX devices_tenant ON devices (tenant_id, id);

CREATE TABLE group_devices (
    group_id INTEGER NOT NULL REFERENCES device_groups(id) ON DELETE CASCADE,
    device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, device_id)
);

-- The last state each agent delivered for a device: the base of its deltas.
CREATE TABLE agent_device_state (
    agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    PRIMARY KEY (agent_id, device_id)
);

CREATE TABLE meter_readings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value INTEGER NOT NULL,
    at INTEGER NOT NULL,
    -- 1 when the value went down: a counter reset, never negative usage.
    reset INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX meter_readings_device ON meter_readings (device_id, name, at);

CREATE TABLE supply_readings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    description TEXT NOT NULL,
    kind TEXT NOT NULL,
    color TEXT,
    percent DOUBLE PRECISION,
    state TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX supply_readings_device ON supply_readings (device_id, at);

CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    severity TEXT NOT NULL,
    alert_group TEXT NOT NULL,
    code TEXT NOT NULL,
    description TEXT,
    opened_at INTEGER NOT NULL,
    closed_at INTEGER
);
CREATE INDEX alerts_device ON alerts (device_id, closed_at);
