//! Names the migration set: a hash of `migrations/src/*.rs`, so the per-run template database
//! (`db::template`) is rebuilt whenever a migration changes, and reused otherwise.

use std::path::Path;

fn main() {
    // At run time: a build script compiled in another clone of the repository runs here too.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest).join("../../migrations/src");
    println!("cargo:rerun-if-changed={}", dir.display());
    // An unreadable folder would hash to the empty set and reuse a stale template: fail instead.
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    // FNV-1a over names and contents: stable across builds and toolchains.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for path in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
    {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let bytes = std::fs::read(path).unwrap_or_default();
        for b in name.unwrap_or_default().bytes().chain(bytes) {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    println!("cargo:rustc-env=TP_MIGRATION_SET={hash:016x}");
}
