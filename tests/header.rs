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

/// The header compiles on its own as strict C99 and as C++ (a C compiler is needed; CI has gcc).
#[test]
fn header_compiles_as_c99_and_cpp() {
    let header = concat!(env!("CARGO_MANIFEST_DIR"), "/include/edgeclass.h");
    for (compiler, lang, std) in [("cc", "c", "-std=c99"), ("c++", "c++", "-std=c++11")] {
        let out = std::process::Command::new(compiler)
            .args([
                std,
                "-Wall",
                "-Wextra",
                "-Werror",
                "-pedantic",
                "-fsyntax-only",
                "-x",
                lang,
                header,
            ])
            .output();
        match out {
            Ok(o) => assert!(
                o.status.success(),
                "{compiler} rejects include/edgeclass.h:\n{}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("SKIPPED {compiler} check of the header: {e}"),
        }
    }
}
