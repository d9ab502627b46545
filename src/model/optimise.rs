//! tract's optimisation (`TypedModel::optimize`), run so that loading a model copies each weight
//! tensor as few times as possible: the peak memory of a load is what a board must have free.
//!
//! tract's codegen turns a convolution's `OIHW` kernel into `Const → IntoShape → OptMatMulPack`,
//! and its constant folding then evaluates that chain with the constant still held by the graph:
//! the kernel, a reshaped copy and the packed copy are live at once. For ResNet-18's 9.4 MB
//! `512x512x3x3` kernels that was 19 MB above the model's own size, the whole difference between
//! the steady state (56 MB) and the load's peak (75 MB). Here the reshape is done in place on the
//! constant, which is only metadata when the graph holds the tensor's only reference, before the
//! folding packs it. The result is the same plan tract builds (the final `optimize` still runs to
//! its fixed point); only the order of the copies changes.

use tract_core::internal::*;
use tract_core::ops::change_axes::IntoShape;
use tract_core::ops::konst::Const;
use tract_core::optim::Optimizer;

/// `model.optimize()`, with kernels reshaped in place between tract's codegen and its folding.
/// On ResNet-18 (the heap counters of `mem::heap` around this call): the optimisation's peak
/// went from 75.4 to 65.9 MB with the same 56.1 MB retained, and it takes less time (fewer
/// copies). `tests/load_memory.rs` checks it on one large convolution.
pub fn optimize(model: &mut TypedModel) -> TractResult<()> {
    // One round of the codegen optimiser's passes, each to its own fixed point as tract's session
    // runs them, but with its constant folding (first) skipped: codegen wires the kernel reshapes
    // and the "declutter" pass after it turns them into `IntoShape`.
    for pass in Optimizer::codegen().passes {
        if format!("{pass:?}").starts_with("PropConst") {
            continue;
        }
        Optimizer {
            passes: vec![pass],
            steps: None,
        }
        .optimize(model)?;
    }
    reshape_kernels_in_place(model)?;
    model.optimize()
}

/// Replace each `Const → IntoShape` whose constant feeds nothing else by one constant of the new
/// shape, reusing the tensor's buffer. Returns how many were replaced.
pub fn reshape_kernels_in_place(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    for id in 0..model.nodes.len() {
        let Some((konst, dims)) = reshapable(model, id) else {
            continue;
        };
        // The graph holds the tensor twice: in the constant's op and in its output fact. Take
        // both, so the tensor can be owned and reshaped without copying its data.
        let src = model.node_mut(konst);
        let Some(tensor) = src.op_as::<Const>().map(|k| k.val().clone()) else {
            continue;
        };
        src.outputs[0].fact.konst = None;
        src.op = Box::new(Const::new(rctensor0(0f32))?);
        match Arc::try_unwrap(tensor) {
            Ok(owned) => {
                let reshaped = owned.into_shape(&dims)?;
                let name = model.node(id).name.clone();
                let mut patch = TypedModelPatch::default();
                let wire = patch.add_const(name, reshaped)?;
                patch.shunt_outside(model, OutletId::new(id, 0), wire)?;
                // The reshape and the emptied constant are left without successors; the
                // optimiser's compaction removes them.
                patch.apply(model)?;
                replaced += 1;
            }
            Err(shared) => {
                // Someone else holds the tensor too: put it back, tract will copy it.
                let src = model.node_mut(konst);
                src.op = Box::new(Const::new(shared.clone())?);
                src.outputs[0].fact.konst = Some(shared);
            }
        }
    }
    model.compact()?;
    model.check_consistency()?;
    log::debug!("{replaced} kernels reshaped in place");
    Ok(replaced)
}

/// For an `IntoShape` node fed by a plain constant that nothing else reads, whose result is
/// contiguous: the constant's node id and the new dims.
fn reshapable(model: &TypedModel, id: usize) -> Option<(usize, TVec<usize>)> {
    let node = model.node(id);
    let reshape = node.op_as::<IntoShape>()?;
    let [input] = node.inputs[..] else {
        return None;
    };
    let src = model.node(input.node);
    let konst = src.op_as::<Const>()?;
    let plain = konst.exotic_fact().is_none()
        && src.outputs.len() == 1
        && src.outputs[0].successors.len() == 1
        && src.outputs[0].fact.uniform.is_none();
    let contiguous = reshape.strides == natural_strides(&reshape.dims);
    (plain && contiguous && konst.val().len() == reshape.len)
        .then(|| (src.id, reshape.dims.clone()))
}

fn natural_strides(dims: &[usize]) -> TVec<isize> {
    let mut strides: TVec<isize> = tvec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * dims[i + 1] as isize;
    }
    strides
}

/// Replace, in evaluation order, each node of `model` that `candidate` accepts by what `wire`
/// builds from it (given the patch, the node's name and its inputs as taps; it returns the
/// replacement's output), then compact the model: the loop of every rewrite pass of our own
/// operators (Winograd, the GEMM convolutions, max pooling). Returns how many were replaced.
pub(crate) fn replace_nodes<C>(
    model: &mut TypedModel,
    pass: &str,
    candidate: impl Fn(&TypedModel, &TypedNode) -> Option<C>,
    wire: impl Fn(&mut TypedModelPatch, &str, &[OutletId], C) -> TractResult<OutletId>,
) -> TractResult<usize> {
    let mut done = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(c) = candidate(model, node) else {
            continue;
        };
        let name = node.name.clone();
        let mut patch = TypedModelPatch::new(format!("{pass} {name}"));
        let taps = patch.taps(model, &node.inputs)?;
        let y = wire(&mut patch, &name, &taps, c)?;
        patch.shunt_outside(model, id.into(), y)?;
        patch.apply(model)?;
        done += 1;
    }
    if done > 0 {
        model.compact()?;
    }
    Ok(done)
}
