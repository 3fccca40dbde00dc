//! One storage battery, run against SQLite and PostgreSQL alike.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use printwatch_protocol::delta;
use printwatch_protocol::message::{DeviceReport, Heartbeat, SweepSummary};
use printwatch_server::ids::*;
use printwatch_server::model::*;
use printwatch_server::store::*;
use printwatch_snapshot::{Alert, Meter, Snapshot, Source, Supply};

const NOW: i64 = 1_735_689_600; // 2025-01-01T00:00:00Z
/// When the test envelopes arrive: after every report they carry (a report
/// from after its arrival is from a wrong clock, and clamped).
const ARRIVAL: i64 = NOW + 365 * 86_400;

battery!(
    tenants_see_themselves_and_their_customers_only,
    users_and_tokens,
    agent_pin_is_single_use_and_expires,
    revoked_and_expired_agents_store_nothing,
    each_sequence_number_applies_once,
    a_device_is_its_family_and_serial_not_its_address,
    meter_resets_are_events_not_negative_usage,
    deltas_apply_to_the_agents_last_state_only,
    alerts_open_and_close,
    sql_metacharacters_are_data,
    deleting_a_tenant_deletes_everything_it_owns,
    device_listing_pages_and_honours_grants,
    devices_filter_and_count_by_condition_supply_and_text,
    the_audit_log_is_scoped,
    totp_steps_are_used_once,
    reports_of_one_device_in_one_envelope_apply_in_order,
    a_new_device_and_a_known_one_in_one_envelope,
    a_failing_envelope_stores_nothing_and_keeps_its_sequence,
    envelopes_larger_than_one_statement,
    overtaken_reports_do_not_move_meters_back,
    a_device_without_serial_is_its_mac,
    a_serial_showing_up_keeps_the_device_known_by_its_mac,
    a_serial_not_read_once_keeps_the_device_known_by_it,
    a_clock_in_the_future_does_not_freeze_a_device,
    heartbeats_count_in_their_own_sequence,
    heartbeats_store_the_agents_health,
    pushed_configurations_are_versioned_sealed_and_audited,
);

struct World {
    provider: Tenant,
    a: Tenant,
    b: Tenant,
}

async fn world(store: &SqlStore) -> World {
    let provider = store
        .create_tenant(None, TenantKind::Provider, "Dealer", NOW)
        .await
        .unwrap();
    let a = store
        .create_tenant(Some(provider.id), TenantKind::Customer, "Customer A", NOW)
        .await
        .unwrap();
    let b = store
        .create_tenant(Some(provider.id), TenantKind::Customer, "Customer B", NOW)
        .await
        .unwrap();
    World { provider, a, b }
}

async fn active_agent(store: &SqlStore, tenant: TenantId) -> Agent {
    let agent = store
        .create_agent(
            NewAgent {
                tenant_id: tenant,
                site_id: None,
                name: "agent".into(),
                pin_verifier: Some(vec![1; 32]),
                pin_expires_at: NOW + 600,
                expires_at: None,
            },
            NOW,
        )
        .await
        .unwrap();
    assert!(
        store
            .activate_agent(agent.id, &[9; 72], &AgentReport::default(), NOW)
            .await
            .unwrap()
    );
    agent
}

fn snapshot(serial: &str, target: &str, total: u64) -> Snapshot {
    let mut s = Snapshot::new(target);
    s.collected_at = "2025-01-01T00:00:00Z".into();
    s.family = Some("Ricoh".into());
    s.model = Some("MP C3004".into());
    s.serial = Some(serial.into());
    s.meters = vec![Meter {
        name: "total".into(),
        value: total,
        unit: "impressions".into(),
        oid: Source::One("1.3.6.1.2.1.43.10.2.1.4.1.1".into()),
    }];
    s.supplies = vec![Supply {
        description: "Black Toner".into(),
        kind: "toner".into(),
        color: Some("black".into()),
        level: Some(50),
        max: Some(100),
        percent: Some(50.0),
        state: "ok".into(),
        unit: Some("percent".into()),
        part_number: None,
        serial: None,
        oid: None,
    }];
    s
}

fn batch(agent: &Agent, seq: u64, reports: Vec<DeviceReport>) -> IngestBatch {
    IngestBatch {
        agent_id: agent.id,
        tenant_id: agent.tenant_id,
        site_id: agent.site_id,
        seq,
        now: ARRIVAL,
        reports,
    }
}

fn full(s: &Snapshot) -> DeviceReport {
    DeviceReport::Full {
        snapshot: Box::new(s.clone()),
    }
}

fn all(scope: TenantId) -> DeviceFilter {
    DeviceFilter {
        scope,
        granted_to: None,
        after: None,
        limit: 1000,
        only: Default::default(),
    }
}

async fn tenants_see_themselves_and_their_customers_only(store: &SqlStore) {
    let w = world(store).await;
    assert_eq!(store.provider().await.unwrap().unwrap().id, w.provider.id);
    assert_eq!(store.tenants(w.provider.id).await.unwrap().len(), 3);
    let seen: Vec<_> = store.tenants(w.a.id).await.unwrap();
    assert_eq!(seen, vec![w.a.clone()]);
    assert_eq!(store.tenant(w.a.id, w.b.id).await.unwrap(), None);
    assert_eq!(store.tenant(w.a.id, w.provider.id).await.unwrap(), None);
    assert!(store.tenant(w.provider.id, w.b.id).await.unwrap().is_some());
    let site = store.create_site(w.b.id, "Main office").await.unwrap();
    assert_eq!(store.site(w.a.id, site.id).await.unwrap(), None);
    assert!(store.sites(w.a.id).await.unwrap().is_empty());
    assert_eq!(store.sites(w.provider.id).await.unwrap(), vec![site]);
}

async fn users_and_tokens(store: &SqlStore) {
    let w = world(store).await;
    let user = store
        .create_user(
            NewUser {
                tenant_id: w.a.id,
                email: "Alice@Example.com".into(),
                password_hash: "$argon2id$fake".into(),
                role: Role::Operator,
            },
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(user.email, "alice@example.com");
    let (found, hash) = store
        .user_by_email("ALICE@example.com ")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.id, hash.as_str()), (user.id, "$argon2id$fake"));
    assert!(
        store
            .user_by_email("bob@example.com")
            .await
            .unwrap()
            .is_none()
    );
    let duplicate = store
        .create_user(
            NewUser {
                tenant_id: w.b.id,
                email: "alice@example.com".into(),
                password_hash: "x".into(),
                role: Role::Viewer,
            },
            NOW,
        )
        .await;
    assert!(duplicate.is_err(), "emails are unique");
    assert_eq!(store.user(w.b.id, user.id).await.unwrap(), None);
    assert_eq!(store.users(w.provider.id).await.unwrap().len(), 1);
    assert_eq!(store.count_users().await.unwrap(), 1);

    let token = store
        .create_token(&user, "ci", Role::Viewer, "hash-1", None, NOW)
        .await
        .unwrap();
    let (t, u) = store.token_by_hash("hash-1").await.unwrap().unwrap();
    assert_eq!((t.id, t.role, u.id), (token.id, Role::Viewer, user.id));
    assert!(store.token_by_hash("hash-2").await.unwrap().is_none());
}

async fn agent_pin_is_single_use_and_expires(store: &SqlStore) {
    let w = world(store).await;
    let new = |expires| NewAgent {
        tenant_id: w.a.id,
        site_id: None,
        name: "basement".into(),
        pin_verifier: None,
        pin_expires_at: expires,
        expires_at: None,
    };
    let agent = store.create_agent(new(NOW + 600), NOW).await.unwrap();
    assert_eq!(agent.state, AgentState::Pending);
    let report0 = AgentReport::default();
    assert!(
        !store
            .activate_agent(agent.id, &[1; 72], &report0, NOW)
            .await
            .unwrap(),
        "no PIN yet, no activation"
    );
    assert!(
        !store
            .set_pin(w.b.id, agent.id, &[7; 32], NOW + 600)
            .await
            .unwrap()
    );
    assert!(
        store
            .set_pin(w.a.id, agent.id, &[7; 32], NOW + 600)
            .await
            .unwrap()
    );
    let (_, secrets) = store.agent_with_secrets(agent.id).await.unwrap().unwrap();
    assert_eq!(secrets.pin_verifier.as_deref(), Some(&[7u8; 32][..]));
    assert_eq!(store.record_pin_failure(agent.id, 3).await.unwrap(), 1);
    assert_eq!(store.record_pin_failure(agent.id, 3).await.unwrap(), 2);
    let (_, secrets) = store.agent_with_secrets(agent.id).await.unwrap().unwrap();
    assert!(secrets.pin_verifier.is_some());
    assert_eq!(store.record_pin_failure(agent.id, 3).await.unwrap(), 3);
    let (_, secrets) = store.agent_with_secrets(agent.id).await.unwrap().unwrap();
    assert!(
        secrets.pin_verifier.is_none(),
        "too many guesses burn the PIN"
    );
    assert!(
        store
            .set_pin(w.a.id, agent.id, &[7; 32], NOW + 600)
            .await
            .unwrap()
    );
    let report = AgentReport {
        version: "0.1.0".into(),
        os: "linux".into(),
        hostname: Some("pc".into()),
    };
    assert!(
        store
            .activate_agent(agent.id, &[1; 72], &report, NOW + 1)
            .await
            .unwrap()
    );
    assert!(
        !store
            .activate_agent(agent.id, &[2; 72], &report, NOW + 2)
            .await
            .unwrap(),
        "a PIN works once"
    );
    let (active, secrets) = store.agent_with_secrets(agent.id).await.unwrap().unwrap();
    assert_eq!(active.state, AgentState::Active);
    assert_eq!(active.os.as_deref(), Some("linux"));
    assert!(
        secrets.pin_verifier.is_none(),
        "the PIN is deleted once used"
    );
    assert_eq!(secrets.key_sealed.as_deref(), Some(&[1u8; 72][..]));

    assert!(
        !store
            .set_pin(w.a.id, agent.id, &[7; 32], NOW + 600)
            .await
            .unwrap(),
        "an active agent gets no new PIN"
    );
    let late = store.create_agent(new(NOW + 10), NOW).await.unwrap();
    assert!(
        store
            .set_pin(w.a.id, late.id, &[7; 32], NOW + 10)
            .await
            .unwrap()
    );
    assert!(
        !store
            .activate_agent(late.id, &[1; 72], &report, NOW + 10)
            .await
            .unwrap(),
        "an expired PIN does not activate"
    );
    assert_eq!(store.agent(w.b.id, agent.id).await.unwrap(), None);
    assert_eq!(store.agents(w.a.id).await.unwrap().len(), 2);
}

async fn revoked_and_expired_agents_store_nothing(store: &SqlStore) {
    let w = world(store).await;
    let agent = active_agent(store, w.a.id).await;
    assert!(
        !store.revoke_agent(w.b.id, agent.id).await.unwrap(),
        "not B's to revoke"
    );
    assert!(store.revoke_agent(w.a.id, agent.id).await.unwrap());
    let (revoked, secrets) = store.agent_with_secrets(agent.id).await.unwrap().unwrap();
    assert_eq!(revoked.state, AgentState::Revoked);
    assert!(secrets.key_sealed.is_none(), "the key is forgotten");
    assert!(!revoked.may_submit(NOW));
    let out = store
        .ingest(batch(&agent, 1, vec![full(&snapshot("S1", "10.0.0.1", 5))]))
        .await
        .unwrap();
    assert!(!out.applied);
    assert!(store.devices(&all(w.provider.id)).await.unwrap().is_empty());
    assert!(
        !store
            .heartbeat(agent.id, 2, &HeartbeatRecord::default(), NOW)
            .await
            .unwrap()
    );

    let mut expiring = active_agent(store, w.a.id).await;
    expiring.expires_at = Some(NOW);
    assert!(!expiring.may_submit(NOW));
    assert!(expiring.may_submit(NOW - 1) || expiring.expires_at == Some(NOW));

    // The store refuses an expired agent too, not only the HTTP layer.
    let expired = store
        .create_agent(
            NewAgent {
                tenant_id: w.a.id,
                site_id: None,
                name: "expired".into(),
                pin_verifier: Some(vec![1; 32]),
                pin_expires_at: NOW + 600,
                expires_at: Some(NOW),
            },
            NOW - 10,
        )
        .await
        .unwrap();
    assert!(
        store
            .activate_agent(expired.id, &[9; 72], &AgentReport::default(), NOW - 10)
            .await
            .unwrap()
    );
    let out = store
        .ingest(batch(
            &expired,
            1,
            vec![full(&snapshot("S2", "10.0.0.2", 5))],
        ))
        .await
        .unwrap();
    assert!(!out.applied);
    assert!(store.devices(&all(w.provider.id)).await.unwrap().is_empty());
    assert!(
        !store
            .heartbeat(expired.id, 1, &HeartbeatRecord::default(), NOW)
            .await
            .unwrap(),
        "nor a heartbeat of an expired agent"
    );
    assert_eq!(
        store
            .agent(w.a.id, expired.id)
            .await
            .unwrap()
            .unwrap()
            .last_seq,
        0
    );
    // An agent whose credentials ran out before it used its PIN.
    let late = store
        .create_agent(
            NewAgent {
                tenant_id: w.a.id,
                site_id: None,
                name: "late".into(),
                pin_verifier: Some(vec![1; 32]),
                pin_expires_at: NOW + 600,
                expires_at: Some(NOW - 1),
            },
            NOW - 10,
        )
        .await
        .unwrap();
    assert!(
        !store
            .activate_agent(late.id, &[9; 72], &AgentReport::default(), NOW)
            .await
            .unwrap()
    );
}

async fn each_sequence_number_applies_once(store: &SqlStore) {
    let w = world(store).await;
    let agent = active_agent(store, w.a.id).await;
    let s = snapshot("S1", "10.0.0.1", 100);
    let first = store
        .ingest(batch(&agent, 1, vec![full(&s)]))
        .await
        .unwrap();
    assert!(first.applied);
    assert_eq!(first.devices, 1);
    for seq in [1, 0] {
        let again = store
            .ingest(batch(&agent, seq, vec![full(&s)]))
            .await
            .unwrap();
        assert!(!again.applied, "seq {seq}");
    }
    let out = store
        .ingest(batch(&agent, u64::MAX, vec![full(&s)]))
        .await
        .unwrap();
    assert!(!out.applied, "beyond BIGINT is refused");
    let devices = store.devices(&all(w.a.id)).await.unwrap();
    let readings = store
        .meter_readings(w.a.id, devices[0].id, 0, i64::MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(readings.len(), 1);
    assert!(
        store
            .heartbeat(agent.id, 2, &HeartbeatRecord::default(), NOW)
            .await
            .unwrap()
    );
    assert!(
        !store
            .heartbeat(agent.id, 2, &HeartbeatRecord::default(), NOW)
            .await
            .unwrap()
    );
    let after = store
        .ingest(batch(&agent, 2, vec![full(&s)]))
        .await
        .unwrap();
    assert!(
        after.applied,
        "heartbeats and submissions count in sequences of their own"
    );
}

fn heartbeat(sent_at: &str) -> Heartbeat {
    Heartbeat {
        agent_version: "0.3.0".into(),
        os: "linux".into(),
        hostname: Some("printroom".into()),
        sent_at: sent_at.into(),
        ..Default::default()
    }
}

async fn heartbeats_count_in_their_own_sequence(store: &SqlStore) {
    let w = world(store).await;
    let agent = active_agent(store, w.a.id).await;
    let record = HeartbeatRecord::new(&heartbeat("2025-01-01T00:00:00Z"), NOW);
    let s = snapshot("S1", "10.0.0.1", 100);
    assert!(
        store
            .ingest(batch(&agent, 1, vec![full(&s)]))
            .await
            .unwrap()
            .applied
    );
    // A heartbeat far ahead of the submissions...
    assert!(store.heartbeat(agent.id, 100, &record, NOW).await.unwrap());
    // ...never makes a submission waiting in the spool stale.
    let next = snapshot("S1", "10.0.0.1", 150);
    assert!(
        store
            .ingest(batch(&agent, 2, vec![full(&next)]))
            .await
            .unwrap()
            .applied
    );
    // A replayed or older heartbeat is refused by the store itself (the
    // check is in the statement that applies it), a newer one applies.
    for seq in [100, 99, 2, 0] {
        assert!(
            !store.heartbeat(agent.id, seq, &record, NOW).await.unwrap(),
            "heartbeat {seq}"
        );
    }
    assert!(
        !store
            .heartbeat(agent.id, u64::MAX, &record, NOW)
            .await
            .unwrap()
    );
    assert!(store.heartbeat(agent.id, 101, &record, NOW).await.unwrap());
    // And a submission replay is still refused: the streams do not mix.
    assert!(
        !store
            .ingest(batch(&agent, 2, vec![full(&next)]))
            .await
            .unwrap()
            .applied
    );
    let stored = store.agent(w.a.id, agent.id).await.unwrap().unwrap();
    assert_eq!((stored.last_seq, stored.last_heartbeat_seq), (2, 101));
    assert_eq!(stored.last_applied(Stream::Submissions), 2);
    assert_eq!(stored.last_applied(Stream::Heartbeats), 101);
    // Another tenant's view: not there.
    assert!(store.agent(w.b.id, agent.id).await.unwrap().is_none());
}

async fn heartbeats_store_the_agents_health(store: &SqlStore) {
    let w = world(store).await;
    let agent = active_agent(store, w.a.id).await;
    let fresh = store.agent(w.a.id, agent.id).await.unwrap().unwrap();
    assert_eq!(
        fresh.health,
        AgentHealth::default(),
        "nothing before a heartbeat"
    );
    // Activation is a contact: online for three default intervals.
    assert_eq!(fresh.status(NOW), AgentStatus::Online);
    assert_eq!(fresh.status(NOW + 3 * 300 - 1), AgentStatus::Online);
    assert_eq!(fresh.status(NOW + 3 * 300), AgentStatus::Offline);

    // An agent whose numbers overflow BIGINT and whose texts go on and on:
    // clamped and cut, never an error (the envelope would come back for ever).
    let mut hb = heartbeat("2024-12-31T23:58:30Z");
    hb.agent_version = "v".repeat(10_000);
    hb.os = "o".repeat(10_000);
    hb.hostname = Some("h".repeat(10_000));
    hb.uptime_secs = u64::MAX;
    hb.spool_records = 12;
    hb.spool_bytes = 1 << 40;
    hb.devices = 57;
    hb.heartbeat_every_secs = 60;
    hb.config_version = 3;
    hb.config_error = Some("e".repeat(10_000));
    hb.last_sweep = Some(SweepSummary {
        started_at: "2".repeat(1000),
        duration_ms: 1500,
        addresses: 256,
        printers: u64::MAX,
        failures: 1,
    });
    let at = NOW + 10;
    let record = HeartbeatRecord::new(&hb, at);
    assert!(store.heartbeat(agent.id, 1, &record, at).await.unwrap());
    let stored = store.agent(w.a.id, agent.id).await.unwrap().unwrap();
    assert_eq!(stored.last_seen_at, Some(at));
    assert_eq!(
        stored.agent_version.as_deref().map(str::len),
        Some(MAX_AGENT_VERSION)
    );
    assert_eq!(stored.os.as_deref().map(str::len), Some(MAX_AGENT_OS));
    assert_eq!(
        stored.hostname.as_deref().map(str::len),
        Some(MAX_AGENT_HOSTNAME)
    );
    let h = &stored.health;
    assert_eq!(h.last_heartbeat_at, Some(at));
    assert_eq!(h.uptime_secs, Some(i64::MAX));
    assert_eq!((h.spool_records, h.spool_bytes), (Some(12), Some(1 << 40)));
    assert_eq!(h.devices, Some(57));
    assert_eq!(h.heartbeat_every_secs, Some(60));
    assert_eq!(h.config_in_force, Some(3));
    assert_eq!(
        h.config_error.as_deref().map(str::len),
        Some(MAX_CONFIG_ERROR)
    );
    // Server time minus the agent's sent_at: 90 s behind, plus the 10 s.
    assert_eq!(h.clock_error_secs, Some(100));
    let sweep = h.last_sweep.as_ref().unwrap();
    assert_eq!(sweep.started_at.len(), 64);
    assert_eq!(
        (
            sweep.duration_ms,
            sweep.addresses,
            sweep.printers,
            sweep.failures
        ),
        (1500, 256, i64::MAX, 1)
    );
    assert_eq!(stored.health, record.health, "stored as made");
    // Offline after three of its own intervals.
    assert_eq!(stored.status(at + 179), AgentStatus::Online);
    assert_eq!(stored.status(at + 180), AgentStatus::Offline);
    let view = AgentView::at(stored.clone(), at + 180);
    assert!(!view.online);
    // An interval that overflows does not overflow the rule.
    let mut forever = hb.clone();
    forever.heartbeat_every_secs = u64::MAX;
    forever.sent_at = "not a time".into();
    let record = HeartbeatRecord::new(&forever, at);
    assert_eq!(record.health.clock_error_secs, None);
    assert!(store.heartbeat(agent.id, 2, &record, at).await.unwrap());
    let stored = store.agent(w.a.id, agent.id).await.unwrap().unwrap();
    assert_eq!(stored.status(i64::MAX - 1), AgentStatus::Online);
    // A later heartbeat without a sweep or an error clears them.
    let record = HeartbeatRecord::new(&heartbeat("2025-01-01T00:00:00Z"), at + 20);
    assert!(
        store
            .heartbeat(agent.id, 3, &record, at + 20)
            .await
            .unwrap()
    );
    let stored = store.agent(w.a.id, agent.id).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.health.last_sweep.as_ref(),
            stored.health.config_error.as_ref()
        ),
        (None, None)
    );
    assert_eq!(stored.health.heartbeat_every_secs, Some(0));
    assert_eq!(
        stored.heartbeat_every_secs(),
        DEFAULT_HEARTBEAT_SECS,
        "0: unknown"
    );

    // Pending, revoked, expired.
    let pending = store
        .create_agent(
            NewAgent {
                tenant_id: w.a.id,
                site_id: None,
                name: "pending".into(),
                pin_verifier: None,
                pin_expires_at: 0,
                expires_at: Some(NOW + 100),
            },
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(pending.status(NOW), AgentStatus::Pending);
    assert_eq!(pending.status(NOW + 100), AgentStatus::Expired);
    let mut expiring = stored.clone();
    expiring.expires_at = Some(at + 30);
    assert_eq!(expiring.status(at + 30), AgentStatus::Expired);
    assert!(matches!(
        expiring.refusal(at + 30),
        Some(printwatch_server::ServerError::AgentExpired)
    ));
    assert!(store.revoke_agent(w.a.id, agent.id).await.unwrap());
    let revoked = store.agent(w.a.id, agent.id).await.unwrap().unwrap();
    assert_eq!(revoked.status(at), AgentStatus::Revoked);
    assert!(matches!(
        revoked.refusal(at),
        Some(printwatch_server::ServerError::AgentRevoked)
    ));
    assert!(
        !store.heartbeat(agent.id, 4, &record, at).await.unwrap(),
        "the store checks the state again"
    );
}

async fn pushed_configurations_are_versioned_sealed_and_audited(store: &SqlStore) {
    let w = world(store).await;
    let agent = active_agent(store, w.a.id).await;
    let none = store.agent_config(w.a.id, agent.id).await.unwrap().unwrap();
    assert_eq!((none.version, none.sealed.is_none()), (0, true));
    let entry = |action: &str| NewAudit {
        tenant_id: w.a.id,
        actor: "admin@localhost".into(),
        action: action.into(),
        target: format!("agent {}", agent.id),
        detail: String::new(),
        at: NOW,
    };
    let push = |scope: TenantId, body: &'static [u8], fail: bool| {
        let audit = entry("agent.configure");
        store.set_agent_config_audited(
            scope,
            agent.id,
            Box::new(move |version| {
                if fail {
                    return Err(printwatch_server::ServerError::MasterKey("broken".into()));
                }
                let mut out = body.to_vec();
                out.extend_from_slice(&version.to_be_bytes());
                Ok(out)
            }),
            Box::new(move |version| NewAudit {
                detail: format!("version {version}"),
                ..audit
            }),
            NOW,
        )
    };
    assert_eq!(push(w.a.id, b"one", false).await.unwrap(), Some(1));
    assert_eq!(push(w.provider.id, b"two", false).await.unwrap(), Some(2));
    assert_eq!(push(w.b.id, b"evil", false).await.unwrap(), None, "not B's");
    // Sealing fails: nothing changes, no entry.
    assert!(push(w.a.id, b"three", true).await.is_err());
    let stored = store.agent_config(w.a.id, agent.id).await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.updated_at, Some(NOW));
    let mut expected = b"two".to_vec();
    expected.extend_from_slice(&2i64.to_be_bytes());
    assert_eq!(
        stored.sealed.as_deref(),
        Some(&expected[..]),
        "sealed for its version"
    );
    assert!(
        store
            .agent_config(w.b.id, agent.id)
            .await
            .unwrap()
            .is_none()
    );
    let (row, secrets) = store.agent_with_secrets(agent.id).await.unwrap().unwrap();
    assert_eq!(row.config_version, 2);
    assert_eq!(secrets.config_sealed.as_deref(), Some(&expected[..]));
    assert!(row.config_to_push(0) && row.config_to_push(1) && !row.config_to_push(2));
    let details: Vec<String> = store
        .audit_log(w.a.id, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "agent.configure")
        .map(|e| e.detail)
        .collect();
    assert_eq!(details.len(), 2, "{details:?}");
    assert!(
        details.contains(&"version 1".to_string()) && details.contains(&"version 2".to_string())
    );
    // A revoked agent takes no configuration.
    assert!(store.revoke_agent(w.a.id, agent.id).await.unwrap());
    assert_eq!(push(w.a.id, b"late", false).await.unwrap(), None);
}

async fn a_device_is_its_family_and_serial_not_its_address(store: &SqlStore) {
    let w = world(store).await;
    let one = active_agent(store, w.a.id).await;
    let two = active_agent(store, w.a.id).await;
    store
        .ingest(batch(
            &one,
            1,
            vec![full(&snapshot("E123-4567", "10.0.0.1", 1))],
        ))
        .await
        .unwrap();
    // Later collections (an earlier one would be overtaken).
    store
        .ingest(batch(
            &one,
            2,
            vec![full(&at(
                &snapshot("e1234567", "10.0.0.9", 0),
                "2025-01-01T01:00:00Z",
                2,
            ))],
        ))
        .await
        .unwrap();
    store
        .ingest(batch(
            &two,
            1,
            vec![full(&at(
                &snapshot("E1234567", "10.0.0.2", 0),
                "2025-01-01T02:00:00Z",
                3,
            ))],
        ))
        .await
        .unwrap();
    let devices = store.devices(&all(w.a.id)).await.unwrap();
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert_eq!(devices[0].identity, "ricoh:E1234567");
    assert_eq!(devices[0].target.as_deref(), Some("10.0.0.2"));
    assert_eq!(devices[0].last_agent_id, Some(two.id));
    // The same serial at another customer is another device.
    let other = active_agent(store, w.b.id).await;
    store
        .ingest(batch(
            &other,
            1,
            vec![full(&snapshot("E1234567", "10.0.0.1", 1))],
        ))
        .await
        .unwrap();
    assert_eq!(store.devices(&all(w.provider.id)).await.unwrap().len(), 2);
    // No serial and no MAC: nothing to identify it by, nothing stored.
    let mut anonymous = snapshot("", "10.0.0.3", 1);
    anonymous.serial = None;
    let out = store
        .ingest(batch(&one, 3, vec![full(&anonymous)]))
        .await
        .unwrap();
    assert_eq!((out.devices, out.skipped), (0, 1));
}

async fn meter_resets_are_events_not_negative_usage(store: &SqlStore) {
    let w = world(store).await;
    let agent = active_agent(store, w.a.id).await;
    let mut seq = 0;
    for (day, total) in [(1, 100u64), (2, 150), (3, 150), (4, 20), (5, 50)] {
        seq += 1;
        let mut s = snapshot("S1", "10.0.0.1", total);
        s.collected_at = format!("2025-01-{day:02}T12:00:00Z");
        store
            .ingest(batch(&agent, seq, vec![full(&s)]))
            .await
            .unwrap();
    }
    let device = store.devices(&all(w.a.id)).await.unwrap().remove(0);
    let readings = store
        .meter_readings(w.a.id, device.id, 0, i64::MAX)
        .await
        .unwrap()
        .unwrap();
    let values: Vec<_> = readings.iter().map(|r| (r.value, r.reset)).collect();
    assert_eq!(
        values,
        vec![(100, false), (150, false), (20, true), (50, false)]
    );
    let (from, to) = printwatch_server::ingest::month_bounds("2025-01").unwrap();
    let series = store.meter_series(w.a.id, "total", from, to).await.unwrap();
    assert_eq!(series.len(), 1);
    let (_, base, readings) = &series[0];
    assert_eq!(
        printwatch_server::ingest::usage(*base, readings),
        50 + 20 + 30
    );
    assert!(
        store
            .meter_readings(w.b.id, device.id, 0, i64::MAX)
            .await
            .unwrap()
            .is_none()
    );
}

async fn deltas_apply_to_the_agents_last_state_only(store: &SqlStore) {
    let w = world(store).await;
    let agent = active_agent(store, w.a.id).await;
    let other = active_agent(store, w.a.id).await;
    let old = snapshot("S1", "10.0.0.1", 100);
    let mut new = old.clone();
    new.meters[0].value = 175;
    new.collected_at = "2025-01-02T00:00:00Z".into();
    store
        .ingest(batch(&agent, 1, vec![full(&old)]))
        .await
        .unwrap();
    let identity = old.identity().unwrap();
    let report = |base: String| DeviceReport::Delta {
        identity: identity.clone(),
        base,
        delta: delta::diff(&old, &new).unwrap(),
    };
    // A wrong base, or another agent's delta: ask for a full snapshot.
    let wrong = store
        .ingest(batch(&agent, 2, vec![report("0".repeat(64))]))
        .await
        .unwrap();
    assert_eq!(wrong.resync, vec![identity.clone()]);
    let foreign = store
        .ingest(batch(&other, 1, vec![report(delta::digest(&old).unwrap())]))
        .await
        .unwrap();
    assert_eq!(foreign.resync, vec![identity.clone()]);
    let good = store
        .ingest(batch(&agent, 3, vec![report(delta::digest(&old).unwrap())]))
        .await
        .unwrap();
    assert!(good.resync.is_empty());
    assert_eq!(good.devices, 1);
    let device = store.devices(&all(w.a.id)).await.unwrap().remove(0);
    assert_eq!(
        store
            .device_snapshot(w.a.id, device.id)
            .await
            .unwrap()
            .unwrap(),
        new
    );
}

async fn alerts_open_and_close(store: &SqlStore) {
    let w = world(store).await;
    let agent = active_agent(store, w.a.id).await;
    let alert = |code: &str| Alert {
        severity: "warning".into(),
        group: "marker_supplies".into(),
        code: code.into(),
        description: Some(code.into()),
        location: None,
    };
    let mut s = snapshot("S1", "10.0.0.1", 1);
    s.alerts = vec![alert("toner_low"), alert("jam")];
    store
        .ingest(batch(&agent, 1, vec![full(&s)]))
        .await
        .unwrap();
    s.alerts = vec![alert("toner_low")];
    s.collected_at = "2025-01-01T01:00:00Z".into();
    store
        .ingest(batch(&agent, 2, vec![full(&s)]))
        .await
        .unwrap();
    let device = store.devices(&all(w.a.id)).await.unwrap().remove(0);
    let every = store
        .alerts(w.a.id, device.id, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(every.len(), 2);
    let open = store
        .alerts(w.a.id, device.id, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].code, "toner_low");
    let closed: Vec<_> = every.iter().filter(|a| a.closed_at.is_some()).collect();
    assert_eq!(closed[0].code, "jam");
    assert_eq!(closed[0].closed_at, Some(NOW + 3600));
    assert!(
        store
            .alerts(w.b.id, device.id, false)
            .await
            .unwrap()
            .is_none()
    );
}

async fn sql_metacharacters_are_data(store: &SqlStore) {
    let w = world(store).await;
    let evil = "x'); DROP TABLE devices; -- \" ; $1 ? \\ %_";
    let t = store
        .create_tenant(Some(w.provider.id), TenantKind::Customer, evil, NOW)
        .await
        .unwrap();
    assert_eq!(
        store
            .tenant(w.provider.id, t.id)
            .await
            .unwrap()
            .unwrap()
            .name,
        evil
    );
    let agent = active_agent(store, t.id).await;
    let mut s = snapshot(evil, evil, 1);
    s.location = Some(evil.into());
    store
        .ingest(batch(&agent, 1, vec![full(&s)]))
        .await
        .unwrap();
    let devices = store.devices(&all(t.id)).await.unwrap();
    assert_eq!(devices[0].target.as_deref(), Some(evil));
    assert!(store.user_by_email(evil).await.unwrap().is_none());
    assert!(store.token_by_hash(evil).await.unwrap().is_none());
    assert_eq!(store.tenants(w.provider.id).await.unwrap().len(), 4);
}

async fn deleting_a_tenant_deletes_everything_it_owns(store: &SqlStore) {
    let w = world(store).await;
    let agent = active_agent(store, w.a.id).await;
    store
        .ingest(batch(&agent, 1, vec![full(&snapshot("S1", "10.0.0.1", 1))]))
        .await
        .unwrap();
    let kept = active_agent(store, w.b.id).await;
    store
        .ingest(batch(&kept, 1, vec![full(&snapshot("S1", "10.0.0.1", 1))]))
        .await
        .unwrap();
    store.delete_tenant(w.a.id).await.unwrap();
    assert!(store.agent_with_secrets(agent.id).await.unwrap().is_none());
    let left = store.devices(&all(w.provider.id)).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].tenant_id, w.b.id);
}

async fn device_listing_pages_and_honours_grants(store: &SqlStore) {
    let w = world(store).await;
    let agent = active_agent(store, w.a.id).await;
    let reports = (0..5)
        .map(|i| full(&snapshot(&format!("S{i}"), "10.0.0.1", 1)))
        .collect();
    store.ingest(batch(&agent, 1, reports)).await.unwrap();
    let mut filter = all(w.a.id);
    filter.limit = 2;
    let page1 = store.devices(&filter).await.unwrap();
    filter.after = Some(page1[1].id);
    let page2 = store.devices(&filter).await.unwrap();
    assert_eq!((page1.len(), page2.len()), (2, 2));
    assert!(page2[0].id > page1[1].id);

    let viewer = store
        .create_user(
            NewUser {
                tenant_id: w.a.id,
                email: "v@a".into(),
                password_hash: "x".into(),
                role: Role::Viewer,
            },
            NOW,
        )
        .await
        .unwrap();
    let group = store.create_group(w.a.id, "Floor 1").await.unwrap();
    store.add_to_group(group.id, page1[0].id).await.unwrap();
    store.add_to_group(group.id, page1[0].id).await.unwrap();
    let mut granted = all(w.a.id);
    granted.granted_to = Some(viewer.id);
    assert!(store.devices(&granted).await.unwrap().is_empty());
    store.grant_group(viewer.id, group.id).await.unwrap();
    let seen = store.devices(&granted).await.unwrap();
    assert_eq!(
        seen.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![page1[0].id]
    );
    assert_eq!(store.groups(w.b.id).await.unwrap(), vec![]);
}

/// The portal's filters and counts: condition and supply need are kept
/// with each device at its report; text matches serial, model, vendor,
/// address and identity, its wildcards taken literally; grants and
/// tenants hold as in the plain list.
async fn devices_filter_and_count_by_condition_supply_and_text(store: &SqlStore) {
    use printwatch_server::ingest::{Condition, SupplyNeed};
    let w = world(store).await;
    let agent = active_agent(store, w.a.id).await;
    let mut jammed = snapshot("JAM1", "10.0.0.1", 1);
    jammed.status.device = Some("down".into());
    jammed.status.errors = vec!["jammed".into()];
    let mut low = snapshot("LOW_2", "10.0.0.2", 1);
    low.status.device = Some("running".into());
    low.supplies[0].percent = Some(3.0);
    let mut empty = snapshot("EMPTY3", "10.0.0.3", 1);
    empty.status.device = Some("warning".into());
    empty.status.errors = vec!["low_toner".into()];
    empty.supplies[0].state = "empty".into();
    empty.model = Some("VersaLink 100%".into());
    let mut fine = snapshot("OK4", "10.0.9.4", 1);
    fine.status.device = Some("running".into());
    let reports = [&jammed, &low, &empty, &fine].map(full).to_vec();
    store.ingest(batch(&agent, 1, reports)).await.unwrap();
    // Customer B's device counts for nobody in A.
    let other = active_agent(store, w.b.id).await;
    store
        .ingest(batch(&other, 1, vec![full(&snapshot("B1", "10.0.0.9", 1))]))
        .await
        .unwrap();

    let serials = |devices: Vec<Device>| -> Vec<String> {
        let mut serials: Vec<String> = devices.into_iter().filter_map(|d| d.serial).collect();
        serials.sort();
        serials
    };
    let mut f = all(w.a.id);
    f.only.condition = Some(Condition::Error);
    assert_eq!(serials(store.devices(&f).await.unwrap()), ["JAM1"]);
    let mut f = all(w.a.id);
    f.only.supply = Some(SupplyNeed::Low);
    assert_eq!(
        serials(store.devices(&f).await.unwrap()),
        ["EMPTY3", "LOW_2"]
    );
    let mut f = all(w.a.id);
    f.only.supply = Some(SupplyNeed::Empty);
    assert_eq!(serials(store.devices(&f).await.unwrap()), ["EMPTY3"]);
    for (text, expected) in [
        ("jam1", vec!["JAM1"]),
        ("10.0.9", vec!["OK4"]),
        ("low_", vec!["LOW_2"]),
        ("_", vec!["LOW_2"]),
        ("100%", vec!["EMPTY3"]),
        ("%", vec!["EMPTY3"]),
        ("ricoh", vec!["EMPTY3", "JAM1", "LOW_2", "OK4"]),
        ("B1", vec![]),
    ] {
        let mut f = all(w.a.id);
        f.only.text = Some(text.into());
        assert_eq!(
            serials(store.devices(&f).await.unwrap()),
            expected,
            "{text:?}"
        );
    }
    let devices = store.devices(&all(w.a.id)).await.unwrap();
    let by_serial = |serial: &str| devices.iter().find(|d| d.serial.as_deref() == Some(serial));
    assert_eq!(
        by_serial("JAM1").map(|d| d.condition),
        Some(Condition::Error)
    );
    assert_eq!(
        by_serial("EMPTY3").map(|d| d.supply_need),
        Some(SupplyNeed::Empty)
    );
    assert_eq!(
        by_serial("OK4").map(|d| (d.condition, d.supply_need)),
        Some((Condition::Ok, SupplyNeed::Ok))
    );

    let counts = store.device_counts(&all(w.a.id), NOW).await.unwrap();
    assert_eq!(
        (
            counts.total,
            counts.error,
            counts.warning,
            counts.ok,
            counts.unknown
        ),
        (4, 1, 1, 2, 0)
    );
    assert_eq!((counts.supply_low, counts.supply_empty), (1, 1));
    let all_silent = store.device_counts(&all(w.a.id), i64::MAX).await.unwrap();
    assert_eq!((counts.silent, all_silent.silent), (0, 4));
    let provider = store.device_counts(&all(w.provider.id), NOW).await.unwrap();
    assert_eq!(provider.total, 5);
    let alerts = store.open_alert_counts(&all(w.b.id)).await.unwrap();
    assert!(alerts.is_empty(), "{alerts:?}");
}

async fn the_audit_log_is_scoped(store: &SqlStore) {
    let w = world(store).await;
    for (tenant, action) in [(w.a.id, "agent.create"), (w.b.id, "user.create")] {
        store
            .audit(NewAudit {
                tenant_id: tenant,
                actor: "admin@dealer".into(),
                action: action.into(),
                target: "x".into(),
                detail: String::new(),
                at: NOW,
            })
            .await
            .unwrap();
    }
    let a = store.audit_log(w.a.id, 10).await.unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].action, "agent.create");
    assert_eq!(store.audit_log(w.provider.id, 10).await.unwrap().len(), 2);
    assert_eq!(store.audit_log(w.provider.id, 1).await.unwrap().len(), 1);
}

async fn totp_steps_are_used_once(store: &SqlStore) {
    let w = world(store).await;
    let user = store
        .create_user(
            NewUser {
                tenant_id: w.a.id,
                email: "t@a".into(),
                password_hash: "x".into(),
                role: Role::Viewer,
            },
            NOW,
        )
        .await
        .unwrap();
    let fresh = store.totp_state(user.id).await.unwrap().unwrap();
    assert!(fresh.sealed.is_none() && fresh.pending.is_none());
    assert!(
        !store.confirm_totp(user.id, 10).await.unwrap(),
        "nothing pending"
    );
    store.set_totp_pending(user.id, &[1, 2, 3]).await.unwrap();
    assert!(store.confirm_totp(user.id, 10).await.unwrap());
    let on = store.totp_state(user.id).await.unwrap().unwrap();
    assert_eq!(
        (on.sealed.as_deref(), on.pending, on.last_step),
        (Some(&[1u8, 2, 3][..]), None, 10)
    );
    assert!(!store.use_totp_step(user.id, 10).await.unwrap(), "replay");
    assert!(!store.use_totp_step(user.id, 9).await.unwrap(), "older");
    assert!(store.use_totp_step(user.id, 11).await.unwrap());
    assert!(store.totp_state(UserId(999_999)).await.unwrap().is_none());
}

fn delta_report(old: &Snapshot, new: &Snapshot) -> DeviceReport {
    DeviceReport::Delta {
        identity: old.identity().unwrap(),
        base: delta::digest(old).unwrap(),
        delta: delta::diff(old, new).unwrap(),
    }
}

fn values(readings: &[MeterReading]) -> Vec<(i64, bool)> {
    readings.iter().map(|r| (r.value, r.reset)).collect()
}

async fn reports_of_one_device_in_one_envelope_apply_in_order(store: &SqlStore) {
    let w = world(store).await;
    let agent = active_agent(store, w.a.id).await;
    // New device: a full snapshot, a delta on it, a reset, in one envelope.
    let first = snapshot("S1", "10.0.0.1", 100);
    let mut second = first.clone();
    second.meters[0].value = 150;
    second.collected_at = "2025-01-01T01:00:00Z".into();
    let mut third = second.clone();
    third.meters[0].value = 20;
    third.target = "10.0.0.7".into();
    third.collected_at = "2025-01-01T02:00:00Z".into();
    let out = store
        .ingest(batch(
            &agent,
            1,
            vec![full(&first), delta_report(&first, &second), full(&third)],
        ))
        .await
        .unwrap();
    assert_eq!((out.devices, out.resync.len()), (3, 0), "{out:?}");
    let devices = store.devices(&all(w.a.id)).await.unwrap();
    assert_eq!(devices.len(), 1);
    let d = &devices[0];
    assert_eq!((d.first_seen, d.last_seen), (NOW, NOW + 7200));
    assert_eq!(d.target.as_deref(), Some("10.0.0.7"));
    let readings = store
        .meter_readings(w.a.id, d.id, 0, i64::MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        values(&readings),
        vec![(100, false), (150, false), (20, true)]
    );
    // The agent's base is the last state of the envelope: a delta on an
    // earlier one asks for a resync, one on the last applies.
    let mut fourth = third.clone();
    fourth.meters[0].value = 30;
    fourth.collected_at = "2025-01-01T03:00:00Z".into();
    let stale = store
        .ingest(batch(&agent, 2, vec![delta_report(&second, &fourth)]))
        .await
        .unwrap();
    assert_eq!(stale.resync, vec![first.identity().unwrap()]);
    let good = store
        .ingest(batch(&agent, 3, vec![delta_report(&third, &fourth)]))
        .await
        .unwrap();
    assert_eq!((good.devices, good.resync.len()), (1, 0));
    assert_eq!(
        store.device_snapshot(w.a.id, d.id).await.unwrap().unwrap(),
        fourth
    );
    // The same device twice in one envelope with the same meters: one reading.
    let mut fifth = fourth.clone();
    fifth.collected_at = "2025-01-01T04:00:00Z".into();
    store
        .ingest(batch(&agent, 4, vec![full(&fifth), full(&fifth)]))
        .await
        .unwrap();
    let readings = store
        .meter_readings(w.a.id, d.id, 0, i64::MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(readings.len(), 4);
    // An alert opened and closed within one envelope stays closed.
    let mut alerting = fifth.clone();
    alerting.alerts = vec![Alert {
        severity: "critical".into(),
        group: "input".into(),
        code: "jam".into(),
        description: None,
        location: None,
    }];
    alerting.collected_at = "2025-01-01T05:00:00Z".into();
    let mut cleared = fifth.clone();
    cleared.collected_at = "2025-01-01T06:00:00Z".into();
    store
        .ingest(batch(&agent, 5, vec![full(&alerting), full(&cleared)]))
        .await
        .unwrap();
    let alerts = store.alerts(w.a.id, d.id, false).await.unwrap().unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        (alerts[0].opened_at, alerts[0].closed_at),
        (NOW + 5 * 3600, Some(NOW + 6 * 3600))
    );
}

async fn a_new_device_and_a_known_one_in_one_envelope(store: &SqlStore) {
    let w = world(store).await;
    let agent = active_agent(store, w.a.id).await;
    let other = active_agent(store, w.a.id).await;
    let known = snapshot("K1", "10.0.0.1", 100);
    store
        .ingest(batch(&agent, 1, vec![full(&known)]))
        .await
        .unwrap();
    let mut moved = known.clone();
    moved.meters[0].value = 120;
    moved.collected_at = "2025-01-02T00:00:00Z".into();
    let fresh = snapshot("N1", "10.0.0.2", 7);
    let mut anonymous = snapshot("", "10.0.0.3", 1);
    anonymous.serial = None;
    // Another agent sees the known device too: one device, with its own base.
    let out = store
        .ingest(batch(
            &other,
            1,
            vec![full(&fresh), full(&moved), full(&anonymous)],
        ))
        .await
        .unwrap();
    assert_eq!((out.devices, out.skipped), (2, 1));
    let devices = store.devices(&all(w.a.id)).await.unwrap();
    assert_eq!(devices.len(), 2, "{devices:?}");
    let by_serial = |serial: &str| {
        devices
            .iter()
            .find(|d| d.serial.as_deref() == Some(serial))
            .unwrap()
            .clone()
    };
    let k = by_serial("K1");
    assert_eq!(k.last_agent_id, Some(other.id));
    assert_eq!(k.first_seen, NOW);
    let n = by_serial("N1");
    for (device, expected) in [
        (&k, vec![(100, false), (120, false)]),
        (&n, vec![(7, false)]),
    ] {
        let readings = store
            .meter_readings(w.a.id, device.id, 0, i64::MAX)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(values(&readings), expected, "{}", device.identity);
    }
    // The first agent's base is still its own last state; a delta on it,
    // a delta with a wrong base and a new device in one envelope.
    let mut later = known.clone();
    later.meters[0].value = 130;
    later.collected_at = "2025-01-03T00:00:00Z".into();
    let mut wrong = delta_report(&fresh, &fresh);
    if let DeviceReport::Delta { base, .. } = &mut wrong {
        *base = "0".repeat(64);
    }
    let out = store
        .ingest(batch(
            &agent,
            2,
            vec![
                delta_report(&known, &later),
                wrong,
                full(&snapshot("N2", "10.0.0.4", 1)),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(out.devices, 2);
    assert_eq!(out.resync, vec![fresh.identity().unwrap()]);
    assert_eq!(store.devices(&all(w.a.id)).await.unwrap().len(), 3);
    assert_eq!(
        store.device_snapshot(w.a.id, k.id).await.unwrap().unwrap(),
        later
    );
}

async fn a_failing_envelope_stores_nothing_and_keeps_its_sequence(store: &SqlStore) {
    let w = world(store).await;
    let agent = active_agent(store, w.a.id).await;
    let known = snapshot("K1", "10.0.0.1", 100);
    store
        .ingest(batch(&agent, 1, vec![full(&known)]))
        .await
        .unwrap();
    let mut moved = known.clone();
    moved.meters[0].value = 150;
    moved.collected_at = "2025-01-02T00:00:00Z".into();
    let reports = vec![
        delta_report(&known, &moved),
        full(&snapshot("N1", "10.0.0.2", 5)),
    ];
    // A site that does not exist: the device rows break a foreign key.
    let mut failing = batch(&agent, 2, reports.clone());
    failing.site_id = Some(SiteId(i64::MAX));
    assert!(store.ingest(failing).await.is_err());
    let after = store.agent(w.a.id, agent.id).await.unwrap().unwrap();
    assert_eq!(after.last_seq, 1, "the sequence number is not consumed");
    let devices = store.devices(&all(w.a.id)).await.unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(
        store
            .device_snapshot(w.a.id, devices[0].id)
            .await
            .unwrap()
            .unwrap(),
        known
    );
    let readings = store
        .meter_readings(w.a.id, devices[0].id, 0, i64::MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(readings.len(), 1);
    // The agent sends it again: applied once, whole.
    let out = store
        .ingest(batch(&agent, 2, reports.clone()))
        .await
        .unwrap();
    assert!(out.applied);
    assert_eq!((out.devices, out.resync.len()), (2, 0));
    assert!(
        !store
            .ingest(batch(&agent, 2, reports))
            .await
            .unwrap()
            .applied
    );
    assert_eq!(store.devices(&all(w.a.id)).await.unwrap().len(), 2);
    let readings = store
        .meter_readings(w.a.id, devices[0].id, 0, i64::MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(values(&readings), vec![(100, false), (150, false)]);
}

async fn envelopes_larger_than_one_statement(store: &SqlStore) {
    // More rows than one statement's bound parameters allow: split, all stored.
    let w = world(store).await;
    let agent = active_agent(store, w.a.id).await;
    let states: Vec<Snapshot> = (0..1500)
        .map(|i| snapshot(&format!("L{i:05}"), "10.0.0.1", i))
        .collect();
    let out = store
        .ingest(batch(&agent, 1, states.iter().map(full).collect()))
        .await
        .unwrap();
    assert_eq!(out.devices, 1500);
    let reports = states
        .iter()
        .map(|old| {
            let mut new = old.clone();
            new.meters[0].value += 1;
            new.supplies[0].percent = Some(40.0);
            new.collected_at = "2025-01-01T01:00:00Z".into();
            delta_report(old, &new)
        })
        .collect();
    let out = store.ingest(batch(&agent, 2, reports)).await.unwrap();
    assert_eq!((out.devices, out.resync.len()), (1500, 0));
    let devices = store
        .devices(&DeviceFilter {
            limit: 2000,
            only: Default::default(),
            ..all(w.a.id)
        })
        .await
        .unwrap();
    assert_eq!(devices.len(), 1500);
    let last = devices.last().unwrap();
    let readings = store
        .meter_readings(w.a.id, last.id, 0, i64::MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(readings.len(), 2);
    let supplies = store
        .supply_readings(w.a.id, last.id, 0, i64::MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(supplies.len(), 2);
}

fn at(s: &Snapshot, collected_at: &str, total: u64) -> Snapshot {
    let mut s = s.clone();
    s.collected_at = collected_at.into();
    s.meters[0].value = total;
    s
}

async fn january_pages(store: &SqlStore, scope: TenantId) -> u64 {
    let (from, to) = printwatch_server::ingest::month_bounds("2025-01").unwrap();
    let series = store.meter_series(scope, "total", from, to).await.unwrap();
    assert_eq!(series.len(), 1);
    let (_, base, readings) = &series[0];
    printwatch_server::ingest::usage(*base, readings)
}

async fn overtaken_reports_do_not_move_meters_back(store: &SqlStore) {
    let w = world(store).await;
    let one = active_agent(store, w.a.id).await;
    let two = active_agent(store, w.a.id).await;
    let s = snapshot("S1", "10.0.0.1", 0);
    for (seq, time, total) in [
        (1, "2024-12-31T12:00:00Z", 900),
        (2, "2025-01-05T12:00:00Z", 1000),
        (3, "2025-01-10T12:00:00Z", 1100),
    ] {
        store
            .ingest(batch(&one, seq, vec![full(&at(&s, time, total))]))
            .await
            .unwrap();
    }
    assert_eq!(january_pages(store, w.a.id).await, 200);
    // The second agent's spool delivers a reading collected in between.
    let mut late = at(&s, "2025-01-07T12:00:00Z", 1050);
    late.target = "10.0.0.99".into();
    let out = store
        .ingest(batch(&two, 1, vec![full(&late)]))
        .await
        .unwrap();
    assert!(out.applied);
    assert_eq!(january_pages(store, w.a.id).await, 200, "not a reset");
    let d = store.devices(&all(w.a.id)).await.unwrap().remove(0);
    assert_eq!(d.target.as_deref(), Some("10.0.0.1"));
    assert_eq!(d.last_agent_id, Some(one.id));
    assert_eq!(
        d.last_seen,
        printwatch_server::ingest::parse_time("2025-01-10T12:00:00Z").unwrap()
    );
    let current = store.device_snapshot(w.a.id, d.id).await.unwrap().unwrap();
    assert_eq!(
        current.meters[0].value, 1100,
        "the snapshot stays the newest"
    );
    let readings = store
        .meter_readings(w.a.id, d.id, 0, i64::MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        values(&readings),
        vec![(900, false), (1000, false), (1100, false)]
    );
    // Same time as the newest: overtaken too.
    let same = at(&s, "2025-01-10T12:00:00Z", 1090);
    store
        .ingest(batch(&two, 2, vec![full(&same)]))
        .await
        .unwrap();
    assert_eq!(january_pages(store, w.a.id).await, 200);
    // The second agent's base did advance: its next delta applies.
    let next = at(&late, "2025-01-12T12:00:00Z", 1200);
    let out = store
        .ingest(batch(&two, 3, vec![delta_report(&same, &next)]))
        .await
        .unwrap();
    assert_eq!((out.devices, out.resync.len()), (1, 0), "{out:?}");
    assert_eq!(january_pages(store, w.a.id).await, 300);
    let d = store.devices(&all(w.a.id)).await.unwrap().remove(0);
    assert_eq!(d.target.as_deref(), Some("10.0.0.99"));
    assert_eq!(d.last_agent_id, Some(two.id));
    // A lower counter that is newer is a reset; within one envelope, a
    // report older than the one before it is overtaken as well.
    let reset = at(&next, "2025-01-15T12:00:00Z", 30);
    let older = at(&next, "2025-01-14T12:00:00Z", 1250);
    store
        .ingest(batch(&one, 4, vec![full(&reset), full(&older)]))
        .await
        .unwrap();
    let readings = store
        .meter_readings(w.a.id, d.id, 0, i64::MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        values(&readings),
        vec![
            (900, false),
            (1000, false),
            (1100, false),
            (1200, false),
            (30, true)
        ]
    );
    assert_eq!(january_pages(store, w.a.id).await, 330);
    let current = store.device_snapshot(w.a.id, d.id).await.unwrap().unwrap();
    assert_eq!(current, reset);
}

fn mac_only(mac: &str, target: &str, time: &str, total: u64) -> Snapshot {
    let mut s = at(&snapshot("", target, 0), time, total);
    s.serial = None;
    s.mac = Some(mac.into());
    s
}

async fn a_device_without_serial_is_its_mac(store: &SqlStore) {
    let w = world(store).await;
    let one = active_agent(store, w.a.id).await;
    let two = active_agent(store, w.a.id).await;
    let mac = "00:11:22:33:44:55";
    store
        .ingest(batch(
            &one,
            1,
            vec![full(&mac_only(mac, "10.0.0.1", "2025-01-02T00:00:00Z", 10))],
        ))
        .await
        .unwrap();
    // Another address, another agent: the same device.
    store
        .ingest(batch(
            &two,
            1,
            vec![full(&mac_only(mac, "10.0.0.2", "2025-01-03T00:00:00Z", 20))],
        ))
        .await
        .unwrap();
    // Another MAC is another device.
    store
        .ingest(batch(
            &two,
            2,
            vec![full(&mac_only(
                "00:11:22:33:44:66",
                "10.0.0.3",
                "2025-01-03T00:00:00Z",
                5,
            ))],
        ))
        .await
        .unwrap();
    let devices = store.devices(&all(w.a.id)).await.unwrap();
    assert_eq!(devices.len(), 2, "{devices:?}");
    let d = devices
        .iter()
        .find(|d| d.mac.as_deref() == Some(mac))
        .unwrap();
    assert_eq!(d.identity, format!("mac:{mac}"));
    assert_eq!(d.serial, None);
    assert_eq!(d.target.as_deref(), Some("10.0.0.2"));
    let readings = store
        .meter_readings(w.a.id, d.id, 0, i64::MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(values(&readings), vec![(10, false), (20, false)]);
}

/// The reverse: a device stored under its serial whose serial could not be
/// read in one collection (the MAC could) is still that device; a MAC two
/// devices share names neither.
async fn a_serial_not_read_once_keeps_the_device_known_by_it(store: &SqlStore) {
    let w = world(store).await;
    let agent = active_agent(store, w.a.id).await;
    let mac = "00:11:22:33:44:99";
    let mut first = mac_only(mac, "10.0.0.1", "2025-01-02T00:00:00Z", 100);
    first.serial = Some("G1".into());
    store
        .ingest(batch(&agent, 1, vec![full(&first)]))
        .await
        .unwrap();
    let known = store.devices(&all(w.a.id)).await.unwrap().remove(0);
    assert_eq!(known.identity, "ricoh:G1");
    let no_serial = mac_only(mac, "10.0.0.1", "2025-01-03T00:00:00Z", 150);
    store
        .ingest(batch(&agent, 2, vec![full(&no_serial)]))
        .await
        .unwrap();
    let devices = store.devices(&all(w.a.id)).await.unwrap();
    assert_eq!(devices.len(), 1, "{devices:?}");
    let readings = store
        .meter_readings(w.a.id, known.id, 0, i64::MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(values(&readings), vec![(100, false), (150, false)]);
    // The serial back: still the one device.
    let back = at(&first, "2025-01-04T00:00:00Z", 170);
    store
        .ingest(batch(&agent, 3, vec![full(&back)]))
        .await
        .unwrap();
    assert_eq!(store.devices(&all(w.a.id)).await.unwrap().len(), 1);
    // Two devices with one MAC (a print server moved): a report without a
    // serial cannot be told apart, and is a device of its own.
    let mut twin = mac_only(mac, "10.0.0.2", "2025-01-04T00:00:00Z", 5);
    twin.serial = Some("G2".into());
    store
        .ingest(batch(&agent, 4, vec![full(&twin)]))
        .await
        .unwrap();
    let lost = mac_only(mac, "10.0.0.3", "2025-01-05T00:00:00Z", 7);
    store
        .ingest(batch(&agent, 5, vec![full(&lost)]))
        .await
        .unwrap();
    let devices = store.devices(&all(w.a.id)).await.unwrap();
    assert_eq!(devices.len(), 3, "{devices:?}");
    assert!(devices.iter().any(|d| d.identity == format!("mac:{mac}")));
}

async fn a_serial_showing_up_keeps_the_device_known_by_its_mac(store: &SqlStore) {
    let w = world(store).await;
    let agent = active_agent(store, w.a.id).await;
    let other = active_agent(store, w.a.id).await;
    let mac = "00:11:22:33:44:55";
    let first = mac_only(mac, "10.0.0.1", "2025-01-02T00:00:00Z", 100);
    store
        .ingest(batch(&agent, 1, vec![full(&first)]))
        .await
        .unwrap();
    let known = store.devices(&all(w.a.id)).await.unwrap().remove(0);
    // The serial can be read now (a firmware update, a slow agent before).
    let mut with_serial = at(&first, "2025-01-03T00:00:00Z", 150);
    with_serial.serial = Some("E123-4567".into());
    let out = store
        .ingest(batch(&agent, 2, vec![full(&with_serial)]))
        .await
        .unwrap();
    assert_eq!((out.devices, out.resync.len()), (1, 0));
    let devices = store.devices(&all(w.a.id)).await.unwrap();
    assert_eq!(devices.len(), 1, "{devices:?}");
    let d = &devices[0];
    assert_eq!(d.id, known.id);
    assert_eq!(d.identity, "ricoh:E1234567");
    assert_eq!(d.serial.as_deref(), Some("E123-4567"));
    assert_eq!(d.first_seen, known.first_seen);
    // From now on family and serial identify it, MAC or not, any agent;
    // deltas go on against the agent's base.
    let mut no_mac = at(&with_serial, "2025-01-04T00:00:00Z", 170);
    no_mac.mac = None;
    no_mac.target = "10.0.0.9".into();
    store
        .ingest(batch(&other, 1, vec![full(&no_mac)]))
        .await
        .unwrap();
    let next = at(&with_serial, "2025-01-05T00:00:00Z", 200);
    let out = store
        .ingest(batch(&agent, 3, vec![delta_report(&with_serial, &next)]))
        .await
        .unwrap();
    assert_eq!((out.devices, out.resync.len()), (1, 0), "{out:?}");
    let devices = store.devices(&all(w.a.id)).await.unwrap();
    assert_eq!(devices.len(), 1, "{devices:?}");
    let readings = store
        .meter_readings(w.a.id, known.id, 0, i64::MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        values(&readings),
        vec![(100, false), (150, false), (170, false), (200, false)]
    );
    // Both in one envelope, for a device not stored yet: one device.
    let mac2 = "00:11:22:33:44:77";
    let fresh = mac_only(mac2, "10.0.0.5", "2025-01-02T00:00:00Z", 1);
    let mut fresh_serial = at(&fresh, "2025-01-03T00:00:00Z", 2);
    fresh_serial.serial = Some("F1".into());
    store
        .ingest(batch(&agent, 4, vec![full(&fresh), full(&fresh_serial)]))
        .await
        .unwrap();
    let devices = store.devices(&all(w.a.id)).await.unwrap();
    assert_eq!(devices.len(), 2, "{devices:?}");
    let f = devices
        .iter()
        .find(|d| d.mac.as_deref() == Some(mac2))
        .unwrap();
    assert_eq!(f.identity, "ricoh:F1");
    let readings = store
        .meter_readings(w.a.id, f.id, 0, i64::MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(values(&readings), vec![(1, false), (2, false)]);
    // A device stored under that serial already is not merged with another
    // known by the MAC: the report goes to the serial's device.
    let mac3 = "00:11:22:33:44:88";
    store
        .ingest(batch(
            &agent,
            5,
            vec![full(&mac_only(mac3, "10.0.0.6", "2025-01-02T00:00:00Z", 1))],
        ))
        .await
        .unwrap();
    let mut clash = mac_only(mac3, "10.0.0.6", "2025-01-06T00:00:00Z", 3);
    clash.serial = Some("F1".into());
    store
        .ingest(batch(&agent, 6, vec![full(&clash)]))
        .await
        .unwrap();
    let devices = store.devices(&all(w.a.id)).await.unwrap();
    assert_eq!(devices.len(), 3, "{devices:?}");
    assert!(devices.iter().any(|d| d.identity == format!("mac:{mac3}")));
}

// An agent whose clock says 2100: its report is stored at its arrival
// (with a warning), and the next correct report still moves the meters.
async fn a_clock_in_the_future_does_not_freeze_a_device(store: &SqlStore) {
    use printwatch_server::ingest::{format_time, parse_time};
    let w = world(store).await;
    let agent = active_agent(store, w.a.id).await;
    let s = snapshot("S1", "10.0.0.1", 0);
    let future = at(&s, "2100-01-01T00:00:00Z", 1000);
    let mut first = batch(&agent, 1, vec![full(&future)]);
    first.now = NOW;
    store.ingest(first).await.unwrap();
    let d = store.devices(&all(w.a.id)).await.unwrap().remove(0);
    assert_eq!(d.last_seen, NOW, "stored at its arrival, not in 2100");
    let current = store.device_snapshot(w.a.id, d.id).await.unwrap().unwrap();
    assert_eq!(current.collected_at, format_time(NOW));
    assert!(
        current
            .warnings
            .iter()
            .any(|w| w.contains("ahead of the server's clock")),
        "{:?}",
        current.warnings
    );
    // A clock a little ahead (within the allowed skew) is believed.
    let mut later = batch(
        &agent,
        2,
        vec![delta_report(
            &future,
            &at(&s, &format_time(NOW + 3_600 + 60), 1100),
        )],
    );
    later.now = NOW + 3_600;
    let out = store.ingest(later).await.unwrap();
    assert_eq!(
        (out.devices, out.resync.len()),
        (1, 0),
        "the delta base is what the agent sent: {out:?}"
    );
    let readings = store
        .meter_readings(w.a.id, d.id, 0, i64::MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(values(&readings), vec![(1000, false), (1100, false)]);
    let d = store.devices(&all(w.a.id)).await.unwrap().remove(0);
    assert_eq!(d.last_seen, parse_time(&format_time(NOW + 3_660)).unwrap());
}
