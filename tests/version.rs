//! One version everywhere: Cargo.toml's is what the C library reports (`edgeclass_version()`),
//! what the Python package says (`edgeclass.__version__`, which python/setup.py and the wheels
//! read), and what the .pc files get (filled in from Cargo.toml by scripts/install.sh and
//! scripts/release.sh; scripts/check-dist.sh checks the built ones). The SONAME's major number
//! (build.rs) is the C ABI version.

use std::ffi::CStr;
use std::path::Path;

fn repo_file(path: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The value of the first line `<prefix>"VALUE"` (or with single quotes) of `text`.
fn quoted_after<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .map(|rest| rest.trim().trim_matches(|c| c == '"' || c == '\''))
}

#[test]
fn cargo_toml_version_is_the_library_and_python_package_version() {
    let cargo = quoted_after(&repo_file("Cargo.toml"), "version = ")
        .unwrap()
        .to_string();
    let c = unsafe { CStr::from_ptr(edgeclass::ffi::edgeclass_version()) };
    assert_eq!(c.to_str().unwrap(), cargo, "edgeclass_version()");
    let init = repo_file("python/edgeclass/__init__.py");
    assert_eq!(
        quoted_after(&init, "__version__ = "),
        Some(cargo.as_str()),
        "python/edgeclass/__init__.py __version__"
    );
    // setup.py takes the package's version rather than stating its own.
    let setup = repo_file("python/setup.py");
    assert!(
        !setup
            .lines()
            .any(|l| l.trim_start().starts_with("version='")),
        "python/setup.py states a version of its own"
    );
    assert!(setup.contains("version=_package_version()"));
    // The .pc template takes the version from Cargo.toml, never a literal.
    assert!(repo_file("include/edgeclass.pc.in").contains("Version: @VERSION@"));
}

#[test]
fn soname_major_is_the_c_abi_version() {
    let abi = edgeclass::ffi::edgeclass_abi_version();
    let build = repo_file("build.rs");
    let major = quoted_after(&build, "const SONAME_MAJOR: u32 = ")
        .unwrap()
        .trim_end_matches(';');
    assert_eq!(major, abi.to_string(), "build.rs SONAME_MAJOR");
    let release = repo_file("scripts/release.sh");
    let major = quoted_after(&release, "SONAME_MAJOR=").unwrap();
    assert!(
        major.starts_with(&format!("{abi} ")),
        "scripts/release.sh SONAME_MAJOR={major}"
    );
}
