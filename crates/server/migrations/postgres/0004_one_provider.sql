-- At most one provider tenant: several servers starting for the first time
-- on one database race to create it, and this index lets exactly one win
-- (the others' INSERT … ON CONFLICT DO NOTHING finds it initialised).
-- Keep in step with migrations/sqlite/0004_one_provider.sql.
CREATE UNIQUE INDEX tenants_one_provider ON tenants (kind) WHERE kind = 'provider';
