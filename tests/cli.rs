//! The CLI's handling of inputs, as a new user meets it: a missing image is an argument error
//! (it was reported as MODEL_NOT_FOUND), several images each get an answer or an error and the
//! exit status is 1 when any failed (it stopped at the first bad one), a folder that holds a
//! model archive names it, and a labels.txt beside an archive is said to be unread (it was
//! silently ignored). And its arguments: `--help` for every command, `--version`, exit 2 for a
//! usage error.

mod common;

const EXE: &str = env!("CARGO_BIN_EXE_edgeclass");
const MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-trained");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn run(args: &[&str]) -> (i32, String, String) {
    run_env(&[], args)
}

/// `run` with `env` added to the CLI's environment.
fn run_env(env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut cmd = common::target_command(EXE);
    cmd.envs(env.iter().copied());
    let out = cmd.args(args).output().unwrap();
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

/// Every command answers `--help` on stdout with exit 0, naming each of its options with the
/// spelling the hand-written parser had.
#[test]
fn every_command_has_help() {
    let mut commands: Vec<(&[&str], &[&str])> = vec![
        (&["info"], &["--model"]),
        (
            &["classify"],
            &[
                "--model",
                "[IMAGE]...",
                "--tensor",
                "--top",
                "--threads",
                "--content-type",
                "--no-exif",
                "--strict",
                "--jpeg-decoder",
                "libjpeg-turbo",
            ],
        ),
        (&["convert"], &["--model", "--out"]),
        (
            &["bench"],
            &[
                "--model",
                "[IMAGE]",
                "--runs",
                "--profile",
                "--threads",
                "--json",
                "--jpeg-decoder",
            ],
        ),
        (&["feedback"], &["drain"]),
        (&["feedback", "drain"], &["<DIR>", "--command", "--max"]),
    ];
    if cfg!(feature = "serve") {
        commands.push((
            &["serve"],
            &[
                "--config",
                "--socket",
                "EDGECLASS_SOCKET",
                "/run/edgeclass/edgeclass.sock",
                "--http",
                "--http-allow-remote",
                "--header-read-timeout",
                "--max-connections",
            ],
        ));
    }
    for (command, options) in &commands {
        for help in ["--help", "-h"] {
            let args: Vec<&str> = command.iter().copied().chain([help]).collect();
            let (code, out, err) = run(&args);
            assert_eq!(code, 0, "{args:?}: {err}");
            let usage = format!("Usage: edgeclass {}", command.join(" "));
            assert!(out.contains(&usage), "{args:?}: {out}");
            for option in *options {
                assert!(out.contains(option), "{args:?} lacks {option}: {out}");
            }
        }
    }
    // `help COMMAND` says the same as `COMMAND --help`.
    assert_eq!(run(&["help", "classify"]), run(&["classify", "--help"]));
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    let serve = cfg!(feature = "serve").then_some("serve");
    for command in ["info", "classify", "convert", "bench", "feedback"]
        .into_iter()
        .chain(serve)
    {
        assert!(out.contains(&format!("  {command} ")), "{out}");
    }
    assert!(out.contains("Exit status: 0 success, 1 error"), "{out}");
}

#[test]
fn version_is_the_crate_version() {
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        format!("edgeclass {}", env!("CARGO_PKG_VERSION"))
    );
}

/// A usage error exits 2 and says what was wrong; an error the command finds (a missing
/// --model, as before) exits 1 with its code name.
#[test]
fn usage_errors_exit_2() {
    let image = format!("{MODEL}/images/digit07_label3_28x28.png");
    let cases: &[(&[&str], &str)] = &[
        (&["classify", "--model", MODEL, "--bogus"], "'--bogus'"),
        // A misspelt option is named with its likely meaning.
        (
            &["classify", "--model", MODEL, "--thread", "2"],
            "'--threads'",
        ),
        (&["info", "--model", MODEL, "--top", "3"], "'--top'"),
        (
            &["classify", "--model", MODEL, "--top", "0"],
            "not a positive integer",
        ),
        (
            &["bench", "--model", MODEL, "--runs", "x"],
            "not a positive integer",
        ),
        (&["classify", "--jpeg-decoder", "opencv", &image], "opencv"),
        (&["classify", "--model"], "--model <PATH>"),
        (&["frobnicate"], "'frobnicate'"),
        (&[], "Usage: edgeclass <COMMAND>"),
        (&["feedback", "drain", "/tmp"], "--command <CMD>"),
        (
            &[
                "feedback",
                "drain",
                "/tmp",
                "--command",
                "true",
                "--max",
                "-1",
            ],
            "'-1'",
        ),
    ];
    for (args, says) in cases {
        let (code, out, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let (code, _, err) = run(&["classify", &image]);
    assert_eq!(code, 1);
    assert!(
        err.contains("--model PATH is required") && err.contains("(INVALID_ARGUMENT)"),
        "{err}"
    );
}

/// `--tensor` takes every value up to the next option, as the hand-written parser did.
#[test]
fn tensor_takes_several_files() {
    let t = |name: &str| format!("{MODEL}/inputs/tiny-trained__images__{name}.npy");
    let (a, b) = (t("digit07_label3_28x28.png"), t("digit11_label5_14x14.png"));
    let (code, out, err) = run(&[
        "classify", "--model", MODEL, "--tensor", &a, &b, "--top", "1",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[0], format!("{a}:"));
    assert!(lines[1].starts_with("  1. class 3 \"3\": "), "{out}");
    assert_eq!(lines[2], format!("{b}:"));
    assert!(lines[3].starts_with("  1. class 5 \"5\": "), "{out}");
}

/// A labels.txt beside a model archive is not read (the archive is the model, as the service
/// loads it); the CLI says so instead of silently printing no labels.
#[test]
fn labels_beside_an_archive_are_named_as_unread() {
    let dir = std::env::temp_dir().join(format!("edgeclass-cli-labels-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let archive = dir.join("model.tar.gz");
    std::fs::copy(
        format!("{FIXTURES}/slim/r18-slim-tar/model.tar.gz"),
        &archive,
    )
    .unwrap();
    let model = archive.to_str().unwrap();
    let image = format!("{MODEL}/images/digit07_label3_28x28.png");
    // Without a labels.txt beside it: no warning.
    let (code, out, err) = run(&["classify", "--model", model, &image, "--top", "1"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "{err}");
    let unlabelled = out.clone();
    let labels: String = (0..10).map(|i| format!("label-{i}\n")).collect();
    std::fs::write(dir.join("labels.txt"), labels).unwrap();
    let (code, out, err) = run(&["classify", "--model", model, &image, "--top", "1"]);
    let (info_code, info, info_err) = run(&["info", "--model", model]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "{err}");
    // Same answer, still without labels, and a warning that names both files.
    assert_eq!(out, unlabelled);
    assert!(!out.contains("label-"), "{out}");
    let warning = format!(
        "warning: {} is not read: the labels of {model} come only from a labels.txt inside it",
        dir.join("labels.txt").display()
    );
    assert!(err.contains(&warning), "{err}");
    assert_eq!(info_code, 0, "{info_err}");
    assert!(!info.contains("labels:"), "{info}");
    assert!(info_err.contains(&warning), "{info_err}");
}

#[test]
fn winograd_modes_answer_alike_and_an_unknown_mode_is_refused() {
    let image = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tiny-trained/images/digit07_label3_28x28.png"
    );
    // The label in the file name is the reference.
    for mode in ["off", "lean", "fast", "0", "1"] {
        let (code, out, err) = run(&["classify", "--model", MODEL, "--winograd", mode, image]);
        assert_eq!(code, 0, "--winograd {mode}: {err}");
        assert_eq!(top1(&out), 3, "--winograd {mode}: {out}");
    }
    let (code, out, err) = run(&["classify", "--model", MODEL, "--winograd", "quick", image]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.contains("--winograd") && err.contains("(INVALID_ARGUMENT)"),
        "{err}"
    );
    // The environment is the CLI's default, read by the CLI and checked the same way (an
    // unknown value used to be taken silently as the default).
    let classify = ["classify", "--model", MODEL, image];
    let (code, _, err) = run_env(&[("EDGECLASS_WINOGRAD", "bogus")], &classify);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("EDGECLASS_WINOGRAD") && err.contains("bogus"),
        "{err}"
    );
    let (_, out, _) = run_env(&[("EDGECLASS_WINOGRAD", "off")], &classify);
    assert_eq!(top1(&out), 3);
}
