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

/// The header without comments, preprocessor lines and the C++ `extern "C" { }` around the
/// functions, as one line of single-spaced tokens.
fn declarations(header: &str) -> String {
    header
        .lines()
        .map(|l| l.split_once("//").map_or(l, |(code, _)| code).trim())
        .filter(|l| !l.starts_with('#') && *l != "extern \"C\" {" && *l != "}")
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Statements up to each `;` outside braces, so a struct and its fields are one statement.
fn statements_of(decls: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, ch) in decls.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ';' if depth == 0 => {
                out.push(decls[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out
}

/// `#define NAME VALUE` and enum `NAME = VALUE,` lines, as (name, value).
fn constants(header: &str) -> Vec<(String, String)> {
    header
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let (name, value) = match l.strip_prefix("#define ") {
                Some(d) => d.split_once(' ')?,
                None => l.trim_end_matches(',').split_once(" = ")?,
            };
            Some((name.trim().to_string(), value.trim().to_string()))
        })
        .collect()
}

/// The C ABI only grows: every `#define`, enum value, function prototype and struct of the
/// header of commit fb23133 (`ffi-tests/abi/baseline-fb23133.h`, the last before the C layer
/// was reshaped) is in today's header unchanged. ffi-tests/abi-check.sh checks the binary with
/// abidiff.
#[test]
fn the_baseline_header_is_still_declared() {
    let root = env!("CARGO_MANIFEST_DIR");
    let old = std::fs::read_to_string(format!("{root}/ffi-tests/abi/baseline-fb23133.h")).unwrap();
    let new = std::fs::read_to_string(format!("{root}/include/edgeclass.h")).unwrap();
    let new_constants = constants(&new);
    let old_constants = constants(&old);
    for c in &old_constants {
        assert!(
            new_constants.contains(c),
            "the baseline's {c:?} is gone or changed"
        );
    }
    // Prototypes and struct bodies: every statement (up to `;`) of the baseline that declares a
    // function or holds a struct's fields must appear, token for token, in today's header.
    let new_decls = declarations(&new);
    let mut statements = 0;
    for statement in statements_of(&declarations(&old)) {
        // Enums grow by design; their values are checked above, one by one.
        let declares = statement.contains('(') || statement.contains('{');
        if declares && !statement.starts_with('#') && !statement.contains("enum ") {
            assert!(
                new_decls.contains(statement),
                "the baseline's declaration is gone or changed: {statement}"
            );
            statements += 1;
        }
    }
    assert!(
        old_constants.len() >= 28 && statements >= 40,
        "only {} constants and {statements} declarations read from the baseline",
        old_constants.len()
    );
}

/// Every name the header declares is edgeclass's own (`edgeclass_*`, `EDGECLASS_*`): cbindgen
/// reads every public item of the crate, and a Rust constant outside src/ffi once slipped in
/// (the budget estimates, `EST_*`).
#[test]
fn the_header_declares_only_edgeclass_names() {
    let header =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/edgeclass.h"))
            .unwrap();
    let mut foreign = Vec::new();
    for line in header.lines() {
        let name = if let Some(pointer) = line
            .strip_prefix("typedef ")
            .and_then(|t| t.split_once("(*"))
        {
            // A function pointer type: `typedef R (*name)(...)`.
            pointer.1.split(')').next()
        } else if let Some(rest) = line.strip_prefix("#define ") {
            rest.split_whitespace().next()
        } else if let Some(rest) = line
            .strip_prefix("typedef struct ")
            .or_else(|| line.strip_prefix("struct "))
            .or_else(|| line.strip_prefix("enum "))
        {
            rest.split(|c: char| !c.is_alphanumeric() && c != '_')
                .next()
        } else if !line.starts_with([' ', '/', '#', '}', '{']) && line.contains('(') {
            // A function declaration: the name before the parenthesis.
            line.split('(')
                .next()
                .and_then(|d| d.split_whitespace().last())
        } else {
            None
        };
        if let Some(n) = name {
            let n = n.trim_start_matches('*');
            if !(n.starts_with("edgeclass_") || n.starts_with("EDGECLASS_")) {
                foreign.push(line.to_string());
            }
        }
    }
    assert!(foreign.is_empty(), "not edgeclass's: {foreign:#?}");
}
