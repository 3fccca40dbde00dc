-- Commands to agents (the command channel). Keep in step with
-- migrations/postgres/0008_commands.sql.
--
-- A row is written when the command is issued (with the audit entry, in
-- one transaction) and changes state as the agent answers:
--   queued     stored, not acknowledged by the agent (sent again at every
--              connection until it is);
--   delivered  the agent acknowledged it (it remembers the id and applies
--              it once);
--   done, failed  the agent's sealed result is stored in `result`;
--   expired    is not stored: a queued or delivered command whose
--              `expires_at` passed reads as expired and is no longer sent.
-- `args` is JSON without secrets: a configure command names the version
-- of the pushed configuration (stored sealed in `agents`), not its text.
CREATE TABLE agent_commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    args TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'done', 'failed')),
    issued_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    delivered_at BIGINT,
    finished_at BIGINT,
    -- JSON {"ok": bool, "detail": text} from the agent.
    result TEXT
);
CREATE INDEX agent_commands_agent ON agent_commands (agent_id, state, id);
