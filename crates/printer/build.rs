//! Embeds every profile of `profiles/` in the binary: adding a vendor is
//! adding a file.

use std::io::Write;

fn main() {
    println!("cargo:rerun-if-changed=profiles");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("profiles directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let out = std::path::Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("profiles.rs");
    let mut f = std::fs::File::create(out).expect("create profiles.rs");
    writeln!(f, "&[").expect("write");
    for path in files {
        let name = path
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        writeln!(
            f,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("write");
    }
    writeln!(f, "]").expect("write");
}
