//! The memory of a multi-threaded inference (issue 20): the threads of a model state's pool
//! allocate tract's scratch space, and a request's reported peak (what a service's warm-up turns
//! into its memory budget) must cover it. The reference is the process-wide heap peak, read by
//! the counting allocator's global counter, which sees every thread; this binary has one test so
//! that no other test allocates meanwhile.

mod common;

use std::sync::Arc;

use common::*;
use edgeclass::image::DecodeOptions;
use edgeclass::mem::heap;
use edgeclass::model::{Model, ModelOptions, WinogradMode};
use edgeclass::Classifier;

#[test]
fn a_request_reports_at_least_the_process_wide_peak_on_one_and_two_threads() {
    // Big enough GEMMs for tract to hand them to the pool (a small model runs them all on the
    // calling thread); images at the model's own size, so that decoding adds little.
    let Some(dir) = full_model("resnet18-224") else {
        return;
    };
    let image = std::fs::read(fixtures().join("photos/china.jpg")).unwrap();
    for threads in [1, 2] {
        let options = ModelOptions {
            threads,
            winograd: WinogradMode::Lean,
        };
        let model = Arc::new(Model::load(&dir, &options).unwrap());
        // A new classifier has a new state (and pool): its first request allocates the scratch.
        let mut classifier = Classifier::new(model, DecodeOptions::default()).unwrap();
        assert!(heap::is_counting());
        let start = heap::live_bytes();
        heap::reset_peak();
        let answer = classifier.classify("image/jpeg", &image).unwrap();
        let process = (heap::peak_bytes() - start) as u64;
        let reported = answer.stats.peak_bytes;
        eprintln!("{threads} thread(s): reported {reported} bytes, process-wide {process}");
        assert!(
            reported >= process,
            "{threads} thread(s): the request reported a peak of {reported} bytes, but the process's heap rose {process} bytes during it"
        );
        // An upper bound (the calling thread's peak plus the pool's), not a blind one.
        assert!(
            reported <= process + process / 2,
            "{threads} thread(s): reported {reported} bytes against {process} measured"
        );
        // The answer itself is the model's, whatever the thread count.
        assert_eq!(
            classifier.top(&answer.probs, 1)[0].0,
            410,
            "china.jpg's class"
        );
    }
}
