//! Shared by the integration tests: where `libvenom_memory.so` / `.a` are.

use std::path::PathBuf;
use std::sync::OnceLock;

/// The directory holding `libvenom_memory.so` and `.a` of this build (`target/<profile>`).
/// `cargo test` builds the library crate only as an rlib for its tests, so the first call
/// builds the `cdylib` and `staticlib` with the same cargo, profile and target directory.
pub(crate) fn lib_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
        let target_dir = profile_dir.parent().unwrap();
        let release = profile_dir.file_name().is_some_and(|p| p == "release");
        let mut cargo = std::process::Command::new(env!("CARGO"));
        cargo
            .args([
                "build",
                "--quiet",
                "-p",
                "venom-capi",
                "--lib",
                "--target-dir",
            ])
            .arg(target_dir);
        if release {
            cargo.arg("--release");
        }
        let status = cargo.status().expect("cargo runs");
        assert!(status.success(), "building libvenom_memory failed");
        assert!(profile_dir.join("libvenom_memory.so").exists());
        profile_dir
    })
    .clone()
}
