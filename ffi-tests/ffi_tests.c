/*
 * The C tests of the edgeclass C ABI (include/edgeclass.h), run by ffi-tests/run.sh against the
 * shared and the static library, once under valgrind, under ASan/UBSan (scripts/sanitize.sh c)
 * and under qemu (cross/run.sh). One program; a file per topic (support.h lists them):
 * test_codes.c, test_log.c, test_params.c, test_service.c, test_buffers.c, test_threads.c,
 * test_nulls.c, test_feedback.c. Their fixtures and what each must give: cases.h.
 *
 * The C tests check the ABI's contract: NULLs, buffers, handles' lifetimes, threads, codes and
 * messages. What decoding and the models do with every fixture is the Rust suites'
 * (image_decode.rs, decode_layouts.rs, end_to_end.rs, model_goldens.rs, hostile_models.rs,
 * service.rs); the C tests compare with MXNet's goldens (fixtures_gen.h) only to see that a
 * service answers correctly through the ABI after what they did to it.
 *
 * Expected values come from the fixtures (MXNet 1.9.1's goldens, via the generated
 * fixtures_gen.h; the fixtures' READMEs for what each broken input must give), never from
 * edgeclass itself, except where a test asks for "the same answer as a serial run".
 *
 * Error codes produced here (every one the ABI can produce from C): INVALID_ARGUMENT,
 * INVALID_PARAMETER, BUFFER_TOO_SMALL, UNKNOWN_SERVICE, SERVICE_EXISTS, UNSUPPORTED,
 * UNSUPPORTED_CONTENT_TYPE, UNSUPPORTED_IMAGE_FORMAT, CORRUPT_IMAGE, UNSUPPORTED_IMAGE_FEATURE
 * (zune decoder), CONTENT_TYPE_MISMATCH, MODEL_NOT_FOUND, PARAMS_FORMAT, SYMBOL_FORMAT,
 * UNSUPPORTED_OPERATOR, MODEL_MISMATCH, NNEF, IO, MEMORY_LIMIT, IMAGE_TOO_LARGE, TIMEOUT,
 * CANCELLED. Not reachable through this ABI: BAD_TENSOR (tensor files are a CLI input), INTERNAL
 * and PANIC (bugs).
 *
 * Environment: see support.h.
 */
#define _XOPEN_SOURCE 700

#include "support.h"

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* Before any service opens: route the library's log lines to the test's sink. */
    if (edgeclass_set_log_callback(log_cb, &sink, 2) != EDGECLASS_OK) {
        fprintf(stderr, "edgeclass_set_log_callback failed\n");
        return 1;
    }
    run_codes_tests();
    run_log_tests();
    run_params_tests();
    run_service_tests();
    run_buffers_tests();
    run_threads_tests();
    run_nulls_tests();
    run_feedback_tests();
    run_client_tests();
    /* Leave the library quiet and the captured lines freed (valgrind: nothing left behind). */
    if (edgeclass_set_log_callback(NULL, NULL, 0) != EDGECLASS_OK)
        CHECK(0);
    log_clear();
    free(big_png);
    return check_finish();
}
