//! Discovery against a simulated /22 described by a fleet file: a few hundred
//! printers of many vendors, lost packets, slow hosts, hosts with other
//! credentials (community and SNMPv3), an SNMP agent that is not a printer,
//! a silent address and one printer answering on two addresses. The scan
//! must find exactly the expected set of devices.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use printwatch_agent::scan::{Failure, ScanOptions, ScanProgress, Target, scan, targets};
use printwatch_printer::ProfileSet;
use printwatch_sim::{FleetFile, Simulator, synthetic};
use printwatch_snmp::credentials::CredentialSpec;
use printwatch_snmp::{Credentials, Secret, SnmpOptions, snmprec};

const FLEET: &str = r#"
port = 16170
communities = ["public"]

[[range]]                     # 300 printers
cidr = "127.81.0.0/23"
count = 300
recordings = ["printers/"]
unique = true

[[range]]                     # lossy: every third request lost
cidr = "127.81.2.0/26"
count = 20
recordings = ["printers/"]
unique = true
faults = { loss = 0.34 }

[[range]]                     # slow, within the timeout
cidr = "127.81.2.64/27"
count = 10
recordings = ["printers/"]
unique = true
faults = { delay-ms = 300 }

[[range]]                     # another community
cidr = "127.81.2.128/28"
count = 10
recordings = ["printers/"]
unique = true
communities = ["back-office"]

[[device]]                    # SNMPv3 only
address = "127.81.3.5"
recording = "printers/01-hp-color-laserjet-pro-m454dw.snmprec"
unique = true
communities = []
[[device.v3-user]]
user = "monitor"
auth-protocol = "sha256"
auth-password = "monitor-auth-pass"
priv-protocol = "aes"
priv-password = "monitor-priv-pass"

[[device]]                    # one printer on two addresses
addresses = ["127.81.3.10", "127.81.3.11"]
recording = "printers/03-ricoh-mp-c3004.snmprec"
unique = true

[[device]]                    # not a printer
address = "127.81.3.20"
recording = "zz-router.snmprec"

[[device]]                    # swallows everything
address = "127.81.3.30"
recording = "zz-router.snmprec"
faults = { silent = true }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_finds_exactly_the_fleet() {
    let dir = std::env::temp_dir().join(format!("pw-scan-fleet-{}", std::process::id()));
    let printers_dir = dir.join("printers");
    std::fs::create_dir_all(&printers_dir).expect("temp dir");
    let profiles = ProfileSet::embedded().expect("profiles");
    for (name, records) in synthetic::demo_fleet(&profiles, synthetic::CATALOG.len()) {
        let path = if name.starts_with("zz-") {
            dir.join(&name)
        } else {
            printers_dir.join(&name)
        };
        std::fs::write(path, snmprec::to_string(&records)).expect("write recording");
    }
    let plans = FleetFile::parse(FLEET)
        .expect("fleet")
        .plan(&dir)
        .expect("plan");
    let simulator = Simulator::start(&plans).await.expect("simulator");

    let v3 = CredentialSpec {
        user: Some("monitor".into()),
        auth_protocol: Some("sha256".into()),
        auth_password: Some(Secret::new("monitor-auth-pass")),
        priv_protocol: Some("aes".into()),
        priv_password: Some(Secret::new("monitor-priv-pass")),
        ..Default::default()
    }
    .build()
    .expect("v3 credentials");
    let options = ScanOptions {
        port: 16170,
        rate: 5000,
        concurrency: 64,
        snmp: SnmpOptions {
            timeout: Duration::from_millis(800),
            retries: 2,
            ..SnmpOptions::default()
        },
        credentials: vec![
            Credentials::v2c("public"),
            Credentials::v2c("back-office"),
            v3,
        ],
    };
    let addresses = targets::expand(&[Target::parse("127.81.0.0/22").expect("cidr")], &[])
        .await
        .expect("expand");
    assert_eq!(addresses.len(), 1022);
    // Nobody can ask this scan to stop: it must run to the end.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    drop(stop_tx);
    let report = scan(
        addresses,
        options,
        Arc::new(profiles),
        Arc::new(ScanProgress::default()),
        stop_rx,
    )
    .await;

    // Every served printer address, and the devices they are.
    let printer_addresses: BTreeSet<IpAddr> = simulator
        .served
        .iter()
        .filter(|s| !s.recording.starts_with("zz-"))
        .map(|s| s.address.ip())
        .collect();
    let found_addresses: BTreeSet<IpAddr> = report
        .devices
        .iter()
        .flat_map(|d| d.snapshot.addresses.iter().filter_map(|a| a.parse().ok()))
        .collect();
    let missing: Vec<_> = printer_addresses.difference(&found_addresses).collect();
    let extra: Vec<_> = found_addresses.difference(&printer_addresses).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}; failures {:?}",
        report.failures
    );
    // 343 printer addresses, one device on two of them.
    assert_eq!(printer_addresses.len(), 343);
    assert_eq!(report.devices.len(), 342, "one device per identity");
    let identities: BTreeSet<String> = report
        .devices
        .iter()
        .map(|d| d.snapshot.identity().expect("identity"))
        .collect();
    assert_eq!(identities.len(), 342);
    let twice = report
        .devices
        .iter()
        .find(|d| d.snapshot.addresses.len() == 2)
        .expect("the device on two addresses");
    assert_eq!(twice.snapshot.addresses, vec!["127.81.3.10", "127.81.3.11"]);
    // Credentials remembered: the back-office range answered to set 1, the
    // v3-only printer to set 2.
    let credential_of = |ip: &str| {
        report
            .devices
            .iter()
            .find(|d| d.snapshot.addresses.iter().any(|a| a == ip))
            .map(|d| d.credential)
    };
    assert_eq!(credential_of("127.81.2.129"), Some(1));
    assert_eq!(credential_of("127.81.3.5"), Some(2));
    assert_eq!(credential_of("127.81.0.1"), Some(0));
    // The router is not a printer; the silent host and the empty addresses
    // never answered.
    let router: IpAddr = "127.81.3.20".parse().expect("ip");
    assert_eq!(report.failures.get(&router), Some(&Failure::NotAPrinter));
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert_eq!(
        report.no_answer,
        1022 - 343 - 1,
        "all but the printers and the router"
    );
    assert!(!report.interrupted);
    let _ = std::fs::remove_dir_all(&dir);
}
