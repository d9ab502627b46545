/*
 * What the C tests of the ABI share beyond common.h: the environment knobs, the last-error
 * checks, the captured log lines, comparisons with MXNet's goldens, the big PNG, and one entry
 * point per topic file (test_*.c), run in order by ffi_tests.c.
 *
 * Environment:
 *   EDGECLASS_FIXTURES             fixtures directory (default tests/fixtures)
 *   EDGECLASS_REQUIRE_FULL_MODELS  1: a missing full-size model is a failure, not a skip
 *   FFI_TESTS_REQUESTS             requests per thread in the 8-thread test (default 50)
 *   FFI_TESTS_FULL_MODELS          0: do not load the full-size models (valgrind run)
 *   FFI_TESTS_QUICK                1: every n-th case of the long loops (valgrind run: the full
 *                                  set runs natively against both libraries)
 */
#ifndef EDGECLASS_FFI_SUPPORT_H
#define EDGECLASS_FFI_SUPPORT_H

#include "common.h"
#include "cases.h"

int env_int(const char *name, int dflt);
int quick(void);
/* Loop step: 1, or n in quick mode (under valgrind a tiny-model open takes seconds, and so does
 * one classification). */
size_t step(size_t n);

int msg_contains(const char *needle);
#define CHECK_MSG(needle)                                                                   \
    do {                                                                                    \
        char m_[4096];                                                                      \
        CHECKF(msg_contains(needle), "last error %s does not contain \"%s\"",               \
               last_msg(m_, sizeof m_), needle);                                            \
    } while (0)

/* Log capture: the callback may run on any thread that calls into edgeclass. ffi_tests.c sends
 * the library's lines here before any service opens. */
#define LOG_MAX 512
struct log_sink {
    pthread_mutex_t lock;
    int n, dropped;
    int level[LOG_MAX];
    char *line[LOG_MAX];
};
extern struct log_sink sink;
void log_cb(void *user_data, int32_t level, const char *message);
void log_clear(void);

/* Golden comparisons. PNG decoding and the resize are exact, so a PNG answer must equal MXNet's
 * within float noise; zune-jpeg is within a few levels of libjpeg-turbo, so a JPEG answer gets a
 * wider tolerance. */
#define TOL_EXACT 1e-4
#define TOL_JPEG 0.02
int is_png_bytes(const uint8_t *d, size_t n);
/* The golden of a fixture image (cases.h names them); aborts when there is none (a test bug). */
const fx_golden *fx_case(const char *image);
/* Probabilities within tol, top-5 equal (exact) or top-1 equal (tolerant), decoded size equal. */
void compare_golden(const fx_golden *g, const edgeclass_result *r, int exact);
/* Classify a golden's image and compare (tolerance by the bytes' real format). */
void classify_and_compare(const edgeclass_service *svc, const fx_golden *g);

/* Whether the full-size resnet50 is here; when it is not, a test skips unless the environment
 * requires it (then it fails). Returns 1 if usable. */
int full_model_available(void);

/* A big PNG (made once, freed by ffi_tests.c): decoding it takes milliseconds, more than a 1 ms
 * deadline. */
#define BIG_W 2500
#define BIG_H 2500
extern uint8_t *big_png;
extern size_t big_png_len;
int ensure_big_png(void);

/* The topics, each a file. */
void run_codes_tests(void);    /* test_codes.c: version, status names, last error, each code */
void run_log_tests(void);      /* test_log.c: the log callback and stderr */
void run_params_tests(void);   /* test_params.c: parameter rules and what each option does */
void run_client_tests(void);   /* test_client.c: edgeclass_client without a daemon */
void run_service_tests(void);  /* test_service.c: handles' lifetimes, registry, info, memory */
void run_buffers_tests(void);  /* test_buffers.c: results and labels copied out */
void run_threads_tests(void);  /* test_threads.c: deadlines, cancel, concurrency */
void run_nulls_tests(void);    /* test_nulls.c: NULL and garbage arguments, out pointers */
void run_feedback_tests(void); /* test_feedback.c: ML Feedback through the ABI */

#endif
