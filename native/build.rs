//! Stamps the module with a hash of its own sources, so that Python can refuse a build older than
//! the checkout (services/common/native.py computes the same hash: FNV-1a 64 over, for each
//! file in name order, its path relative to this folder, a NUL byte and its bytes).
use std::fs;
use std::path::Path;

fn main() {
    let mut files: Vec<String> = vec!["Cargo.toml".into(), "build.rs".into()];
    for entry in fs::read_dir("src").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            files.push(format!("src/{}", path.file_name().unwrap().to_str().unwrap()));
        }
    }
    files.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for name in &files {
        println!("cargo:rerun-if-changed={name}");
        let mut bytes = name.as_bytes().to_vec();
        bytes.push(0);
        bytes.extend(fs::read(Path::new(name)).unwrap());
        for b in bytes {
            hash ^= b as u64;
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    println!("cargo:rustc-env=OSMS_NATIVE_SOURCE_HASH={hash:016x}");
}
