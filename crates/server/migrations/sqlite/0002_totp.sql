-- TOTP two-factor: the secret sealed with the master key (pending until the
-- user confirms a first code), and the last time step accepted (replay guard).
-- Keep in step with migrations/postgres/0002_totp.sql.
ALTER TABLE users DROP COLUMN totp_secret;
ALTER TABLE users ADD COLUMN totp_sealed BLOB;
ALTER TABLE users ADD COLUMN totp_pending BLOB;
ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;
