//! `examples/credentials.toml`, the example the README documents, parses
//! into the sets it says, in its order.

use printwatch_snmp::Credentials;
use printwatch_snmp::credentials::{CommunityVersion, CredentialsFile};

#[test]
fn the_example_credentials_file_parses_in_order() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/credentials.toml");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let sets = CredentialsFile::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(sets.len(), 3, "{sets:?}");
    assert_eq!(sets[0], Credentials::v2c("public"));
    match &sets[1] {
        Credentials::Community { version, .. } => assert_eq!(*version, CommunityVersion::V1),
        other => panic!("set 2 should be v1: {other:?}"),
    }
    match &sets[2] {
        Credentials::Usm(usm) => {
            assert_eq!(usm.user, "simulator");
            assert!(usm.auth.is_some() && usm.privacy.is_some(), "authPriv");
        }
        other => panic!("set 3 should be v3: {other:?}"),
    }
}
