// Experiment: ResNet-50's 1x1 convolutions, tract's plan (Conv 1x1 + bias + ReLU) vs gemm-f32 + ReLU pass.
use edgeclass::model::gemm::{matmul_add, Layout};
use std::time::{Duration, Instant};
use tract_core::internal::*;
use tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use tract_core::ops::nn::DataFormat;

fn model(ci: usize, co: usize, hw: usize, w: &[f32], bias: &[f32]) -> Arc<TypedSimplePlan> {
    let mut m = TypedModel::default();
    let x = m.add_source("x", f32::fact([1, ci, hw, hw])).unwrap();
    let k = m
        .add_const("k", Tensor::from_shape(&[co, ci, 1, 1], w).unwrap())
        .unwrap();
    let b = m
        .add_const("b", Tensor::from_shape(&[co], bias).unwrap())
        .unwrap();
    let op = Conv {
        pool_spec: PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: tvec![1, 1],
            padding: PaddingSpec::Valid,
            dilations: None,
            strides: None,
            input_channels: ci,
            output_channels: co,
        },
        kernel_fmt: KernelFormat::OIHW,
        group: 1,
        q_params: None,
    };
    let y = m.wire_node("conv", op, &[x, k, b]).unwrap()[0];
    let zero = m
        .add_const("zero", tensor0(0f32).broadcast_into_rank(4).unwrap())
        .unwrap();
    let y = m
        .wire_node("relu", tract_core::ops::math::max(), &[y, zero])
        .unwrap()[0];
    m.select_output_outlets(&[y]).unwrap();
    let mut m = m.into_decluttered().unwrap();
    m.optimize().unwrap();
    m.into_runnable().unwrap()
}

#[cfg(target_arch = "x86_64")]
fn main() {
    let shapes = [
        (64usize, 256usize, 56usize),
        (256, 64, 56),
        (256, 128, 56),
        (128, 512, 28),
        (512, 128, 28),
        (512, 256, 28),
        (256, 1024, 14),
        (1024, 256, 14),
        (1024, 512, 14),
        (512, 2048, 7),
        (2048, 512, 7),
    ];
    for (ci, co, hw) in shapes {
        let p = hw * hw;
        let w: Vec<f32> = (0..co * ci)
            .map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 1e-4)
            .collect();
        let bias: Vec<f32> = (0..co).map(|i| (i as f32 - 10.0) * 1e-3).collect();
        let x: Vec<f32> = (0..ci * p)
            .map(|i| ((i * 31 % 255) as f32) / 255.0 - 0.3)
            .collect();
        let plan = model(ci, co, hw, &w, &bias);
        let mut st = plan.spawn().unwrap();
        let input = Tensor::from_shape(&[1, ci, hw, hw], &x).unwrap();
        let mut out = vec![0f32; co * p];
        let ours = |out: &mut Vec<f32>| {
            for (o, row) in out.chunks_mut(p).enumerate() {
                row.fill(bias[o]);
            }
            matmul_add(
                out,
                Layout::dense(co, p, 0),
                &w,
                Layout::dense(co, ci, 0),
                &x,
                Layout::dense(ci, p, 0),
            )
            .unwrap();
            for v in out.iter_mut() {
                *v = v.max(0.0);
            }
        };
        let ya = st.run(tvec![input.clone().into_tvalue()]).unwrap();
        ours(&mut out);
        let va = ya[0].try_as_plain_ram().unwrap();
        let diff = va
            .as_slice::<f32>()
            .unwrap()
            .iter()
            .zip(&out)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        let (mut ta, mut tb) = (vec![], vec![]);
        for _ in 0..5 {
            st.run(tvec![input.clone().into_tvalue()]).unwrap();
            ours(&mut out);
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            let t0 = Instant::now();
            std::hint::black_box(st.run(tvec![input.clone().into_tvalue()]).unwrap());
            ta.push(t0.elapsed());
            let t0 = Instant::now();
            ours(&mut out);
            std::hint::black_box(&out);
            tb.push(t0.elapsed());
        }
        ta.sort();
        tb.sort();
        let (a, b) = (
            ta[ta.len() / 2].as_secs_f64() * 1e3,
            tb[tb.len() / 2].as_secs_f64() * 1e3,
        );
        let gf = 2.0 * (ci * co * p) as f64 / 1e6;
        println!("{ci:>5}->{co:<5} {hw:>3}x{hw:<3} tract {a:7.3} ms ({:5.1} GF/s)  gemm {b:7.3} ms ({:5.1} GF/s)  ratio {:.2}  diff {diff:.2e}", gf / a, gf / b, b / a);
    }
}
