//! The agent's state directory: who it is, its key, its spool, what the
//! server acknowledged, and its status for `printwatch agent status`.
//!
//! ```text
//! DIR/                    0700
//!   identity.json         agent id, server URL, CA file (written at activation)
//!   key                   the agent key, base64 (0600; never leaves DIR)
//!   lock                  held (flock) by the running daemon
//!   uplink.json           sequence numbers, last contact, a refusal
//!   acked.zst             the last state the server acknowledged per device
//!   inflight.json         the envelope sealed and not yet acknowledged
//!   pushed-config.json    the configuration the server pushed (in force)
//!   channel.json          commands received, their results (`crate::channel`)
//!   status.json           what `status` shows, written by the daemon
//!   spool/                the durable spool (see `crate::spool`)
//! ```
//!
//! Every file is replaced whole: written to `NAME.tmp`, fsynced, renamed
//! over `NAME`, then the directory fsynced. A crash leaves the old file or
//! the new one, never a mix; a stale `NAME.tmp` is ignored and
//! overwritten. The order of these writes around an acknowledgement is
//! the daemon's (see its crash points).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use printwatch_protocol::message::PushedConfig;
use printwatch_protocol::{AgentId, AgentKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::uplink::{Acked, Inflight, UplinkState};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is damaged ({problem}): activate again with --force, or restore it", path.display())]
    Corrupt { path: PathBuf, problem: String },
    #[error("this agent is not activated (no {}): run printwatch agent activate --server URL --code CODE", path.display())]
    NotActivated { path: PathBuf },
    #[error("another printwatch agent runs with the state directory {}", path.display())]
    Locked { path: PathBuf },
}

type Result<T> = std::result::Result<T, StateError>;

/// Written at activation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub agent_id: AgentId,
    pub server: String,
    /// `--ca-file` given at activation.
    pub ca_file: Option<String>,
    pub activated_at: String,
}

/// What the running daemon reports, for `printwatch agent status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub pid: u32,
    pub running: bool,
    pub started_at: String,
    pub updated_at: String,
    pub collections: u64,
    pub devices: u64,
    pub spool_records: u64,
    pub spool_bytes: u64,
    pub last_sweep: Option<printwatch_protocol::message::SweepSummary>,
    pub config_version: u64,
    pub config_error: Option<String>,
    pub last_error: Option<String>,
    /// The agent's clock minus the server's (seconds), at the last heartbeat.
    pub clock_error: Option<i64>,
    /// The command channel: `websocket`, `long-polling` or `down`.
    #[serde(default)]
    pub channel: Option<String>,
}

pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    /// `--state`, else `PRINTWATCH_AGENT_STATE`, else
    /// `/var/lib/printwatch-agent` as root and
    /// `$XDG_STATE_HOME/printwatch-agent` (`~/.local/state/…`) otherwise.
    pub fn resolve(flag: Option<PathBuf>) -> PathBuf {
        if let Some(path) = flag {
            return path;
        }
        if let Some(path) = std::env::var_os("PRINTWATCH_AGENT_STATE").filter(|p| !p.is_empty()) {
            return PathBuf::from(path);
        }
        if is_root() {
            return PathBuf::from("/var/lib/printwatch-agent");
        }
        let base = std::env::var_os("XDG_STATE_HOME")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
            .unwrap_or_else(|| PathBuf::from("."));
        base.join("printwatch-agent")
    }

    /// Opens (creating) the directory, mode 0700.
    pub fn create(path: &Path) -> Result<StateDir> {
        fs::create_dir_all(path).map_err(io("create", path))?;
        restrict(path, 0o700)?;
        Ok(StateDir {
            path: path.to_owned(),
        })
    }

    /// Opens an existing directory (for `status`: creates nothing).
    pub fn existing(path: &Path) -> StateDir {
        StateDir {
            path: path.to_owned(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.path.join("spool")
    }

    /// Held while the daemon runs: a second daemon on the same directory
    /// would corrupt the spool's sequence.
    pub fn lock(&self) -> Result<File> {
        let path = self.path.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io("open", &path))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(fs::TryLockError::WouldBlock) => Err(StateError::Locked {
                path: self.path.clone(),
            }),
            Err(fs::TryLockError::Error(e)) => Err(io("lock", &path)(e)),
        }
    }

    pub fn identity(&self) -> Result<Option<Identity>> {
        self.read_json("identity.json")
    }

    pub fn require_identity(&self) -> Result<(Identity, AgentKey)> {
        let identity = self.identity()?.ok_or_else(|| StateError::NotActivated {
            path: self.path.join("identity.json"),
        })?;
        Ok((identity, self.key()?))
    }

    fn key(&self) -> Result<AgentKey> {
        use base64::Engine;
        let path = self.path.join("key");
        let text = fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StateError::NotActivated { path: path.clone() },
            _ => io("read", &path)(e),
        })?;
        let corrupt = || StateError::Corrupt {
            path: path.clone(),
            problem: "not a 32-byte base64 key".into(),
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| corrupt())?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| corrupt())?;
        Ok(AgentKey::from_bytes(bytes))
    }

    /// A new activation: identity and key, and a fresh uplink (the new
    /// agent id starts its sequences at 1). The spool is kept: readings
    /// collected before go to the server under the new identity.
    pub fn write_activation(&self, identity: &Identity, key: &AgentKey) -> Result<()> {
        use base64::Engine;
        let text = zeroize::Zeroizing::new(
            base64::engine::general_purpose::STANDARD.encode(key.expose()) + "\n",
        );
        self.replace("key", text.as_bytes())?;
        for stale in [
            "uplink.json",
            "acked.zst",
            "inflight.json",
            "pushed-config.json",
            // Command ids count per server database: another identity's
            // would hide new commands.
            "channel.json",
        ] {
            self.remove(stale)?;
        }
        self.write_json("identity.json", identity)
    }

    pub fn uplink_state(&self) -> Result<UplinkState> {
        Ok(self.read_json("uplink.json")?.unwrap_or_default())
    }

    pub fn save_uplink_state(&self, state: &UplinkState) -> Result<()> {
        self.write_json("uplink.json", state)
    }

    pub fn acked(&self) -> Result<Acked> {
        let path = self.path.join("acked.zst");
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Acked::new()),
            Err(e) => return Err(io("read", &path)(e)),
        };
        // Damaged, it costs one full snapshot per device, nothing more.
        let parsed = zstd::bulk::decompress(&bytes, 512 * 1024 * 1024)
            .ok()
            .and_then(|json| serde_json::from_slice::<Acked>(&json).ok());
        Ok(parsed.unwrap_or_else(|| {
            tracing::warn!(path = %path.display(), "acknowledged states unreadable: every device goes in full next");
            Acked::new()
        }))
    }

    pub fn save_acked(&self, acked: &Acked) -> Result<()> {
        let path = self.path.join("acked.zst");
        let json = serde_json::to_vec(acked).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            problem: e.to_string(),
        })?;
        let bytes = zstd::bulk::compress(&json, 3).map_err(io("compress", &path))?;
        self.replace("acked.zst", &bytes)
    }

    pub fn inflight(&self) -> Result<Option<Inflight>> {
        self.read_json("inflight.json")
    }

    pub fn save_inflight(&self, inflight: &Inflight) -> Result<()> {
        self.write_json("inflight.json", inflight)
    }

    pub fn remove_inflight(&self) -> Result<()> {
        self.remove("inflight.json")
    }

    pub fn pushed_config(&self) -> Result<Option<PushedConfig>> {
        self.read_json("pushed-config.json")
    }

    pub fn save_pushed_config(&self, config: &PushedConfig) -> Result<()> {
        self.write_json("pushed-config.json", config)
    }

    pub fn channel_state(&self) -> Result<crate::channel::ChannelState> {
        Ok(self.read_json("channel.json")?.unwrap_or_default())
    }

    pub fn save_channel_state(&self, state: &crate::channel::ChannelState) -> Result<()> {
        self.write_json("channel.json", state)
    }

    /// Deactivation: the key file goes (its bytes overwritten first). The
    /// identity stays, for `status`.
    pub fn erase_key(&self) -> Result<()> {
        let path = self.path.join("key");
        if let Ok(meta) = fs::metadata(&path) {
            let zeros = vec![0u8; usize::try_from(meta.len()).unwrap_or(0).min(4096)];
            if let Ok(mut f) = OpenOptions::new().write(true).open(&path) {
                let _ = f.write_all(&zeros).and_then(|()| f.sync_all());
            }
        }
        self.remove("key")
    }

    pub fn status(&self) -> Result<Option<Status>> {
        self.read_json("status.json")
    }

    pub fn save_status(&self, status: &Status) -> Result<()> {
        self.write_json("status.json", status)
    }

    fn read_json<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        let path = self.path.join(name);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("read", &path)(e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StateError::Corrupt {
                path,
                problem: e.to_string(),
            })
    }

    fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| StateError::Corrupt {
            path: self.path.join(name),
            problem: e.to_string(),
        })?;
        self.replace(name, &bytes)
    }

    /// Atomic replacement: temporary file, fsync, rename, directory fsync.
    fn replace(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.path.join(name);
        let tmp = self.path.join(format!("{name}.tmp"));
        let mut options = OpenOptions::new();
        options.create(true).write(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(io("create", &tmp))?;
        file.write_all(bytes).map_err(io("write", &tmp))?;
        file.sync_all().map_err(io("fsync", &tmp))?;
        drop(file);
        fs::rename(&tmp, &path).map_err(io("rename", &path))?;
        self.sync_dir()
    }

    fn remove(&self, name: &str) -> Result<()> {
        let path = self.path.join(name);
        match fs::remove_file(&path) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("remove", &path)(e)),
        }
    }

    fn sync_dir(&self) -> Result<()> {
        #[cfg(unix)]
        File::open(&self.path)
            .and_then(|d| d.sync_all())
            .map_err(io("fsync", &self.path))?;
        Ok(())
    }
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StateError {
    let path = path.to_owned();
    move |source| StateError::Io { op, path, source }
}

fn restrict(path: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io("chmod", path))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

fn is_root() -> bool {
    #[cfg(unix)]
    {
        // The owner of /proc/self is the effective user (std has no
        // geteuid, and this crate has no unsafe code).
        use std::os::unix::fs::MetadataExt;
        fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_writes_a_private_key_and_resets_the_uplink() {
        let dir = tempfile::tempdir().expect("tmp");
        let state = StateDir::create(&dir.path().join("s")).expect("create");
        state
            .save_uplink_state(&UplinkState {
                last_sealed: 9,
                ..UplinkState::default()
            })
            .expect("save");
        let identity = Identity {
            agent_id: AgentId(4),
            server: "https://server.example".into(),
            ca_file: None,
            activated_at: "2025-01-01T00:00:00Z".into(),
        };
        state
            .write_activation(&identity, &AgentKey::from_bytes([5; 32]))
            .expect("write");
        let (back, key) = state.require_identity().expect("activated");
        assert_eq!(back, identity);
        assert_eq!(key.expose(), &[5; 32]);
        assert_eq!(state.uplink_state().expect("read").last_sealed, 0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode(state.path()), 0o700);
            assert_eq!(mode(&state.path().join("key")), 0o600);
        }
    }

    #[test]
    fn a_damaged_key_is_named_and_a_missing_one_means_not_activated() {
        let dir = tempfile::tempdir().expect("tmp");
        let state = StateDir::create(dir.path()).expect("create");
        assert!(matches!(
            state.require_identity(),
            Err(StateError::NotActivated { .. })
        ));
        let identity = Identity {
            agent_id: AgentId(1),
            server: "http://s".into(),
            ca_file: None,
            activated_at: String::new(),
        };
        state
            .write_activation(&identity, &AgentKey::from_bytes([1; 32]))
            .expect("write");
        fs::write(state.path().join("key"), "not base64!").expect("write");
        assert!(matches!(
            state.require_identity(),
            Err(StateError::Corrupt { .. })
        ));
    }

    #[test]
    fn one_daemon_per_directory() {
        let dir = tempfile::tempdir().expect("tmp");
        let state = StateDir::create(dir.path()).expect("create");
        let _held = state.lock().expect("first");
        assert!(matches!(state.lock(), Err(StateError::Locked { .. })));
    }
}
