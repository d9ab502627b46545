//! Per-layer timings: tract's convolution against the Winograd F(2x2,3x3) form, on the 3x3
//! stride-1 shapes of a 224x224 ResNet (`cargo bench --bench winograd`).
//!
//! Each layer is a one-node model (Conv 3x3, padding 1, with bias), optimised both ways; the two
//! plans run interleaved in rounds (A B B A ...) so that machine load hits both alike, and the
//! ratio of medians is what to read. Also prints the max abs difference of the two outputs.
//!
//! Environment: EDGECLASS_BENCH_THREADS=N (needs `--features multithread`),
//! EDGECLASS_BENCH_ONLY=conv|winograd with EDGECLASS_BENCH_ITERS=N runs just one variant N times
//! (for `valgrind --tool=callgrind`), EDGECLASS_BENCH_SHAPES=56x64,28x128 picks shapes (HxC).

use std::time::{Duration, Instant};

use edgeclass::model::winograd;
use tract_core::internal::*;
use tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use tract_core::ops::nn::DataFormat;

fn conv_model(c: usize, hw: usize) -> TypedModel {
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact([1, c, hw, hw])).unwrap();
    let w: Vec<f32> = (0..c * c * 9)
        .map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 1e-4)
        .collect();
    let k = model
        .add_const("k", Tensor::from_shape(&[c, c, 3, 3], &w).unwrap())
        .unwrap();
    let bias: Vec<f32> = (0..c).map(|i| i as f32 * 1e-3).collect();
    let b = model
        .add_const("b", Tensor::from_shape(&[c], &bias).unwrap())
        .unwrap();
    let op = Conv {
        pool_spec: PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: tvec![3, 3],
            padding: PaddingSpec::Explicit(tvec![1, 1], tvec![1, 1]),
            dilations: None,
            strides: None,
            input_channels: c,
            output_channels: c,
        },
        kernel_fmt: KernelFormat::OIHW,
        group: 1,
        q_params: None,
    };
    let y = model.wire_node("conv", op, &[x, k, b]).unwrap()[0];
    model.select_output_outlets(&[y]).unwrap();
    model
}

fn plan(model: TypedModel, wino: bool, threads: usize) -> Arc<TypedSimplePlan> {
    let mut model = model.into_decluttered().unwrap();
    if wino {
        let n = winograd::rewrite(&mut model, &winograd::Policy::all()).unwrap();
        assert_eq!(n, 1);
    }
    model.optimize().unwrap();
    #[allow(unused_mut)]
    let mut options = RunOptions::default();
    if threads > 1 {
        #[cfg(feature = "multithread")]
        {
            options.executor = Some(tract_linalg::multithread::Executor::multithread(threads));
        }
        #[cfg(not(feature = "multithread"))]
        panic!("threads > 1 needs --features multithread");
    }
    model.into_runnable_with_options(&options).unwrap()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let threads: usize = std::env::var("EDGECLASS_BENCH_THREADS")
        .ok()
        .map(|s| s.parse().unwrap())
        .unwrap_or(1);
    let shapes: Vec<(usize, usize)> = match std::env::var("EDGECLASS_BENCH_SHAPES") {
        Ok(s) => s
            .split(',')
            .map(|p| {
                let (h, c) = p.split_once('x').unwrap();
                (h.parse().unwrap(), c.parse().unwrap())
            })
            .collect(),
        Err(_) => vec![(56, 64), (28, 128), (14, 256), (7, 512)],
    };
    let only = std::env::var("EDGECLASS_BENCH_ONLY").ok();
    if let Some(only) = only {
        let iters: usize = std::env::var("EDGECLASS_BENCH_ITERS")
            .ok()
            .map(|s| s.parse().unwrap())
            .unwrap_or(10);
        for (hw, c) in shapes {
            let p = plan(conv_model(c, hw), only == "winograd", threads);
            let input = Tensor::from_shape(&[1, c, hw, hw], &vec![0.5f32; c * hw * hw]).unwrap();
            let mut state = p.spawn().unwrap();
            for _ in 0..iters {
                std::hint::black_box(state.run(tvec![input.clone().into_tvalue()]).unwrap());
            }
        }
        return;
    }
    if std::env::var("EDGECLASS_BENCH_PROFILE").is_ok() {
        for &(hw, c) in &shapes {
            for wino in [false, true] {
                let p = plan(conv_model(c, hw), wino, threads);
                let input =
                    Tensor::from_shape(&[1, c, hw, hw], &vec![0.5f32; c * hw * hw]).unwrap();
                let mut state = p.spawn().unwrap();
                let mut times: Vec<(String, String, Vec<Duration>)> = Vec::new();
                for _ in 0..200 {
                    let mut i = 0;
                    state
                        .run_plan_with_eval(
                            tvec![input.clone().into_tvalue()],
                            |ctx, st, node, inputs| {
                                let t0 = Instant::now();
                                let r = tract_core::plan::eval(ctx, st, node, inputs);
                                if times.len() <= i {
                                    times.push((
                                        node.name.clone(),
                                        format!("{} {:?}", node.op.name(), node.op.info()),
                                        vec![],
                                    ));
                                }
                                times[i].2.push(t0.elapsed());
                                i += 1;
                                r
                            },
                        )
                        .unwrap();
                }
                println!("{hw}x{hw}x{c} winograd={wino}");
                for (name, op, t) in times {
                    println!("  {:>8.3} ms  {name:<24} {op}", ms(median(t)));
                }
            }
        }
        return;
    }
    println!("threads {threads}");
    println!(
        "{:<12} {:>10} {:>10} {:>10} {:>10} {:>8} {:>10} {:>6}",
        "layer", "conv ms", "conv min", "wino ms", "wino min", "ratio", "max diff", "runs"
    );
    for (hw, c) in shapes {
        let model = conv_model(c, hw);
        let a = plan(model.clone(), false, threads);
        let b = plan(model, true, threads);
        let data: Vec<f32> = (0..c * hw * hw)
            .map(|i| ((i * 31 % 255) as f32) / 255.0)
            .collect();
        let input = Tensor::from_shape(&[1, c, hw, hw], &data).unwrap();
        let (mut sa, mut sb) = (a.spawn().unwrap(), b.spawn().unwrap());
        let ya = sa.run(tvec![input.clone().into_tvalue()]).unwrap();
        let yb = sb.run(tvec![input.clone().into_tvalue()]).unwrap();
        let (va, vb) = (
            ya[0].try_as_plain_ram().unwrap(),
            yb[0].try_as_plain_ram().unwrap(),
        );
        let diff = va
            .as_slice::<f32>()
            .unwrap()
            .iter()
            .zip(vb.as_slice::<f32>().unwrap())
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        // Warm-up, then rounds of 5 runs each, alternating which goes first.
        for _ in 0..20 {
            sa.run(tvec![input.clone().into_tvalue()]).unwrap();
            sb.run(tvec![input.clone().into_tvalue()]).unwrap();
        }
        let (mut ta, mut tb) = (Vec::new(), Vec::new());
        let start = Instant::now();
        let mut round = 0;
        while round < 10 || (start.elapsed() < Duration::from_secs(4) && round < 400) {
            // A B in even rounds, B A in odd ones.
            for second in [false, true] {
                let a_now = (round % 2 == 0) != second;
                let (s, t) = if a_now {
                    (&mut sa, &mut ta)
                } else {
                    (&mut sb, &mut tb)
                };
                for _ in 0..5 {
                    let t0 = Instant::now();
                    std::hint::black_box(s.run(tvec![input.clone().into_tvalue()]).unwrap());
                    t.push(t0.elapsed());
                }
            }
            round += 1;
        }
        let n = ta.len();
        let (mina, minb) = (*ta.iter().min().unwrap(), *tb.iter().min().unwrap());
        let (ma, mb) = (median(ta), median(tb));
        println!(
            "{:<12} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>8.3} {:>10.2e} {n:>6}",
            format!("{hw}x{hw}x{c}"),
            ms(ma),
            ms(mina),
            ms(mb),
            ms(minb),
            mb.as_secs_f64() / ma.as_secs_f64(),
            diff
        );
    }
}
