//! The spool's file I/O, behind a trait so tests can tear writes, fill the disk and fail fsyncs.
//!
//! Files are named, flat, in one directory. The trait has exactly the operations the spool's
//! crash-safety argument relies on; each is one system call (or one `write_all`) on the real
//! filesystem, so a test double can fail or tear each of them.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// File operations on one flat directory. Nothing is durable until [`SpoolIo::sync`] (file data)
/// or [`SpoolIo::sync_dir`] (creations, renames, removals) returned `Ok`.
pub trait SpoolIo: Send {
    /// The names of the files in the directory.
    fn list(&mut self) -> io::Result<Vec<String>>;
    /// The current length of a file.
    fn len(&mut self, name: &str) -> io::Result<u64>;
    /// Fills `buf` from `offset`; `UnexpectedEof` when the file is shorter.
    fn read_at(&mut self, name: &str, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Appends to a file, creating it when missing. May write a prefix and then fail.
    fn append(&mut self, name: &str, data: &[u8]) -> io::Result<()>;
    /// Writes `data` at `offset` (overwriting), creating the file when missing.
    fn write_at(&mut self, name: &str, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Cuts a file to `len` bytes.
    fn truncate(&mut self, name: &str, len: u64) -> io::Result<()>;
    /// fsync of one file's data.
    fn sync(&mut self, name: &str) -> io::Result<()>;
    /// Atomically replaces `to` with `from`.
    fn rename(&mut self, from: &str, to: &str) -> io::Result<()>;
    fn remove(&mut self, name: &str) -> io::Result<()>;
    /// fsync of the directory: makes creations, renames and removals durable.
    fn sync_dir(&mut self) -> io::Result<()>;
}

/// The real filesystem. Keeps one open handle per file (reads at open touch every record).
pub struct FsIo {
    dir: PathBuf,
    files: HashMap<String, File>,
}

impl FsIo {
    /// Uses `dir`, creating it (mode 0700 on Unix: the state directory holds device data).
    pub fn new(dir: &Path) -> io::Result<FsIo> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
        Ok(FsIo {
            dir: dir.to_path_buf(),
            files: HashMap::new(),
        })
    }

    fn file(&mut self, name: &str) -> io::Result<&mut File> {
        if !self.files.contains_key(name) {
            let mut options = OpenOptions::new();
            options.read(true).write(true).create(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let file = options.open(self.dir.join(name))?;
            self.files.insert(name.to_owned(), file);
        }
        self.files
            .get_mut(name)
            .ok_or_else(|| io::Error::other("file handle vanished"))
    }
}

impl SpoolIo for FsIo {
    fn list(&mut self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                // A name that is not UTF-8 is not ours: skip it.
                if let Ok(name) = entry.file_name().into_string() {
                    names.push(name);
                }
            }
        }
        Ok(names)
    }

    fn len(&mut self, name: &str) -> io::Result<u64> {
        Ok(fs::metadata(self.dir.join(name))?.len())
    }

    fn read_at(&mut self, name: &str, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if !self.dir.join(name).exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{name} not found"),
            ));
        }
        let file = self.file(name)?;
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(buf)
    }

    fn append(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        let file = self.file(name)?;
        file.seek(SeekFrom::End(0))?;
        file.write_all(data)
    }

    fn write_at(&mut self, name: &str, offset: u64, data: &[u8]) -> io::Result<()> {
        let file = self.file(name)?;
        file.seek(SeekFrom::Start(offset))?;
        file.write_all(data)
    }

    fn truncate(&mut self, name: &str, len: u64) -> io::Result<()> {
        self.file(name)?.set_len(len)
    }

    fn sync(&mut self, name: &str) -> io::Result<()> {
        self.file(name)?.sync_data()
    }

    fn rename(&mut self, from: &str, to: &str) -> io::Result<()> {
        self.files.remove(from);
        self.files.remove(to);
        fs::rename(self.dir.join(from), self.dir.join(to))
    }

    fn remove(&mut self, name: &str) -> io::Result<()> {
        self.files.remove(name);
        fs::remove_file(self.dir.join(name))
    }

    fn sync_dir(&mut self) -> io::Result<()> {
        // Opening a directory read-only and fsyncing it is how POSIX makes entries durable.
        #[cfg(unix)]
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }
}
