-- Heartbeats in a sequence of their own, what they tell about the agent,
-- and the configuration the server pushes to it. Keep in step with
-- migrations/postgres/0006_agent_health.sql.

-- Heartbeats count apart from submissions (see the protocol's envelope
-- docs): a heartbeat never makes a pending submission stale.
ALTER TABLE agents ADD COLUMN last_heartbeat_seq BIGINT NOT NULL DEFAULT 0;

-- The last heartbeat's report (NULL before the first). Numbers are the
-- agent's, clamped to BIGINT; texts are cut to a bounded length.
ALTER TABLE agents ADD COLUMN last_heartbeat_at BIGINT;
ALTER TABLE agents ADD COLUMN uptime_secs BIGINT;
ALTER TABLE agents ADD COLUMN spool_records BIGINT;
ALTER TABLE agents ADD COLUMN spool_bytes BIGINT;
ALTER TABLE agents ADD COLUMN device_count BIGINT;
-- JSON: the last discovery sweep's summary.
ALTER TABLE agents ADD COLUMN last_sweep TEXT;
-- The agent's heartbeat interval: silent for three, it is offline.
ALTER TABLE agents ADD COLUMN heartbeat_every_secs BIGINT;
-- Version of the pushed configuration in force on the agent, and why the
-- last push was not applied.
ALTER TABLE agents ADD COLUMN config_in_force BIGINT;
ALTER TABLE agents ADD COLUMN config_error TEXT;
-- Server time minus the agent's sent_at, in seconds.
ALTER TABLE agents ADD COLUMN clock_error_secs BIGINT;

-- The configuration pushed to the agent: its version (0: none; increases
-- with every push), the JSON sealed with the master key (it holds SNMP
-- credentials), and when it was set.
ALTER TABLE agents ADD COLUMN config_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN config_sealed BLOB;
ALTER TABLE agents ADD COLUMN config_updated_at BIGINT;
