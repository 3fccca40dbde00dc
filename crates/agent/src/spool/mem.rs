//! An in-memory filesystem that knows what a crash would keep, with injected faults.
//!
//! Each file has its current bytes (what reads see: the page cache) and its durable bytes (what
//! survives a crash). The directory likewise has current and durable entries. [`MemIo::crash`]
//! returns the filesystem a reboot would find, optionally with a torn or zero-filled tail where a
//! file had unsynced appends. Faults follow Linux: a failed fsync loses the unsynced pages even if
//! a later fsync succeeds (the lesson PostgreSQL learned in 2018).

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use super::io::SpoolIo;

#[derive(Clone, Default)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
    /// Bytes whose write-back failed (start, end): they will never reach the disk.
    lost: Option<(usize, usize)>,
}

#[derive(Default)]
struct State {
    inodes: Vec<Inode>,
    dir: HashMap<String, usize>,
    durable_dir: HashMap<String, usize>,
    faults: Faults,
}

#[derive(Default)]
struct Faults {
    /// The next append writes this many bytes, then fails with ENOSPC.
    write: Option<usize>,
    /// The next fsync of a file fails with EIO.
    sync: bool,
    /// The next fsync of the directory fails with EIO.
    sync_dir: bool,
    /// The process dies after this many more operations: every later one fails, untouched.
    die_after: Option<usize>,
}

/// How the unsynced tail of a file looks after a crash.
#[derive(Clone, Copy, Debug)]
pub enum Tear {
    /// Nothing unsynced survives.
    None,
    /// A prefix of the unsynced bytes survives: `n`/255 of them.
    Prefix(u8),
    /// The file keeps its length but the unsynced bytes read as zeros (delayed allocation).
    Zeros,
}

/// Cloning shares the same filesystem (the spool owns one clone, the test another).
#[derive(Clone, Default)]
pub struct MemIo(Arc<Mutex<State>>);

impl MemIo {
    pub fn new() -> MemIo {
        MemIo::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock already failed; keep going with the data.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next append writes `partial` bytes and then fails with ENOSPC.
    pub fn fail_next_write(&self, partial: usize) {
        self.state().faults.write = Some(partial);
    }

    /// The next fsync of a file fails with EIO (and its unsynced bytes never reach the disk).
    pub fn fail_next_sync(&self) {
        self.state().faults.sync = true;
    }

    /// The next fsync of the directory fails with EIO.
    pub fn fail_next_sync_dir(&self) {
        self.state().faults.sync_dir = true;
    }

    /// True while an injected fault waits for its operation.
    pub fn faults_pending(&self) -> bool {
        let faults = &self.state().faults;
        faults.write.is_some() || faults.sync || faults.sync_dir || faults.die_after.is_some()
    }

    /// Disarms every injected fault.
    pub fn clear_faults(&self) {
        self.state().faults = Faults::default();
    }

    /// The process "dies" after `ops` more operations: from then on every operation fails
    /// without effect. With [`MemIo::crash`] this puts a crash at any instant of an operation.
    pub fn die_after(&self, ops: usize) {
        self.state().faults.die_after = Some(ops);
    }

    /// What a reboot after a crash now would find.
    pub fn crash(&self, tear: Tear) -> MemIo {
        let state = self.state();
        let mut after = State::default();
        for (name, &ino) in &state.durable_dir {
            let inode = &state.inodes[ino];
            let mut data = inode.durable.clone();
            let unsynced = inode.lost.is_none()
                && inode.data.len() > data.len()
                && inode.data.starts_with(&data);
            if unsynced {
                let extra = &inode.data[data.len()..];
                match tear {
                    Tear::None => {}
                    Tear::Prefix(n) => {
                        let keep = extra.len() * usize::from(n) / 255;
                        data.extend_from_slice(&extra[..keep]);
                    }
                    Tear::Zeros => data.resize(inode.data.len(), 0),
                }
            }
            after.inodes.push(Inode {
                data: data.clone(),
                durable: data,
                lost: None,
            });
            after.dir.insert(name.clone(), after.inodes.len() - 1);
        }
        after.durable_dir = after.dir.clone();
        MemIo(Arc::new(Mutex::new(after)))
    }

    /// A file's current bytes (for tests that corrupt files).
    pub fn file(&self, name: &str) -> Option<Vec<u8>> {
        let state = self.state();
        state
            .dir
            .get(name)
            .map(|&ino| state.inodes[ino].data.clone())
    }

    /// Replaces a file's bytes, durably (a corruption that is already on the disk).
    pub fn set_file(&self, name: &str, bytes: Vec<u8>) {
        let mut state = self.state();
        let ino = match state.dir.get(name) {
            Some(&ino) => ino,
            None => {
                state.inodes.push(Inode::default());
                state.inodes.len() - 1
            }
        };
        state.inodes[ino] = Inode {
            data: bytes.clone(),
            durable: bytes,
            lost: None,
        };
        state.dir.insert(name.to_owned(), ino);
        state.durable_dir.insert(name.to_owned(), ino);
    }

    /// Removes a file durably.
    pub fn delete_file(&self, name: &str) {
        let mut state = self.state();
        state.dir.remove(name);
        state.durable_dir.remove(name);
    }

    /// The names of the files, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.state().dir.keys().cloned().collect();
        names.sort();
        names
    }
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{name} not found"))
}

impl State {
    /// Counts an operation; fails once the process is dead.
    fn step(&mut self) -> io::Result<()> {
        match &mut self.faults.die_after {
            Some(0) => Err(io::Error::other("the process died (injected)")),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn inode(&mut self, name: &str) -> io::Result<&mut Inode> {
        let ino = *self.dir.get(name).ok_or_else(|| not_found(name))?;
        Ok(&mut self.inodes[ino])
    }

    fn inode_or_create(&mut self, name: &str) -> &mut Inode {
        let ino = match self.dir.get(name) {
            Some(&ino) => ino,
            None => {
                self.inodes.push(Inode::default());
                let ino = self.inodes.len() - 1;
                self.dir.insert(name.to_owned(), ino);
                ino
            }
        };
        &mut self.inodes[ino]
    }
}

impl SpoolIo for MemIo {
    fn list(&mut self) -> io::Result<Vec<String>> {
        let mut state = self.state();
        state.step()?;
        Ok(state.dir.keys().cloned().collect())
    }

    fn len(&mut self, name: &str) -> io::Result<u64> {
        let mut state = self.state();
        state.step()?;
        Ok(state.inode(name)?.data.len() as u64)
    }

    fn read_at(&mut self, name: &str, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let mut state = self.state();
        state.step()?;
        let data = &state.inode(name)?.data;
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        match data.get(start..).and_then(|rest| rest.get(..buf.len())) {
            Some(bytes) => {
                buf.copy_from_slice(bytes);
                Ok(())
            }
            None => Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }

    fn append(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        let mut state = self.state();
        state.step()?;
        let fault = state.faults.write.take();
        let inode = state.inode_or_create(name);
        match fault {
            Some(partial) => {
                inode
                    .data
                    .extend_from_slice(&data[..partial.min(data.len())]);
                Err(io::Error::from_raw_os_error(28)) // ENOSPC
            }
            None => {
                inode.data.extend_from_slice(data);
                Ok(())
            }
        }
    }

    fn write_at(&mut self, name: &str, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut state = self.state();
        state.step()?;
        if state.faults.write.take().is_some() {
            return Err(io::Error::from_raw_os_error(28));
        }
        let inode = state.inode_or_create(name);
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        if inode.data.len() < start + data.len() {
            inode.data.resize(start + data.len(), 0);
        }
        inode.data[start..start + data.len()].copy_from_slice(data);
        // Rewritten pages are dirty again: a later fsync writes them.
        if inode
            .lost
            .is_some_and(|(from, to)| start <= from && start + data.len() >= to)
        {
            inode.lost = None;
        }
        Ok(())
    }

    fn truncate(&mut self, name: &str, len: u64) -> io::Result<()> {
        let mut state = self.state();
        state.step()?;
        let inode = state.inode(name)?;
        let len = usize::try_from(len).map_err(io::Error::other)?;
        inode.data.resize(len, 0);
        inode.lost = match inode.lost {
            Some((from, to)) if from < len => Some((from, to.min(len))),
            _ => None,
        };
        Ok(())
    }

    fn sync(&mut self, name: &str) -> io::Result<()> {
        let mut state = self.state();
        state.step()?;
        let fail = std::mem::take(&mut state.faults.sync);
        let inode = state.inode(name)?;
        if fail {
            // The kernel drops the dirty pages and forgets the error: they never reach the disk.
            let dirty_from = inode
                .data
                .iter()
                .zip(&inode.durable)
                .position(|(a, b)| a != b);
            let from = dirty_from.unwrap_or(inode.durable.len().min(inode.data.len()));
            if from < inode.data.len() {
                let (from, to) = match inode.lost {
                    Some((f, t)) => (f.min(from), t.max(inode.data.len())),
                    None => (from, inode.data.len()),
                };
                inode.lost = Some((from, to));
            }
            return Err(io::Error::from_raw_os_error(5)); // EIO
        }
        let mut durable = inode.data.clone();
        if let Some((from, to)) = inode.lost {
            // What was lost reads back as whatever the disk had: zeros here.
            for i in from..to.min(durable.len()) {
                durable[i] = inode.durable.get(i).copied().unwrap_or(0);
            }
        }
        inode.durable = durable;
        Ok(())
    }

    fn rename(&mut self, from: &str, to: &str) -> io::Result<()> {
        let mut state = self.state();
        state.step()?;
        let ino = state.dir.remove(from).ok_or_else(|| not_found(from))?;
        state.dir.insert(to.to_owned(), ino);
        Ok(())
    }

    fn remove(&mut self, name: &str) -> io::Result<()> {
        let mut state = self.state();
        state.step()?;
        state
            .dir
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| not_found(name))
    }

    fn sync_dir(&mut self) -> io::Result<()> {
        let mut state = self.state();
        state.step()?;
        if std::mem::take(&mut state.faults.sync_dir) {
            return Err(io::Error::from_raw_os_error(5));
        }
        state.durable_dir = state.dir.clone();
        Ok(())
    }
}
