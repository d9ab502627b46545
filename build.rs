//! Generates the C header from src/ffi with cbindgen into $OUT_DIR/edgeclass.h. The committed
//! include/edgeclass.h must equal it (tests/header.rs checks); `EDGECLASS_UPDATE_HEADER=1 cargo
//! build` rewrites the committed copy.

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=EDGECLASS_UPDATE_HEADER");
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
