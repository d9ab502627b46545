//! The committed C header must be exactly what cbindgen generates from src/ffi (build.rs writes
//! it to OUT_DIR). To update the committed copy: `EDGECLASS_UPDATE_HEADER=1 cargo build`.

#[test]
fn committed_header_equals_generated() {
    let generated = std::fs::read_to_string(concat!(env!("OUT_DIR"), "/edgeclass.h"))
        .expect("build.rs did not generate the header (see the cargo warning)");
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/edgeclass.h"))
            .unwrap();
    assert!(
        generated == committed,
        "include/edgeclass.h is stale: regenerate it with `EDGECLASS_UPDATE_HEADER=1 cargo build` and commit it"
    );
}
