-- Web portal sessions: the cookie holds a random secret, only its SHA-256
-- is stored. Idle expiry from last_seen_at, absolute expiry from created_at.
-- Keep in step with migrations/postgres/0003_sessions.sql.
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);
