//! Model load and inference timings (a small harness: `cargo bench --bench model`).
//!
//! For each model: import (read + parse + build the graph), optimise (tract declutter + codegen +
//! plan), and steady-state inference (median and min of timed runs after warm-up), batch 1, with
//! tract's convolutions and with Winograd 3x3 convolutions (the mode EDGECLASS_WINOGRAD names, `lean`
//! by default, `fast` for more), run interleaved (ratio = wino / off).
//! EDGECLASS_BENCH_THREADS=N runs N threads per inference (needs `--features multithread`);
//! EDGECLASS_BENCH_ONLY=off|wino with EDGECLASS_BENCH_ITERS=N runs one variant N times, nothing
//! else (for callgrind). Models: tests/fixtures/tiny-trained, slim/r50-slim, and the full-size pair when
//! scripts/make-full-models.sh has made them. EDGECLASS_BENCH_MODELS=path1:path2 overrides.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use edgeclass::model::{ImportedModel, Model, ModelOptions, WinogradMode};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let models: Vec<PathBuf> = match std::env::var("EDGECLASS_BENCH_MODELS") {
        Ok(list) => list.split(':').map(PathBuf::from).collect(),
        Err(_) => [
            "tiny-trained",
            "slim/r50-slim",
            "full/resnet18-224",
            "full/resnet50-224",
        ]
        .iter()
        .map(|m| root.join(m))
        .filter(|p| p.exists())
        .collect(),
    };
    let threads: usize = std::env::var("EDGECLASS_BENCH_THREADS")
        .ok()
        .map(|s| s.parse().expect("EDGECLASS_BENCH_THREADS"))
        .unwrap_or(1);
    // "wino" is the mode EDGECLASS_WINOGRAD names (`fast` compares off with fast), else the default.
    let named = std::env::var("EDGECLASS_WINOGRAD").ok().map(|v| {
        v.parse::<WinogradMode>()
            .unwrap_or_else(|e| panic!("EDGECLASS_WINOGRAD: {e}"))
    });
    let on = match named {
        Some(WinogradMode::Off) | None => WinogradMode::default(),
        Some(mode) => mode,
    };
    if let Ok(only) = std::env::var("EDGECLASS_BENCH_ONLY") {
        // One variant, a fixed number of runs, nothing else: for `valgrind --tool=callgrind`
        // (run with ITERS=1 and ITERS=k+1 and subtract to get k runs' instructions).
        let iters: usize = std::env::var("EDGECLASS_BENCH_ITERS")
            .ok()
            .map(|s| s.parse().expect("EDGECLASS_BENCH_ITERS"))
            .unwrap_or(1);
        for path in models {
            let options = ModelOptions {
                threads,
                winograd: if only == "wino" {
                    on
                } else {
                    WinogradMode::Off
                },
            };
            let model = ImportedModel::load(&path)
                .and_then(|m| m.into_model_with_options(&options))
                .expect("load");
            let mut state = model.new_state().unwrap();
            let input: Vec<f32> = (0..model.info.input_len())
                .map(|i| (i * 7 % 256) as f32)
                .collect();
            for _ in 0..iters {
                std::hint::black_box(model.run(&mut state, &input).unwrap());
            }
        }
        return;
    }
    println!("threads {threads}; off = tract's convolutions, wino = Winograd F(2x2,3x3) 3x3 convs");
    println!(
        "{:<22} {:>9} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>7} {:>9} {:>5}",
        "model",
        "import ms",
        "opt off",
        "opt wino",
        "med off",
        "med wino",
        "min off",
        "min wino",
        "ratio",
        "max dprob",
        "runs"
    );
    for path in models {
        // Load twice per variant, keep the best of each phase (the first also warms the file cache).
        let mut import = Duration::MAX;
        let mut optimize = [Duration::MAX; 2];
        let mut variants: Vec<Option<Model>> = vec![None, None];
        for _ in 0..2 {
            for (v, wino) in [false, true].into_iter().enumerate() {
                let t0 = Instant::now();
                let imported = ImportedModel::load(&path).expect("load");
                let t1 = Instant::now();
                let options = ModelOptions {
                    threads,
                    winograd: if wino { on } else { WinogradMode::Off },
                };
                let m = imported
                    .into_model_with_options(&options)
                    .expect("optimise");
                import = import.min(t1 - t0);
                optimize[v] = optimize[v].min(t1.elapsed());
                variants[v] = Some(m);
            }
        }
        let models: Vec<Model> = variants.into_iter().map(Option::unwrap).collect();
        let mut states: Vec<_> = models.iter().map(|m| m.new_state().unwrap()).collect();
        let input: Vec<f32> = (0..models[0].info.input_len())
            .map(|i| (i * 7 % 256) as f32)
            .collect();
        let out: Vec<_> = (0..2)
            .map(|v| models[v].run(&mut states[v], &input).unwrap().probs)
            .collect();
        let dprob = out[0]
            .iter()
            .zip(&out[1])
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        let warm = Instant::now();
        while warm.elapsed() < Duration::from_millis(600) {
            for v in 0..2 {
                models[v].run(&mut states[v], &input).unwrap();
            }
        }
        // Rounds of 3 runs per variant, alternating which goes first, so load hits both alike.
        let mut times: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
        let start = Instant::now();
        let mut round = 0;
        while round < 10 || (start.elapsed() < Duration::from_secs(6) && round < 500) {
            for v in [round % 2, 1 - round % 2] {
                for _ in 0..3 {
                    let t = Instant::now();
                    std::hint::black_box(models[v].run(&mut states[v], &input).unwrap());
                    times[v].push(t.elapsed());
                }
            }
            round += 1;
        }
        if std::env::var("EDGECLASS_PROFILE").is_ok() {
            for v in 0..2 {
                let mut nodes = models[v].profile(&mut states[v], &input).unwrap();
                nodes.sort_by_key(|n| std::cmp::Reverse(n.2));
                let mut by_op = std::collections::BTreeMap::<String, Duration>::new();
                for (_, op, t) in &nodes {
                    *by_op.entry(op.clone()).or_default() += *t;
                }
                eprintln!(
                    "{} (winograd {}): by operator: {by_op:?}",
                    path.display(),
                    v == 1
                );
                for (name, op, t) in nodes.iter().take(8) {
                    eprintln!("  {:>8.3} ms  {op:<20} {name}", ms(*t));
                }
            }
        }
        let n = times[0].len();
        let min: Vec<Duration> = times.iter().map(|t| *t.iter().min().unwrap()).collect();
        let [t0, t1] = times;
        let (m0, m1) = (median(t0), median(t1));
        let name = path
            .strip_prefix(&root)
            .unwrap_or(&path)
            .display()
            .to_string();
        println!(
            "{name:<22} {:>9.1} {:>8.1} {:>8.1} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>7.3} {:>9.2e} {n:>5}",
            ms(import),
            ms(optimize[0]),
            ms(optimize[1]),
            ms(m0),
            ms(m1),
            ms(min[0]),
            ms(min[1]),
            m1.as_secs_f64() / m0.as_secs_f64(),
            dprob
        );
    }
}
