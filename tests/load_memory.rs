//! Memory of a model load (issue 7): what a load frees leaves the process, and tract's
//! optimisation does not copy a kernel twice. One test binary of its own: the RSS figures must
//! not see other tests' allocations.

mod common;

use std::collections::HashMap;

use common::*;
use edgeclass::mem::heap;
use edgeclass::model::mxnet::params::NdArray;
use edgeclass::model::mxnet::symbol;
use edgeclass::model::{optimise, ImportedModel};
use tract_core::prelude::*;

/// The tests of this file run one at a time: RSS is the whole process's.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// 48 blocks of 1 MiB, written, with a smaller live allocation after each (as a loader's
/// bookkeeping lies between its tensors); returns the RSS (KiB) freeing the blocks gave back.
fn churn() -> i64 {
    let mut big = Vec::new();
    let mut small = Vec::new();
    for i in 0..48u8 {
        big.push(vec![i | 1; 1 << 20]);
        // Below the mapped size, above glibc's per-thread caches: taken from the top of the heap,
        // right after the block, so freeing the block leaves a hole glibc cannot trim.
        small.push(vec![i; 100 << 10]);
    }
    let before = rss_kib() as i64;
    drop(big);
    let after = rss_kib() as i64;
    drop(small);
    before - after
}

#[test]
fn large_blocks_freed_while_loading_leave_the_process() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if emulated() || !heap::is_counting() {
        eprintln!("SKIPPED: RSS under an emulator is the emulator's / no counting allocator");
        return;
    }
    // glibc raises its mmap threshold (up to 32 MiB) after a large mapped block is freed; from
    // then on blocks of that size come from its heap, and freed ones stay resident. That is what
    // a load's first freed weight does.
    let warm = vec![1u8; 16 << 20];
    drop(warm);

    // Which blocks are mapped: only large ones, only while loading.
    let before = heap::os_blocks_live();
    let outside = vec![1u8; 1 << 20];
    assert_eq!(
        heap::os_blocks_live(),
        before,
        "outside a load nothing is mapped"
    );
    let (small, large) = heap::loading(|| (vec![2u8; 100 << 10], vec![3u8; 1 << 20]));
    assert_eq!(
        heap::os_blocks_live(),
        before + 1,
        "only the large block is mapped"
    );
    drop((outside, small));
    assert_eq!(heap::os_blocks_live(), before + 1);
    drop(large);
    assert_eq!(
        heap::os_blocks_live(),
        before,
        "freeing a mapped block unmaps it"
    );

    // Pointer-aligned blocks may hold pointers, which LeakSanitizer would not see in a mapping
    // of ours (it then reported tract's nodes as leaked): they stay with malloc.
    let words = heap::loading(|| vec![7usize; (1 << 20) / std::mem::size_of::<usize>()]);
    assert_eq!(
        heap::os_blocks_live(),
        before,
        "pointer-aligned blocks are not mapped"
    );
    drop(words);

    // Outside a load the ordinary allocator usually keeps freed blocks for reuse (inference
    // relies on that: no system call or page fault per activation buffer); whether it does here
    // depends on glibc's state, so it is only reported.
    let kept = churn();
    // Inside a load the same pattern always gives the blocks back.
    let returned = heap::loading(churn);
    eprintln!("RSS given back by freeing 48 MiB: {kept} KiB outside a load, {returned} KiB inside");
    assert!(
        returned >= 44 << 10,
        "a load's freed blocks stayed resident: {returned} KiB of 48 MiB given back"
    );
}

#[test]
fn optimising_does_not_copy_kernels_twice_and_builds_the_same_plan() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !heap::is_counting() {
        eprintln!("SKIPPED: no counting allocator");
        return;
    }
    // One 512x512x3x3 convolution (a ResNet stage-4 kernel, 9.4 MB) on a 7x7 input.
    let input_shape = [1, 512, 7, 7];
    let input: Vec<f32> = (0..512 * 49).map(|i| (i % 251) as f32 / 251.0).collect();
    let ours = optimised(input_shape, |m| optimise::optimize(m).unwrap());
    let tracts = optimised(input_shape, |m| m.optimize().unwrap());
    eprintln!(
        "512x512x3x3 convolution, optimise: peak {} bytes above the start, {} retained (tract's own order: {}, {})",
        ours.peak, ours.retained, tracts.peak, tracts.retained
    );

    // tract's order: the kernel, its reshaped copy and the packed copy at once (2 kernels above
    // the start); in place: the packed copy only.
    const KERNEL: usize = 512 * 512 * 9 * 4;
    assert!(
        tracts.peak > 3 * KERNEL / 2,
        "tract's own order peaked {} bytes above the start: this check would prove nothing",
        tracts.peak
    );
    assert!(
        ours.peak < KERNEL + KERNEL / 4,
        "reshaping in place should leave one copy's peak: {} bytes (tract's order {})",
        ours.peak,
        tracts.peak
    );
    // The same plan: bit-identical outputs.
    let run = |plan: &Arc<TypedRunnableModel>| -> Vec<f32> {
        let x = Tensor::from_shape(&input_shape, &input).unwrap();
        let out = plan.spawn().unwrap().run(tvec!(x.into_tvalue())).unwrap();
        out[0]
            .try_as_plain_ram()
            .unwrap()
            .as_slice::<f32>()
            .unwrap()
            .to_vec()
    };
    assert_eq!(run(&ours.plan), run(&tracts.plan));
    assert_eq!(
        ours.nodes, tracts.nodes,
        "the same operators in the same order"
    );
    // The same weights are kept (names of the folded constants may differ by a few bytes).
    assert!(
        ours.retained.abs_diff(tracts.retained) < 64 << 10,
        "retained {} vs {}",
        ours.retained,
        tracts.retained
    );
}

struct Optimised {
    plan: Arc<TypedRunnableModel>,
    peak: usize,
    retained: isize,
    nodes: Vec<String>,
}

fn optimised(input: [usize; 4], optimize: impl FnOnce(&mut TypedModel)) -> Optimised {
    let symbol = symbol::parse(
        r#"{"nodes": [
            {"op": "null", "name": "data", "inputs": []},
            {"op": "null", "name": "conv0_weight", "inputs": []},
            {"op": "Convolution", "name": "conv0",
             "attrs": {"kernel": "(3, 3)", "pad": "(1, 1)", "num_filter": "512", "no_bias": "True"},
             "inputs": [[0, 0, 0], [1, 0, 0]]},
            {"op": "Pooling", "name": "pool0", "attrs": {"global_pool": "True", "kernel": "(7, 7)", "pool_type": "avg"},
             "inputs": [[2, 0, 0]]},
            {"op": "Flatten", "name": "flatten0", "inputs": [[3, 0, 0]]},
            {"op": "null", "name": "fc1_weight", "inputs": []},
            {"op": "null", "name": "fc1_bias", "inputs": []},
            {"op": "FullyConnected", "name": "fc1", "attrs": {"num_hidden": "2"},
             "inputs": [[4, 0, 0], [5, 0, 0], [6, 0, 0]]},
            {"op": "SoftmaxOutput", "name": "softmax", "inputs": [[7, 0, 0]]}
          ], "arg_nodes": [0, 1, 5, 6], "heads": [[8, 0, 0]]}"#,
    )
    .unwrap();
    // Not uniform (tract folds uniform constants another way): a ramp.
    let array = |shape: &[usize]| NdArray {
        shape: shape.to_vec(),
        data: (0..shape.iter().product::<usize>())
            .map(|i| ((i % 97) as f32 - 48.0) / 4800.0)
            .collect(),
        stored_dtype: "float32",
    };
    let params: HashMap<String, NdArray> = [
        ("conv0_weight", array(&[512, 512, 3, 3])),
        ("fc1_weight", array(&[2, 512])),
        ("fc1_bias", array(&[2])),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut typed = ImportedModel::from_mxnet_parts(&symbol, params, input, None)
        .unwrap()
        .typed;
    typed.declutter().unwrap();
    let (typed, retained, peak) = heap::measure(move || {
        optimize(&mut typed);
        typed
    });
    let nodes = typed
        .nodes
        .iter()
        .map(|n| format!("{}", n.op.name()))
        .collect();
    Optimised {
        plan: typed.into_runnable().unwrap(),
        peak,
        retained,
        nodes,
    }
}
