//! The command uploader, a shell command per sample: `edgeclass feedback drain --command CMD`
//! and `edgeclass serve --feedback-upload-command CMD` both run it. The binary's alone (the
//! library does not start processes), so it lives here rather than in the library's feedback
//! module.

use std::sync::Arc;

use edgeclass::feedback::{Sample, UploadError, Uploader};
use serde_json::Map;

/// An uploader that runs `sh -c COMMAND` per sample: the input bytes on its standard input, the
/// rest in the environment (`EDGECLASS_SAMPLE_ID`, `EDGECLASS_CONFIG_ID`,
/// `EDGECLASS_CONTENT_TYPE`, `EDGECLASS_S3_BUCKET`, `EDGECLASS_S3_KEY`, `EDGECLASS_SOURCE_REF`,
/// `EDGECLASS_SAMPLE_JSON` = the header with prediction and metadata). Exit status 0 = uploaded.
/// The command's standard output goes to this process's standard error.
pub fn command_uploader(command: &str) -> Uploader {
    let command = command.to_string();
    Arc::new(move |s: &Sample| {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let fail = |message: String| UploadError {
            error: "CommandFailed".into(),
            message,
        };
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .env("EDGECLASS_SAMPLE_ID", &s.id)
            .env("EDGECLASS_CONFIG_ID", &s.config_id)
            .env("EDGECLASS_CONTENT_TYPE", &s.content_type)
            .env("EDGECLASS_S3_BUCKET", &s.bucket)
            .env("EDGECLASS_S3_KEY", &s.key)
            .env("EDGECLASS_SOURCE_REF", s.source_ref())
            .env("EDGECLASS_SAMPLE_JSON", s.header().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::from(std::io::stderr()))
            .spawn()
            .map_err(|e| fail(format!("cannot run sh -c {command:?}: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A command that does not read its input closes the pipe early: not an error here,
            // its exit status decides.
            let _ = stdin.write_all(&s.input);
        }
        let status = child
            .wait()
            .map_err(|e| fail(format!("waiting for {command:?}: {e}")))?;
        if status.success() {
            Ok(Map::new())
        } else {
            Err(fail(format!("{command:?} exited with {status}")))
        }
    })
}
