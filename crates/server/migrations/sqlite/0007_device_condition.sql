-- How each device is doing, kept with the device at every report (the
-- rules are `ingest::Condition` and `ingest::SupplyNeed`), so that the
-- portal's lists and counts filter in the database. Rows stored before
-- this migration say 'unknown' / 'ok' until their device reports again.
-- Keep in step with the other database's 0007_device_condition.sql.
ALTER TABLE devices ADD COLUMN condition TEXT NOT NULL DEFAULT 'unknown';
ALTER TABLE devices ADD COLUMN supply_need TEXT NOT NULL DEFAULT 'ok';
CREATE INDEX devices_condition ON devices (tenant_id, condition);
CREATE INDEX devices_supply_need ON devices (tenant_id, supply_need);
