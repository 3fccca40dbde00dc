//! The SNMP layer (printwatch-snmp) against the simulator, in process: the
//! engine's behaviours we rely on (GETBULK walks, GETNEXT for v1, tooBig
//! recovery, walks stopped on non-increasing OIDs, named v3 failures) and the
//! simulator's faults. Interoperability with net-snmp and snmpsim is tested
//! in crates/cli/tests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use printwatch_sim::faults::Faults;
use printwatch_sim::{DevicePlan, Simulator};
use printwatch_snmp::credentials::{CommunityVersion, UsmCredentials};
use printwatch_snmp::{
    AuthProtocol, Credentials, Oid, Poller, PrivProtocol, Secret, SnmpEngine, SnmpError,
    SnmpOptions, V3Failure, Value, VarBind, snmprec,
};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/recordings/acme-laser.snmprec")
}

fn expected() -> Vec<VarBind> {
    let recording = snmprec::read_file(&fixture()).expect("fixture readable");
    assert!(recording.problems.is_empty(), "{:?}", recording.problems);
    let mut records = recording.records;
    records.sort_by(|a, b| a.oid.cmp(&b.oid));
    records
}

fn user(auth: AuthProtocol, privacy: Option<PrivProtocol>) -> Credentials {
    Credentials::Usm(UsmCredentials {
        user: format!(
            "u-{auth}-{}",
            privacy.map(|p| p.to_string()).unwrap_or_default()
        ),
        auth: Some((auth, Secret::new("authpassword"))),
        privacy: privacy.map(|p| (p, Secret::new("privpassword"))),
        context: String::new(),
    })
}

fn v3_users() -> Vec<Credentials> {
    vec![
        user(AuthProtocol::Md5, Some(PrivProtocol::Des)),
        user(AuthProtocol::Sha1, Some(PrivProtocol::Aes128)),
        user(AuthProtocol::Sha224, None),
        user(AuthProtocol::Sha256, Some(PrivProtocol::Aes256)),
        user(AuthProtocol::Sha384, Some(PrivProtocol::Aes192)),
        user(AuthProtocol::Sha512, Some(PrivProtocol::Aes256)),
    ]
}

/// Each test gets its own 127.77.N.0/24 so tests run in parallel.
async fn serve(net: u8, faults: Faults) -> (Simulator, SocketAddr) {
    let address: SocketAddr = format!("127.77.{net}.1:16161").parse().expect("valid");
    let plan = DevicePlan {
        addresses: vec![address],
        recording: fixture(),
        communities: None,
        v3_users: v3_users(),
        unique: false,
        faults,
    };
    let sim = Simulator::start(&[plan]).await.expect("simulator starts");
    (sim, address)
}

fn options(timeout_ms: u64, retries: u32) -> SnmpOptions {
    SnmpOptions {
        timeout: Duration::from_millis(timeout_ms),
        retries,
        ..SnmpOptions::default()
    }
}

#[tokio::test]
async fn walks_return_the_recording_for_every_version_and_protocol() {
    let (_sim, address) = serve(1, Faults::default()).await;
    let engine = SnmpEngine::new(None);
    let mut all = vec![
        Credentials::v1("public"),
        Credentials::v2c("public"),
        Credentials::v2c("acme-laser"),
    ];
    all.extend(v3_users());
    let want = expected();
    for credentials in &all {
        let session = engine
            .session(address, credentials, &options(1000, 1))
            .await
            .expect("session");
        let got = session.walk_all().await.unwrap_or_else(|e| {
            panic!("{}: {e}", credentials.describe());
        });
        // SNMPv1 cannot carry Counter64 (RFC 2576 §4.1.2.1): the agent skips it.
        let want: Vec<&VarBind> = want
            .iter()
            .filter(|vb| {
                !(matches!(
                    credentials,
                    Credentials::Community {
                        version: CommunityVersion::V1,
                        ..
                    }
                ) && matches!(vb.value, Value::Counter64(_)))
            })
            .collect();
        let got: Vec<&VarBind> = got.iter().collect();
        assert_eq!(got, want, "{}", credentials.describe());
    }
}

#[tokio::test]
async fn get_many_in_one_pdu_with_missing_objects() {
    let (_sim, address) = serve(2, Faults::default()).await;
    let engine = SnmpEngine::new(None);
    let wanted: Vec<Oid> = expected()
        .iter()
        .take(40)
        .map(|vb| vb.oid.clone())
        .collect();
    let missing: Oid = "1.3.6.1.2.1.43.5.1.1.17.99".parse().expect("valid");
    let mut ask = wanted.clone();
    ask.push(missing.clone());
    for credentials in [Credentials::v2c("public"), Credentials::v1("public")] {
        let session = engine
            .session(address, &credentials, &options(1000, 1))
            .await
            .expect("session");
        let got = session.get(&ask).await.expect("get");
        assert_eq!(got.len(), ask.len(), "{}", credentials.describe());
        let absent = got
            .iter()
            .find(|vb| vb.oid == missing)
            .expect("missing reported");
        assert!(absent.value.is_exception(), "{:?}", absent.value);
        for vb in got.iter().filter(|vb| vb.oid != missing) {
            assert!(!vb.value.is_exception(), "{vb:?}");
        }
    }
}

#[tokio::test]
async fn too_big_is_recovered_by_smaller_requests() {
    let faults = Faults {
        max_message_size: Some(484),
        ..Faults::default()
    };
    let (_sim, address) = serve(3, faults).await;
    let engine = SnmpEngine::new(None);
    let session = engine
        .session(
            address,
            &Credentials::v2c("public"),
            &SnmpOptions {
                max_repetitions: 50,
                ..options(1000, 1)
            },
        )
        .await
        .expect("session");
    assert_eq!(session.walk_all().await.expect("walk"), expected());
    let all: Vec<Oid> = expected().iter().map(|vb| vb.oid.clone()).collect();
    let got = session.get(&all).await.expect("get of every object");
    assert_eq!(got, expected());
}

#[tokio::test]
async fn loss_is_survived_with_retries_and_silence_is_a_timeout() {
    let lossy = Faults {
        loss: 0.5,
        ..Faults::default()
    };
    let (_sim, address) = serve(4, lossy).await;
    let engine = SnmpEngine::new(None);
    let session = engine
        .session(address, &Credentials::v2c("public"), &options(200, 2))
        .await
        .expect("session");
    assert_eq!(
        session.walk_all().await.expect("walk despite loss"),
        expected()
    );

    let silent = Faults {
        silent: true,
        ..Faults::default()
    };
    let (_sim2, quiet) = serve(5, silent).await;
    let session = engine
        .session(quiet, &Credentials::v2c("public"), &options(100, 1))
        .await
        .expect("session");
    let err = session.walk_all().await.expect_err("silent host");
    assert!(err.is_timeout(), "{err}");
}

#[tokio::test]
async fn delay_beyond_the_timeout_is_a_timeout() {
    let slow = Faults {
        delay_ms: 300,
        ..Faults::default()
    };
    let (_sim, address) = serve(6, slow).await;
    let engine = SnmpEngine::new(None);
    let oid: Oid = "1.3.6.1.2.1.1.5.0".parse().expect("valid");
    let impatient = engine
        .session(address, &Credentials::v2c("public"), &options(100, 0))
        .await
        .expect("session");
    assert!(
        impatient
            .get(std::slice::from_ref(&oid))
            .await
            .expect_err("too slow")
            .is_timeout()
    );
    let patient = engine
        .session(address, &Credentials::v2c("public"), &options(1000, 0))
        .await
        .expect("session");
    let got = patient.get(&[oid]).await.expect("answered");
    assert_eq!(got[0].value.as_str(), Some("acme-4200-2nd-floor"));
}

#[tokio::test]
async fn v3_failures_are_named_not_timeouts() {
    let (_sim, address) = serve(7, Faults::default()).await;
    let engine = SnmpEngine::new(None);
    let oid: Oid = "1.3.6.1.2.1.1.5.0".parse().expect("valid");
    let Credentials::Usm(good) = user(AuthProtocol::Sha256, Some(PrivProtocol::Aes256)) else {
        unreachable!()
    };
    let cases = [
        (
            UsmCredentials {
                auth: Some((AuthProtocol::Sha256, Secret::new("wrongpassword"))),
                ..good.clone()
            },
            V3Failure::WrongDigest,
        ),
        (
            UsmCredentials {
                user: "nobody".into(),
                ..good.clone()
            },
            V3Failure::UnknownUser,
        ),
    ];
    for (credentials, failure) in cases {
        let session = engine
            .session(address, &Credentials::Usm(credentials), &options(500, 0))
            .await
            .expect("session");
        match session.get(std::slice::from_ref(&oid)).await {
            Err(SnmpError::V3 { failure: f, .. }) => assert_eq!(f, failure),
            other => panic!("expected {failure:?}, got {other:?}"),
        }
    }
    // An authPriv user asking without privacy is refused by access control.
    let weaker = UsmCredentials {
        privacy: None,
        ..good
    };
    let session = engine
        .session(address, &Credentials::Usm(weaker), &options(500, 0))
        .await
        .expect("session");
    let err = session.get(&[oid]).await.expect_err("refused");
    assert!(err.is_auth_failure(), "{err}");
}

#[tokio::test]
async fn unique_gives_each_address_its_own_serial_and_mac() {
    let plan = |ip: &str| DevicePlan {
        addresses: vec![format!("{ip}:16161").parse().expect("valid")],
        recording: fixture(),
        communities: None,
        v3_users: vec![],
        unique: true,
        faults: Faults::default(),
    };
    let plans = [plan("127.77.8.1"), plan("127.77.8.2")];
    let sim = Simulator::start(&plans).await.expect("starts");
    let engine = SnmpEngine::new(None);
    let serial: Oid = "1.3.6.1.2.1.43.5.1.1.17.1".parse().expect("valid");
    let vendor_serial: Oid = "1.3.6.1.4.1.99999.2.1.0".parse().expect("valid");
    let descr: Oid = "1.3.6.1.2.1.1.1.0".parse().expect("valid");
    let mac: Oid = "1.3.6.1.2.1.2.2.1.6.1".parse().expect("valid");
    let mut seen = Vec::new();
    for served in &sim.served {
        let session = engine
            .session(
                served.address,
                &Credentials::v2c("public"),
                &options(1000, 1),
            )
            .await
            .expect("session");
        let got = session
            .get(&[
                descr.clone(),
                mac.clone(),
                serial.clone(),
                vendor_serial.clone(),
            ])
            .await
            .expect("get");
        let text = |i: usize| got[i].value.as_str().unwrap_or_default().to_owned();
        // Order: sorted by OID (descr, mac, serial, vendor serial).
        assert_ne!(text(2), "ACM4200X0012345");
        assert_eq!(
            text(2),
            text(3),
            "the vendor copy follows the standard serial"
        );
        assert!(
            text(0).contains(&text(2)),
            "sysDescr carries the new serial"
        );
        let mac_bytes = got[1].value.as_bytes().expect("mac").to_vec();
        assert_eq!(&mac_bytes[..3], &[0x00, 0x00, 0xaa], "OUI kept");
        seen.push((text(2), mac_bytes));
    }
    assert_ne!(seen[0], seen[1]);
}

#[tokio::test]
async fn meters_advance_and_supplies_drain() {
    // Slow rates and the simulator's clock moved by an hour between the
    // polls: a loaded machine's few seconds change nothing (1 % an hour of
    // 10,000 is under 3 units a minute, far from the toner's 3,450), where
    // fast rates and a sleep raced the toner to zero.
    let alive = Faults {
        pages_per_minute: 60.0,
        drain_percent_per_hour: 1.0,
        ..Faults::default()
    };
    let (sim, address) = serve(9, alive).await;
    let engine = SnmpEngine::new(None);
    let session = engine
        .session(address, &Credentials::v2c("public"), &options(1000, 1))
        .await
        .expect("session");
    let count: Oid = "1.3.6.1.2.1.43.10.2.1.4.1.1".parse().expect("valid");
    let toner: Oid = "1.3.6.1.2.1.43.11.1.1.9.1.1".parse().expect("valid");
    let fuser: Oid = "1.3.6.1.2.1.43.11.1.1.9.1.3".parse().expect("valid");
    // The counters printwatch reads beyond the Printer MIB (here the PWG
    // MIB's): print impressions advance, colour at zero stays zero, and a
    // power-on counter no snapshot reads does not move.
    let pwg = |s: &str| -> Oid {
        format!("1.3.6.1.4.1.2699.1.3.1.8.1.1.{s}")
            .parse()
            .expect("valid")
    };
    let ask = [
        count,
        toner,
        fuser,
        pwg("4.2.3.3"),
        pwg("7.1.3.3"),
        pwg("4.2.3.4"),
    ];
    let first = session.get(&ask).await.expect("first poll");
    sim.clock().advance(Duration::from_secs(3600));
    let second = session.get(&ask).await.expect("second poll");
    let n = |v: &[VarBind], i: usize| {
        let vb = v.iter().find(|vb| vb.oid == ask[i]).expect("answered");
        vb.value.as_i64().expect("number")
    };
    // An hour at 60 pages a minute; 1 % of the toner's 10,000 (its start
    // is 3,450). Time that really passed adds a little, never much.
    let pages = n(&second, 0) - n(&first, 0);
    assert!((3600..3700).contains(&pages), "meter advanced by {pages}");
    let drained = n(&first, 1) - n(&second, 1);
    assert!((100..110).contains(&drained), "toner drained by {drained}");
    assert!(n(&second, 1) > 3000, "toner far from empty");
    assert_eq!(n(&second, 2), -3, "'some remaining' stays a state");
    assert!(
        n(&second, 3) > n(&first, 3),
        "a meter beyond the Printer MIB advanced"
    );
    assert!(
        n(&second, 3) - n(&first, 3) <= n(&second, 0) - n(&first, 0),
        "print pages advance no faster than the lifetime count"
    );
    assert_eq!(n(&second, 4), 0, "a counter at zero stays at zero");
    assert_eq!(
        n(&second, 5),
        n(&first, 5),
        "a counter no snapshot reads stays"
    );
}

/// A hand-made responder whose GETNEXT/GETBULK answers go backwards (an
/// honest agent cannot be made to do that): the walk must stop with an
/// error, not loop.
#[tokio::test]
async fn walks_stop_on_oids_that_do_not_increase() {
    use async_snmp::message::CommunityMessage;
    use async_snmp::{DecodeConfig, ResponsePdu, Version};

    let socket = tokio::net::UdpSocket::bind("127.77.10.1:16161")
        .await
        .expect("bind");
    let address = socket.local_addr().expect("address");
    let responder = tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        while let Ok((len, peer)) = socket.recv_from(&mut buf).await {
            let Ok(request) = CommunityMessage::decode(
                bytes::Bytes::copy_from_slice(&buf[..len]),
                DecodeConfig::DEFAULT,
            ) else {
                continue;
            };
            let request = request.value;
            let version = request.version();
            let community = request.community().clone();
            let Some(pdu) = request.into_pdu() else {
                continue;
            };
            // Always the same object, whatever was asked: never increasing.
            let answer = vec![async_snmp::VarBind::new(
                async_snmp::Oid::from_slice(&[1, 3, 6, 1, 2, 1, 1, 1, 0]),
                async_snmp::Value::Integer(1),
            )];
            let Ok(response) = ResponsePdu::success(version, pdu.into_raw_parts().0, answer) else {
                continue;
            };
            let message = match version {
                Version::V1 => CommunityMessage::v1(community, response.into_raw()),
                _ => CommunityMessage::v2c(community, response.into_raw()),
            };
            if let Ok(bytes) = message.and_then(|m| m.encode()) {
                let _ = socket.send_to(&bytes, peer).await;
            }
        }
    });
    let engine = SnmpEngine::new(None);
    for credentials in [Credentials::v2c("public"), Credentials::v1("public")] {
        let session = engine
            .session(address, &credentials, &options(500, 0))
            .await
            .expect("session");
        let subtree: Oid = "1.3.6.1.2.1.1".parse().expect("valid");
        let result = tokio::time::timeout(Duration::from_secs(5), session.walk(&subtree))
            .await
            .expect("the walk ends");
        // GETBULK walks abort on ordering; GETNEXT (v1) answers that are not
        // successors are rejected as malformed. Either way the walk ends.
        assert!(
            matches!(
                result,
                Err(SnmpError::WalkAborted { .. } | SnmpError::Malformed { .. })
            ),
            "{}: {result:?}",
            credentials.describe()
        );
    }
    responder.abort();
}

#[tokio::test]
async fn a_wrong_privacy_password_is_named_and_a_device_gone_is_not() {
    let (sim, address) = serve(11, Faults::default()).await;
    let engine = SnmpEngine::new(None);
    let oid: Oid = "1.3.6.1.2.1.1.5.0".parse().expect("valid");
    let Credentials::Usm(good) = user(AuthProtocol::Sha1, Some(PrivProtocol::Aes128)) else {
        unreachable!()
    };
    // The agent authenticates us (its time, after discovery), then drops
    // what it cannot decrypt: named, not "no answer".
    let wrong = UsmCredentials {
        privacy: Some((PrivProtocol::Aes128, Secret::new("not-the-privpassword"))),
        ..good.clone()
    };
    let session = engine
        .session(address, &Credentials::Usm(wrong), &options(1000, 0))
        .await
        .expect("session");
    match session.get(std::slice::from_ref(&oid)).await {
        Err(
            e @ SnmpError::V3 {
                failure: V3Failure::SilentAfterAuthentication,
                ..
            },
        ) => {
            assert!(e.is_auth_failure());
            assert!(e.to_string().contains("--priv-password"), "{e}");
        }
        other => panic!("expected a likely decryption failure, got {other:?}"),
    }
    let session = engine
        .session(address, &Credentials::Usm(good.clone()), &options(1000, 0))
        .await
        .expect("session");
    session
        .get(std::slice::from_ref(&oid))
        .await
        .expect("the right password reads");
    // The device gone: the engine's time, known from before, proves
    // nothing about this session. A timeout.
    drop(sim);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let session = engine
        .session(address, &Credentials::Usm(good), &options(300, 0))
        .await
        .expect("session");
    match session.get(&[oid]).await {
        Err(e) => assert!(e.is_timeout(), "expected a timeout, got {e}"),
        Ok(v) => panic!("answered after the simulator stopped: {v:?}"),
    }
}
