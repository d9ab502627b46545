//! `edgeclass`: the command-line face of the library (a thin layer over it).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use edgeclass::answer::connector_body;
use edgeclass::error::{bad_tensor, invalid_argument};
use edgeclass::image::Preprocessor;
use edgeclass::model::{top_k, ImportedModel, Model};
use edgeclass::npy::{f32_from_le_bytes, Npy};
use edgeclass::{Classifier, Error, Result};

mod args;
#[cfg(feature = "serve")]
mod logger;
#[cfg(feature = "serve")]
mod serve;
mod upload;
use args::{
    BenchArgs, ClassifyArgs, Cli, Command, ConvertArgs, DrainArgs, FeedbackCommand, ModelArg,
};

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Info(args) => info(&args),
        Command::Classify(args) => classify(&args),
        Command::Convert(args) => convert(&args),
        Command::Bench(args) if args.json => bench_json(&args),
        Command::Bench(args) => bench(&args),
        Command::Feedback(FeedbackCommand::Drain(args)) => return drain(&args),
        #[cfg(feature = "serve")]
        Command::Serve(args) => return serve::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edgeclass: error: {e}");
            ExitCode::from(1)
        }
    }
}

fn info(args: &ModelArg) -> Result<()> {
    let t0 = Instant::now();
    let imported = load_model(args.path()?, ImportedModel::load)?;
    let import = t0.elapsed();
    let i = &imported.info;
    println!("model:       {} ({})", i.origin, i.format);
    println!("files:       {}", i.files.join(", "));
    let [_, c, h, w] = i.input_shape;
    println!("input:       data [1, {c}, {h}, {w}] float32 (C, H, W = {c}, {h}, {w})");
    println!("classes:     {}", i.classes);
    if let Some(labels) = &imported.labels {
        let shown: Vec<&str> = labels.iter().take(5).map(String::as_str).collect();
        println!(
            "labels:      {}{}",
            shown.join(", "),
            if labels.len() > 5 { ", ..." } else { "" }
        );
    }
    match i.epoch {
        Some(e) => println!("epoch:       {e}"),
        None => println!("epoch:       unknown"),
    }
    if let Some(v) = i.mxnet_version {
        println!(
            "mxnet:       {}.{}.{} (symbol written by)",
            v / 10000,
            v / 100 % 100,
            v % 100
        );
    }
    println!("parameters:  {}", i.parameter_count);
    println!("weights:     {} bytes (f32)", i.weight_bytes);
    println!(
        "logits:      {}",
        if i.has_logits {
            "yes (softmax head)"
        } else {
            "no"
        }
    );
    println!("operators:");
    for (op, n) in &i.operators {
        println!("  {op:<20} {n}");
    }
    println!("import:      {:.1} ms", import.as_secs_f64() * 1e3);
    Ok(())
}

/// Read an input file (an image or a tensor). A file that cannot be read is a bad argument, not
/// a missing model (the library's `io` error says MODEL_NOT_FOUND for a missing file).
fn read_input(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| invalid_argument(format!("{what} {}: cannot read it: {e}", path.display())))
}

/// Load the model at `path` with `load`; when nothing loads from a directory that holds an
/// archive (a SageMaker `model.tar.gz` unpacked into its own folder, say), name the archive.
fn load_model<T>(path: &Path, load: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    let model = load(path).map_err(|e| {
        if e.code != edgeclass::Code::ModelNotFound || !path.is_dir() {
            return e;
        }
        let archives: Vec<String> = std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                p.is_file()
                    && [".tar.gz", ".tgz", ".tar"]
                        .iter()
                        .any(|x| name.ends_with(x))
            })
            .map(|p| p.display().to_string())
            .collect();
        if archives.is_empty() {
            e
        } else {
            let message = format!(
                "{}; this folder holds {}: pass that file as --model",
                e.message,
                archives.join(", ")
            );
            Error::new(e.code, message)
        }
    })?;
    warn_unread_labels(path);
    Ok(model)
}

/// An archive is the whole model: its labels come from its own `labels.txt` member, as the
/// service reads it, never from a file that happens to lie beside it (another model's labels
/// with the same class count would be printed without a word). But a user who put labels.txt
/// next to SageMaker's model.tar.gz expects it read, so say that it is not, and what to do.
fn warn_unread_labels(model: &Path) {
    if !model.is_file() {
        return;
    }
    let beside = model.with_file_name("labels.txt");
    if beside.is_file() {
        eprintln!(
            "edgeclass: warning: {} is not read: the labels of {} come only from a labels.txt \
             inside it; add the file to the archive, or unpack the archive into a folder, put \
             labels.txt there and pass the folder as --model",
            beside.display(),
            model.display()
        );
    }
}

/// Read an input tensor: `.npy` float32, or raw little-endian f32; `len` values expected.
fn read_tensor(path: &Path, len: usize) -> Result<Vec<f32>> {
    let bytes = read_input(path, "--tensor")?;
    let values = if bytes.starts_with(b"\x93NUMPY") {
        Npy::parse(&bytes)?.to_f32()?
    } else {
        if bytes.len() % 4 != 0 {
            return Err(bad_tensor(format!(
                "{}: {} bytes is not a whole number of f32 values",
                path.display(),
                bytes.len()
            )));
        }
        f32_from_le_bytes(&bytes)
    };
    if values.len() != len {
        return Err(bad_tensor(format!(
            "{}: holds {} values; the model takes {len}",
            path.display(),
            values.len()
        )));
    }
    Ok(values)
}

fn classify(args: &ClassifyArgs) -> Result<()> {
    if args.tensors.is_empty() && args.images.is_empty() {
        return Err(invalid_argument(
            "classify needs IMAGE files or --tensor FILE",
        ));
    }
    let options = args.run.options()?;
    let model = load_model(args.model.path()?, |p| Model::load(p, &options))?;
    let mut classifier = Classifier::new(Arc::new(model), args.decode.options())?;
    let inputs = args.tensors.len() + args.images.len();
    let many = inputs > 1;
    let content_type = args.decode.content_type();
    // Every input gets its answer or its error; one bad file does not hide the others' answers.
    let mut failed: Option<(usize, Error)> = None;
    for path in args.images.iter().chain(&args.tensors) {
        let is_tensor = args.tensors.contains(path);
        let mut one = || -> Result<()> {
            let out = if is_tensor {
                let input = read_tensor(path, classifier.model().info.input_len())?;
                classifier.classify_tensor(&input)
            } else {
                let bytes = read_input(path, "image")?;
                classifier.classify(content_type, &bytes)
            }
            .map_err(|e: Error| e.context(path.display()))?;
            match args.top {
                None if many => println!("{}: {}", path.display(), connector_body(&out.probs)),
                None => println!("{}", connector_body(&out.probs)),
                Some(k) => {
                    if many {
                        println!("{}:", path.display());
                    }
                    for (rank, (i, label, p)) in classifier.top(&out.probs, k).iter().enumerate() {
                        let label = label.map_or(String::new(), |l| format!(" \"{l}\""));
                        println!("{:>3}. class {i}{label}: {p}", rank + 1);
                    }
                }
            }
            Ok(())
        };
        if let Err(e) = one() {
            if !many {
                return Err(e);
            }
            eprintln!("edgeclass: error: {e}");
            let count = failed.as_ref().map_or(0, |(n, _)| *n) + 1;
            failed = Some((count, failed.map_or(e, |(_, first)| first)));
        }
    }
    match failed {
        None => Ok(()),
        Some((count, first)) => Err(Error::new(
            first.code,
            format!(
                "{count} of {inputs} inputs failed (each above); the first: {}",
                first.message
            ),
        )),
    }
}

fn convert(args: &ConvertArgs) -> Result<()> {
    let out = args
        .out
        .as_ref()
        .ok_or_else(|| invalid_argument("convert needs --out FILE.nnef.tgz"))?;
    let imported = load_model(args.model.path()?, ImportedModel::load)?;
    imported.save_nnef(out)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

/// Median and minimum of `runs` timed calls of `f` (after 3 warm-up calls), in milliseconds.
fn time_ms(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<(f64, f64)> {
    for _ in 0..3 {
        f()?;
    }
    let mut t = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t0 = Instant::now();
        f()?;
        t.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    t.sort_by(f64::total_cmp);
    Ok((t[t.len() / 2], t[0]))
}

/// Per-stage timings on this machine, for users comparing boards.
fn bench(args: &BenchArgs) -> Result<()> {
    let path = args.model.path()?;
    let options = args.run.options()?;
    let t0 = Instant::now();
    let imported = load_model(path, ImportedModel::load)?;
    let import = t0.elapsed();
    let t1 = Instant::now();
    let model = imported.into_model_with_options(&options)?;
    let optimize = t1.elapsed();
    let [_, c, h, w] = model.info.input_shape;
    println!(
        "model {} ({}x{}x{}, {} classes), {} thread(s) per inference",
        model.info.origin,
        c,
        h,
        w,
        model.info.classes,
        model.threads()
    );
    println!("{:<28} {:>10} {:>10}", "stage", "median ms", "min ms");
    println!(
        "{:<28} {:>10.2} {:>10}",
        "load: read + import",
        import.as_secs_f64() * 1e3,
        "-"
    );
    println!(
        "{:<28} {:>10.2} {:>10}",
        "load: optimise",
        optimize.as_secs_f64() * 1e3,
        "-"
    );
    let mut state = model.new_state()?;
    let mut input: Vec<f32> = (0..model.info.input_len())
        .map(|i| (i * 7 % 256) as f32)
        .collect();
    if let Some(image) = &args.image {
        let bytes = read_input(image, "image")?;
        let ct = args.decode.content_type();
        let mut pre = Preprocessor::new(c, h, w, args.decode.options())?;
        let stats = pre.preprocess(ct, &bytes, &mut input)?;
        println!(
            "image {} ({}x{} {})",
            image.display(),
            stats.decoded_width,
            stats.decoded_height,
            stats.format.name()
        );
        let mut decode = Vec::new();
        let mut resize = Vec::new();
        let (all, all_min) = time_ms(args.runs, || {
            let s = pre.preprocess(ct, &bytes, &mut input)?;
            decode.push(s.decode_us as f64 / 1e3);
            resize.push(s.resize_us as f64 / 1e3);
            Ok(())
        })?;
        for (name, mut v) in [("decode (+ EXIF)", decode), ("resize + tensor", resize)] {
            v.sort_by(f64::total_cmp);
            println!("{name:<28} {:>10.3} {:>10.3}", v[v.len() / 2], v[0]);
        }
        println!("{:<28} {all:>10.3} {all_min:>10.3}", "decode + preprocess");
    }
    let (inf, inf_min) = time_ms(args.runs, || model.run(&mut state, &input).map(|_| ()))?;
    println!("{:<28} {inf:>10.3} {inf_min:>10.3}", "inference");
    if args.profile {
        let mut nodes = model.profile(&mut state, &input)?;
        // Per operator kind first: where a board spends its time, whatever the layer names.
        let mut kinds: std::collections::BTreeMap<&str, (Duration, usize)> = Default::default();
        for (_, op, t) in &nodes {
            let k = kinds.entry(op.as_str()).or_default();
            k.0 += *t;
            k.1 += 1;
        }
        let total: Duration = kinds.values().map(|k| k.0).sum();
        let mut kinds: Vec<_> = kinds.into_iter().collect();
        kinds.sort_by_key(|k| std::cmp::Reverse(k.1 .0));
        println!(
            "time per operator kind (one run, {:.3} ms):",
            total.as_secs_f64() * 1e3
        );
        for (op, (t, n)) in &kinds {
            println!(
                "  {:>8.3} ms  {:>5.1} %  {op:<24} {n} node(s)",
                t.as_secs_f64() * 1e3,
                100.0 * t.as_secs_f64() / total.as_secs_f64().max(1e-9)
            );
        }
        nodes.sort_by_key(|n| std::cmp::Reverse(n.2));
        println!("slowest nodes (one run):");
        for (name, op, t) in nodes.iter().take(10) {
            println!("  {:>8.3} ms  {op:<24} {name}", t.as_secs_f64() * 1e3);
        }
    }
    Ok(())
}

/// End to end, as the connector served it: image bytes → probabilities, on one service worker.
/// Prints `FIRST <ms since process start>` when the first answer exists, then one JSON line.
fn bench_json(args: &BenchArgs) -> Result<()> {
    use std::io::Write;
    let image = args
        .image
        .as_ref()
        .ok_or_else(|| invalid_argument("bench --json needs an IMAGE"))?;
    let t0 = Instant::now();
    let options = args.run.options()?;
    let model = load_model(args.model.path()?, |p| Model::load(p, &options))?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let bytes = read_input(image, "image")?;
    let ct = args.decode.content_type();
    let mut classifier = Classifier::new(Arc::new(model), args.decode.options())?;
    let mut classify = || -> Result<Vec<f32>> { Ok(classifier.classify(ct, &bytes)?.probs) };
    let t1 = Instant::now();
    let first = classify()?;
    let first_ms = t1.elapsed().as_secs_f64() * 1e3;
    println!("FIRST {:.3}", first_ms);
    let _ = std::io::stdout().flush();
    let (median, min) = time_ms(args.runs, || classify().map(|_| ()))?;
    println!(
        "{{\"engine\": \"edgeclass\", \"threads\": {}, \"load_ms\": {load_ms:.3}, \"first_ms\": {first_ms:.3}, \"median_ms\": {median:.3}, \"min_ms\": {min:.3}, \"runs\": {}, \"top1\": {}}}",
        options.threads,
        args.runs,
        top_k(&first, 1)[0]
    );
    Ok(())
}

/// `edgeclass feedback drain DIR --command CMD [--max N]`.
fn drain(args: &DrainArgs) -> ExitCode {
    let (dir, command, max) = (&args.dir, &args.command, args.max);
    use edgeclass::feedback::{self, message};
    let result = feedback::Spool::open(dir, u64::MAX, u64::MAX).and_then(|spool| {
        feedback::drain_spool(
            &spool,
            &upload::command_uploader(
                command,
                args.timeout.map(std::time::Duration::from_secs_f64),
            ),
            max,
            |s, _| {
                let m =
                    message::prediction(&s.source_ref(), &s.prediction, &s.config_id, &s.metadata);
                println!("{m}");
            },
            |_, _| {},
        )
    });
    match result {
        Ok(r) => {
            eprintln!(
                "edgeclass: uploaded {} sample(s){}",
                r.uploaded,
                if r.corrupt > 0 {
                    format!(", {} corrupt sample(s) moved aside", r.corrupt)
                } else {
                    String::new()
                }
            );
            match r.failed {
                Some(e) => {
                    eprintln!("edgeclass: error: {}: {}", e.error, e.message);
                    ExitCode::from(1)
                }
                None => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            eprintln!("edgeclass: error: {e}");
            ExitCode::from(1)
        }
    }
}
