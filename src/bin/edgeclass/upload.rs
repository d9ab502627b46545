//! The command uploader, a shell command per sample: `edgeclass feedback drain --command CMD`
//! and `edgeclass serve --feedback-upload-command CMD` both run it. The binary's alone (the
//! library does not start processes), so it lives here rather than in the library's feedback
//! module.

use std::sync::Arc;
use std::time::{Duration, Instant};

use edgeclass::feedback::{Sample, UploadError, Uploader};
use serde_json::Map;

/// An uploader that runs `sh -c COMMAND` per sample: the input bytes on its standard input, the
/// rest in the environment (`EDGECLASS_SAMPLE_ID`, `EDGECLASS_CONFIG_ID`,
/// `EDGECLASS_CONTENT_TYPE`, `EDGECLASS_S3_BUCKET`, `EDGECLASS_S3_KEY`, `EDGECLASS_SOURCE_REF`,
/// `EDGECLASS_SAMPLE_JSON` = the header with prediction and metadata). Exit status 0 = uploaded.
/// The command's standard output goes to this process's standard error. With `timeout`, the
/// command runs in a process group of its own, killed whole (SIGKILL) if it still runs after
/// `timeout`, and the upload fails with `CommandTimedOut`: a stalled upload must not hold the
/// connector's uploads forever.
pub fn command_uploader(command: &str, timeout: Option<Duration>) -> Uploader {
    let command = command.to_string();
    Arc::new(move |s: &Sample| {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let fail = |error: &str, message: String| UploadError {
            error: error.into(),
            message,
        };
        let mut cmd = Command::new("sh");
        if timeout.is_some() {
            // Its own process group, so that a timeout kills what it started too: a killed `sh`
            // leaves its children running, holding the pipes (and the upload) open.
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        }
        let mut child = cmd
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
            .map_err(|e| {
                fail(
                    "CommandFailed",
                    format!("cannot run sh -c {command:?}: {e}"),
                )
            })?;
        let started = Instant::now();
        // On a thread of its own: a command that reads nothing fills the pipe and would block
        // this write past the timeout. A command that does not read its input closes the pipe
        // early: not an error here, its exit status decides.
        let writer = child.stdin.take().map(|mut stdin| {
            let input = s.input.clone();
            std::thread::spawn(move || {
                let _ = stdin.write_all(&input);
            })
        });
        let mut pause = Duration::from_millis(1);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => {
                    return Err(fail(
                        "CommandFailed",
                        format!("waiting for {command:?}: {e}"),
                    ))
                }
            }
            if let Some(t) = timeout.filter(|t| started.elapsed() >= *t) {
                // The group's id is the child's pid (process_group(0)); sh's `kill` takes a
                // negative pid for a group, without unsafe code here.
                let _ = Command::new("sh")
                    .arg("-c")
                    .arg(format!("kill -KILL -{}", child.id()))
                    .stderr(Stdio::null())
                    .status();
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(
                    "CommandTimedOut",
                    format!("{command:?} did not finish within {t:?}: killed"),
                ));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        };
        // Not joined: a background process of the command may still hold the pipe; the writer
        // ends when the last holder closes it.
        drop(writer);
        if status.success() {
            Ok(Map::new())
        } else {
            Err(fail(
                "CommandFailed",
                format!("{command:?} exited with {status}"),
            ))
        }
    })
}
