//! The committed header is what cbindgen makes of the sources (regenerate with
//! `VENOM_BLESS=1 cargo test -p venom-capi --test header`), its version macros match the
//! crate, and every function it declares is exported by the library and the reverse.

use std::path::Path;

mod common;

fn generate() -> String {
    let dir = env!("CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(Path::new(dir).join("cbindgen.toml")).unwrap();
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut out);
    String::from_utf8(out).unwrap()
}

fn header_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("include/venom_memory_rs.h")
}

#[test]
fn header_is_fresh() {
    let fresh = generate();
    let path = header_path();
    if std::env::var_os("VENOM_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "include/venom_memory_rs.h is stale: run `VENOM_BLESS=1 cargo test -p venom-capi --test header` and commit it"
    );
}

#[test]
fn version_macros_match_the_crate() {
    let header = std::fs::read_to_string(header_path()).unwrap();
    for (macro_name, value) in [
        ("VENOM_VERSION_MAJOR", env!("CARGO_PKG_VERSION_MAJOR")),
        ("VENOM_VERSION_MINOR", env!("CARGO_PKG_VERSION_MINOR")),
        ("VENOM_VERSION_PATCH", env!("CARGO_PKG_VERSION_PATCH")),
    ] {
        assert!(
            header.contains(&format!("#define {macro_name} {value}\n")),
            "{macro_name} must be {value}"
        );
    }
}

/// The names of the functions the header declares.
fn declared_functions(header: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in header.lines() {
        if line.starts_with(' ') || line.starts_with('#') || line.starts_with('/') {
            continue;
        }
        if let Some(open) = line.find("(venom_").map(|i| i + 1).or_else(|| {
            line.find(" venom_")
                .or_else(|| line.find("*venom_"))
                .map(|i| i + 1)
        }) {
            let rest = &line[open..];
            if let Some(end) = rest.find('(') {
                let name = &rest[..end];
                if name.starts_with("venom_") && !name.contains(' ') {
                    names.push(name.to_owned());
                }
            }
        }
    }
    names
}

#[test]
fn the_header_declares_what_the_library_exports() {
    let header = std::fs::read_to_string(header_path()).unwrap();
    let declared: std::collections::BTreeSet<String> =
        declared_functions(&header).into_iter().collect();
    let lib = common::lib_dir().join("libvenom_memory.so");
    let nm = std::process::Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&lib)
        .output()
        .expect("nm runs");
    let exported: std::collections::BTreeSet<String> = String::from_utf8_lossy(&nm.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, kind, name) = (f.next()?, f.next()?, f.next()?);
            (kind == "T" && name.starts_with("venom_")).then(|| name.to_owned())
        })
        .collect();
    assert!(declared.len() > 40, "{declared:?}");
    assert_eq!(declared, exported);
}
