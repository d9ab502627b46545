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

/// The C enum is generated from the one list of codes (src/status_codes.rs); the committed
/// src/ffi/status.rs must be what build.rs makes of it.
#[test]
fn committed_status_enum_equals_generated() {
    let generated = std::fs::read_to_string(concat!(env!("OUT_DIR"), "/status.rs")).unwrap();
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/ffi/status.rs")).unwrap();
    assert!(
        generated == committed,
        "src/ffi/status.rs is stale: regenerate it with `EDGECLASS_UPDATE_HEADER=1 cargo build` and commit it"
    );
}

/// `NAME = value` pairs of the header's `enum edgeclass_status`, in order.
fn header_statuses() -> Vec<(String, u32)> {
    let header =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/edgeclass.h"))
            .unwrap();
    let body = header
        .split_once("enum edgeclass_status\n")
        .and_then(|(_, rest)| rest.split_once("};"))
        .expect("enum edgeclass_status in the header")
        .0;
    body.lines()
        .filter_map(|l| {
            let (name, value) = l.trim().trim_end_matches(',').split_once(" = ")?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// Every `Code` is in the header under `EDGECLASS_` + its name with its number, and nothing else
/// is (but `EDGECLASS_OK = 0`); `edgeclass_status_name` answers the same names.
#[test]
fn header_status_enum_is_the_code_list() {
    use edgeclass::error::Code;
    let mut want = vec![("EDGECLASS_OK".to_string(), 0)];
    want.extend(
        Code::ALL
            .iter()
            .map(|&c| (format!("EDGECLASS_{}", c.name()), c as u32)),
    );
    assert_eq!(header_statuses(), want);
    for (name, value) in &want {
        // SAFETY: edgeclass_status_name returns a static NUL-terminated string.
        let got =
            unsafe { std::ffi::CStr::from_ptr(edgeclass::ffi::edgeclass_status_name(*value)) };
        assert_eq!(got.to_str().unwrap(), name);
    }
    // SAFETY: as above.
    let unknown = unsafe { std::ffi::CStr::from_ptr(edgeclass::ffi::edgeclass_status_name(1000)) };
    assert_eq!(unknown.to_str().unwrap(), "EDGECLASS_UNKNOWN_STATUS");
}

/// The Python binding's constants (`python/edgeclass/_api.py`) are the header's statuses, and
/// the package exports each of them.
#[test]
fn python_status_constants_equal_the_header() {
    let root = env!("CARGO_MANIFEST_DIR");
    let api = std::fs::read_to_string(format!("{root}/python/edgeclass/_api.py")).unwrap();
    let table = api
        .split_once("# Status codes of include/edgeclass.h")
        .and_then(|(_, rest)| rest.split_once("#: Every status code"))
        .expect("the status table in _api.py")
        .0;
    let python: Vec<(String, u32)> = table
        .lines()
        .filter_map(|l| {
            let (name, value) = l.split_once(" = ")?;
            Some((
                format!("EDGECLASS_{}", name.trim()),
                value.trim().parse().ok()?,
            ))
        })
        .collect();
    assert_eq!(python, header_statuses());
    let init = std::fs::read_to_string(format!("{root}/python/edgeclass/__init__.py")).unwrap();
    for (name, _) in &python {
        let short = name.trim_start_matches("EDGECLASS_");
        assert!(
            init.contains(&format!("'{short}'")) && init.contains(&format!(" {short},")),
            "python/edgeclass/__init__.py does not import and export {short}"
        );
    }
}
