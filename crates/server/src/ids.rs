//! Newtype ids: a tenant id cannot be passed where a device id belongs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use printwatch_protocol::AgentId;

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_type!(
    /// A provider or one of its customers.
    TenantId,
    UserId,
    SiteId,
    /// A device group (what users are granted).
    GroupId,
    DeviceId,
    TokenId,
    /// A web portal session (its secret is the cookie; only its hash is stored).
    SessionId,
    /// A command to an agent (the command channel).
    CommandId,
);
