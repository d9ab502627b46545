//! Generates the C header from src/ffi with cbindgen into $OUT_DIR/edgeclass.h. The committed
//! include/edgeclass.h must equal it (tests/header.rs checks); `EDGECLASS_UPDATE_HEADER=1 cargo
//! build` rewrites the committed copy.

/// `EDGECLASS_ABI_VERSION` (src/ffi/mod.rs): the C ABI only grows, so the SONAME changes only
/// if it ever breaks. tests/version.rs checks the two agree.
const SONAME_MAJOR: u32 = 1;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=EDGECLASS_UPDATE_HEADER");
    println!("cargo:rerun-if-env-changed=EDGECLASS_SONAME");
    // Release builds (scripts/release.sh) give the .so a SONAME, libedgeclass.so.<C ABI version>,
    // so that programs linked against it record that name and keep working across compatible
    // releases. Opt-in: a program linked against a plain `cargo build` with `-ledgeclass` would
    // otherwise ask the loader for a libedgeclass.so.1 that target/release does not have.
    if std::env::var("EDGECLASS_SONAME").is_ok_and(|v| v == "1")
        && std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux")
    {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libedgeclass.so.{SONAME_MAJOR}");
    }
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let out =
        std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("edgeclass.h");
    let config =
        cbindgen::Config::from_file(format!("{dir}/cbindgen.toml")).expect("cbindgen.toml");
    match cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
    {
        Ok(bindings) => {
            bindings.write_to_file(&out);
            if std::env::var("EDGECLASS_UPDATE_HEADER").is_ok_and(|v| v == "1") {
                bindings.write_to_file(format!("{dir}/include/edgeclass.h"));
            }
        }
        // A syntax error mid-edit should show rustc's message, not cbindgen's: leave the header.
        Err(e) => println!("cargo:warning=cbindgen could not generate the header: {e}"),
    }
}
