-- TOTP two-factor: the secret sealed with the master key (pending until the
-- user confirms a first code), and the last time step accepted (replay guard).
-- Keep in step with migrations/sqlite/0002_totp.sql.
ALTER TABLE users DROP COLUMN totp_secret;
ALTER TABLE users ADD COLUMN totp_sealed BYTEA;
ALTER TABLE users ADD COLUMN totp_pending BYTEA;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;
