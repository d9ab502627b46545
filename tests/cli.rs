//! The CLI's handling of inputs, as a new user meets it: a missing image is an argument error
//! (it was reported as MODEL_NOT_FOUND), several images each get an answer or an error and the
//! exit status is 1 when any failed (it stopped at the first bad one), and a folder that holds a
//! model archive names it.

mod common;

const EXE: &str = env!("CARGO_BIN_EXE_edgeclass");
const MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-trained");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn run(args: &[&str]) -> (i32, String, String) {
    let out = common::target_command(EXE).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The class with the highest probability in a connector body `[p0,p1,...]`.
fn top1(body: &str) -> usize {
    let probs: Vec<f32> = body
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|p| p.parse().unwrap())
        .collect();
    (0..probs.len())
        .max_by(|&a, &b| probs[a].total_cmp(&probs[b]))
        .unwrap()
}

#[test]
fn a_missing_image_is_an_argument_error() {
    let (code, out, err) = run(&["classify", "--model", MODEL, "/nonexistent/x.png"]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.contains("image /nonexistent/x.png: cannot read it")
            && err.contains("(INVALID_ARGUMENT)"),
        "{err}"
    );
    let (code, _, err) = run(&[
        "classify",
        "--model",
        MODEL,
        "--tensor",
        "/nonexistent/t.npy",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("--tensor /nonexistent/t.npy") && err.contains("(INVALID_ARGUMENT)"),
        "{err}"
    );
}

#[test]
fn every_input_is_answered_even_after_a_bad_one() {
    // The digits' true classes are in their names (label3, label5).
    let a = format!("{MODEL}/images/digit07_label3_28x28.png");
    let b = format!("{MODEL}/images/digit11_label5_14x14.png");
    let bad = format!("{FIXTURES}/images/random_bytes.jpg");
    let (code, out, err) = run(&["classify", "--model", MODEL, &a, "/nope.jpg", &bad, &b]);
    assert_eq!(code, 1, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with(&format!("{a}: [")) && top1(lines[0].split_once(": ").unwrap().1) == 3
    );
    assert!(
        lines[1].starts_with(&format!("{b}: [")) && top1(lines[1].split_once(": ").unwrap().1) == 5
    );
    assert!(err.contains("/nope.jpg: cannot read it"), "{err}");
    assert!(err.contains("(UNSUPPORTED_IMAGE_FORMAT)"), "{err}");
    assert!(err.contains("2 of 4 inputs failed"), "{err}");
    // All good: exit 0.
    let (code, out, _) = run(&["classify", "--model", MODEL, &a, &b]);
    assert_eq!((code, out.lines().count()), (0, 2));
}

#[test]
fn a_folder_holding_an_archive_names_it() {
    let dir = std::env::temp_dir().join(format!("edgeclass-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let archive = std::fs::read_dir(format!("{FIXTURES}/slim"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("model.tar.gz"))
        .find(|p| p.is_file())
        .expect("a slim model.tar.gz");
    std::fs::copy(&archive, dir.join("model.tar.gz")).unwrap();
    let (code, _, err) = run(&["info", "--model", dir.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 1);
    assert!(err.contains("(MODEL_NOT_FOUND)"), "{err}");
    assert!(
        err.contains("model.tar.gz: pass that file as --model"),
        "{err}"
    );
}
