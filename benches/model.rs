//! Model load and inference timings (a small harness: `cargo bench --bench model`).
//!
//! For each model: import (read + parse + build the graph), optimise (tract declutter + codegen +
//! plan), and steady-state inference (median and min of timed runs after warm-up), batch 1, one
//! thread. Models: tests/fixtures/tiny-trained, slim/r50-slim, and the full-size pair when
//! scripts/make-full-models.sh has made them. EDGECLASS_BENCH_MODELS=path1:path2 overrides.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use edgeclass::model::{ImportedModel, Model};

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
    println!(
        "{:<22} {:>10} {:>12} {:>12} {:>12} {:>6}",
        "model", "import ms", "optimize ms", "median ms", "min ms", "runs"
    );
    for path in models {
        // Load three times, keep the best of each phase (the first also warms the file cache).
        let (mut import, mut optimize) = (Duration::MAX, Duration::MAX);
        let mut model: Option<Model> = None;
        for _ in 0..3 {
            let t0 = Instant::now();
            let imported = ImportedModel::load(&path).expect("load");
            let t1 = Instant::now();
            let m = imported.into_model().expect("optimise");
            import = import.min(t1 - t0);
            optimize = optimize.min(t1.elapsed());
            model = Some(m);
        }
        let model = model.unwrap();
        let mut state = model.new_state().unwrap();
        let input: Vec<f32> = (0..model.info.input_len())
            .map(|i| (i * 7 % 256) as f32)
            .collect();
        let warm = Instant::now();
        while warm.elapsed() < Duration::from_millis(300) {
            model.run(&mut state, &input).unwrap();
        }
        let mut times = Vec::new();
        let start = Instant::now();
        while times.len() < 10 || (start.elapsed() < Duration::from_secs(3) && times.len() < 1000) {
            let t = Instant::now();
            std::hint::black_box(model.run(&mut state, &input).unwrap());
            times.push(t.elapsed());
        }
        if std::env::var("EDGECLASS_PROFILE").is_ok() {
            let mut nodes = model.profile(&mut state, &input).unwrap();
            nodes.sort_by_key(|n| std::cmp::Reverse(n.2));
            let mut by_op = std::collections::BTreeMap::<String, Duration>::new();
            for (_, op, t) in &nodes {
                *by_op.entry(op.clone()).or_default() += *t;
            }
            eprintln!("{}: by operator: {by_op:?}", path.display());
            for (name, op, t) in nodes.iter().take(8) {
                eprintln!("  {:>8.3} ms  {op:<20} {name}", ms(*t));
            }
        }
        let min = *times.iter().min().unwrap();
        let n = times.len();
        let name = path
            .strip_prefix(&root)
            .unwrap_or(&path)
            .display()
            .to_string();
        println!(
            "{name:<22} {:>10.1} {:>12.1} {:>12.3} {:>12.3} {n:>6}",
            ms(import),
            ms(optimize),
            ms(median(times)),
            ms(min)
        );
    }
}
