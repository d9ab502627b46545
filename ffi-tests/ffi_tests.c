/*
 * Tests of the edgeclass C ABI (include/edgeclass.h), run by ffi-tests/run.sh against the shared
 * and the static library, and once under valgrind.
 *
 * Expected values come from the fixtures (MXNet 1.9.1's goldens, via the generated
 * fixtures_gen.h; the fixtures' READMEs for what each broken input must give), never from
 * edgeclass itself, except where a test asks for "the same answer as a serial run".
 *
 * Environment:
 *   EDGECLASS_FIXTURES             fixtures directory (default tests/fixtures)
 *   EDGECLASS_REQUIRE_FULL_MODELS  1: a missing full-size model is a failure, not a skip
 *   FFI_TESTS_REQUESTS             requests per thread in the 8-thread test (default 50)
 *   FFI_TESTS_FULL_MODELS          0: do not load the full-size models (valgrind run)
 *   FFI_TESTS_QUICK                1: every n-th case of the long loops (valgrind run: the full
 *                                  set runs natively against both libraries)
 *
 * Error codes produced here (every one the ABI can produce from C): INVALID_ARGUMENT,
 * INVALID_PARAMETER, BUFFER_TOO_SMALL, UNKNOWN_SERVICE, SERVICE_EXISTS, UNSUPPORTED,
 * UNSUPPORTED_CONTENT_TYPE, UNSUPPORTED_IMAGE_FORMAT, CORRUPT_IMAGE, UNSUPPORTED_IMAGE_FEATURE
 * (zune build), CONTENT_TYPE_MISMATCH, MODEL_NOT_FOUND, PARAMS_FORMAT, SYMBOL_FORMAT,
 * UNSUPPORTED_OPERATOR, MODEL_MISMATCH, NNEF, IO, MEMORY_LIMIT, IMAGE_TOO_LARGE, TIMEOUT,
 * CANCELLED. Not reachable through this ABI: BAD_TENSOR (tensor files are a CLI input), INTERNAL
 * and PANIC (bugs).
 *
 * ML Feedback (test_feedback_*): expected samples are the bytes, prediction and metadata the test
 * published; messages and Queue.Full text are the connector documentation's.
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with XSI: realpath, mkdtemp, symlink, dup2 */

#include <dirent.h>
#include <regex.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

#ifndef EXPECTED_VERSION
#error "compile with -DEXPECTED_VERSION='\"x.y.z\"' (run.sh takes it from Cargo.toml)"
#endif

#define TINY "tiny-trained"
#define R50SLIM "slim/r50-slim"
#define R50FULL "full/resnet50-224"
#define R50FULL_PARAMS "full/resnet50-224/image-classification-0000.params"
#define BIG "500000" /* the documentation example's LocalInferenceServiceMemoryLimitKB */

static int env_int(const char *name, int dflt)
{
    const char *v = getenv(name);
    return (v != NULL && v[0] != '\0') ? atoi(v) : dflt;
}

static int quick(void)
{
    return env_int("FFI_TESTS_QUICK", 0) == 1;
}

/* Loop step: 1, or n in quick mode (under valgrind a tiny-model open takes seconds, and so does
 * one classification). */
static size_t step(size_t n)
{
    return quick() ? n : 1;
}

static int msg_contains(const char *needle)
{
    char msg[4096];
    last_msg(msg, sizeof msg);
    return strstr(msg, needle) != NULL;
}

#define CHECK_MSG(needle)                                                                   \
    do {                                                                                    \
        char m_[4096];                                                                      \
        CHECKF(msg_contains(needle), "last error %s does not contain \"%s\"",               \
               last_msg(m_, sizeof m_), needle);                                            \
    } while (0)

/* ------------------------------------------------------------------------------------------ */
/* Log capture: the callback may run on any thread that calls into edgeclass. */

#define LOG_MAX 512
static struct {
    pthread_mutex_t lock;
    int n, dropped;
    int level[LOG_MAX];
    char *line[LOG_MAX];
} sink = {PTHREAD_MUTEX_INITIALIZER, 0, 0, {0}, {NULL}};

static void log_cb(void *user_data, int32_t level, const char *message)
{
    size_t len = strlen(message);
    char *copy = malloc(len + 1);
    CHECK(user_data == (void *)&sink);
    if (copy != NULL)
        memcpy(copy, message, len + 1);
    pthread_mutex_lock(&sink.lock);
    if (copy != NULL && sink.n < LOG_MAX) {
        sink.level[sink.n] = level;
        sink.line[sink.n++] = copy;
        copy = NULL;
    } else {
        sink.dropped++;
    }
    pthread_mutex_unlock(&sink.lock);
    free(copy);
}

static void log_clear(void)
{
    int i;
    pthread_mutex_lock(&sink.lock);
    for (i = 0; i < sink.n; i++)
        free(sink.line[i]);
    sink.n = 0;
    sink.dropped = 0;
    pthread_mutex_unlock(&sink.lock);
}

/* ------------------------------------------------------------------------------------------ */
/* Golden comparisons. */

/* PNG decoding and the resize are exact, so a PNG answer must equal MXNet's within float noise;
 * zune-jpeg is within a few levels of libjpeg-turbo, so a JPEG answer gets a wider tolerance. */
#define TOL_EXACT 1e-4
#define TOL_JPEG 0.02

static int is_png_bytes(const uint8_t *d, size_t n)
{
    return n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0;
}

/* Compare one result with its golden: probabilities within tol, top-5 equal (exact) or top-1
 * equal (tolerant), decoded size equal. */
static void compare_golden(const fx_golden *g, const edgeclass_result *r, int exact)
{
    float p[1000];
    size_t top[5], n_top = 0, n;
    edgeclass_call_stats st;
    double d;
    int i;
    if (!CHECK(g->classes <= 1000))
        return;
    n = result_probs(r, p, 1000);
    if (!CHECKF(n == g->classes, "%s: %zu classes, golden %zu", g->image, n, g->classes))
        return;
    d = max_abs_diff(p, g->probs, n);
    CHECKF(d <= (exact ? TOL_EXACT : TOL_JPEG), "%s: max |dprob| %.3g (tolerance %g)", g->image, d,
           exact ? TOL_EXACT : TOL_JPEG);
    CHECK_STATUS(edgeclass_result_top_k(r, 5, top, NULL, &n_top), EDGECLASS_OK);
    CHECK(n_top == 5);
    for (i = 0; i < (exact ? 5 : 1); i++)
        CHECKF(top[i] == (size_t)g->top5[i], "%s: top[%d] = %zu, golden %d", g->image, i, top[i],
               g->top5[i]);
    if (g->hw[0] > 0 && CHECK_STATUS(edgeclass_result_stats(r, &st), EDGECLASS_OK))
        CHECKF(st.decoded_height == (uint32_t)g->hw[0] && st.decoded_width == (uint32_t)g->hw[1],
               "%s: decoded %ux%u (HxW), golden %dx%d", g->image, st.decoded_height,
               st.decoded_width, g->hw[0], g->hw[1]);
}

/* Classify a golden's image and compare (tolerance by the bytes' real format). */
static void classify_and_compare(const edgeclass_service *svc, const fx_golden *g)
{
    size_t len = 0;
    uint8_t *data = read_fixture(g->image, &len);
    edgeclass_result *r = NULL;
    if (!CHECKF(data != NULL, "%s", g->image))
        return;
    if (CHECKF(edgeclass_classify(svc, content_type_for(g->image), data, len, NULL, &r) ==
                   EDGECLASS_OK,
               "%s", g->image))
        compare_golden(g, r, is_png_bytes(data, len));
    edgeclass_result_free(r);
    free(data);
}

/* Whether the full-size resnet50 is here; when it is not, a test skips unless the environment
 * requires it (then it fails). Returns 1 if usable. */
static int full_model_available(void)
{
    if (env_int("FFI_TESTS_FULL_MODELS", 1) == 0) {
        printf("    full-size models not used in this run (FFI_TESTS_FULL_MODELS=0)\n");
        return 0;
    }
    if (fx_exists(R50FULL_PARAMS))
        return 1;
    if (env_int("EDGECLASS_REQUIRE_FULL_MODELS", 0) == 1)
        CHECKF(0, "%s is missing and EDGECLASS_REQUIRE_FULL_MODELS=1 (scripts/make-full-models.sh makes it)",
               R50FULL_PARAMS);
    return 0;
}

/* A big PNG (made once): decoding it takes milliseconds, more than a 1 ms deadline. */
#define BIG_W 2500
#define BIG_H 2500
static uint8_t *big_png;
static size_t big_png_len;

static int ensure_big_png(void)
{
    if (big_png == NULL)
        big_png = make_png(BIG_W, BIG_H, &big_png_len);
    return CHECK(big_png != NULL);
}

/* ------------------------------------------------------------------------------------------ */

static void test_abi_version(void)
{
    const char *v = edgeclass_version();
    CHECK(edgeclass_abi_version() == EDGECLASS_ABI_VERSION);
    CHECK(EDGECLASS_ABI_VERSION == 1);
    if (CHECK(v != NULL))
        CHECKF(strcmp(v, EXPECTED_VERSION) == 0, "version %s, Cargo.toml says %s", v,
               EXPECTED_VERSION);
}

static void test_status_names(void)
{
#define S(x) {x, #x}
    static const struct {
        uint32_t code;
        const char *name;
    } all[] = {
        S(EDGECLASS_OK), S(EDGECLASS_INVALID_ARGUMENT), S(EDGECLASS_INVALID_PARAMETER),
        S(EDGECLASS_BUFFER_TOO_SMALL), S(EDGECLASS_UNKNOWN_SERVICE), S(EDGECLASS_SERVICE_EXISTS),
        S(EDGECLASS_UNSUPPORTED), S(EDGECLASS_UNSUPPORTED_CONTENT_TYPE),
        S(EDGECLASS_UNSUPPORTED_IMAGE_FORMAT), S(EDGECLASS_CORRUPT_IMAGE),
        S(EDGECLASS_UNSUPPORTED_IMAGE_FEATURE), S(EDGECLASS_CONTENT_TYPE_MISMATCH),
        S(EDGECLASS_BAD_TENSOR), S(EDGECLASS_MODEL_NOT_FOUND), S(EDGECLASS_PARAMS_FORMAT),
        S(EDGECLASS_SYMBOL_FORMAT), S(EDGECLASS_UNSUPPORTED_OPERATOR), S(EDGECLASS_MODEL_MISMATCH),
        S(EDGECLASS_NNEF), S(EDGECLASS_IO), S(EDGECLASS_MEMORY_LIMIT), S(EDGECLASS_IMAGE_TOO_LARGE),
        S(EDGECLASS_TIMEOUT), S(EDGECLASS_CANCELLED), S(EDGECLASS_INTERNAL), S(EDGECLASS_PANIC),
    };
#undef S
    static const uint32_t unknown[] = {1, 2, 999, 1000, 1007, 2000, 2007, 3008, 4005, 5000, 5003,
                                       6000, 0x7fffffffu, 0xffffffffu};
    size_t i;
    for (i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *n = edgeclass_status_name(all[i].code);
        CHECKF(n != NULL && strcmp(n, all[i].name) == 0, "%u -> %s", all[i].code, n);
    }
    /* The numbers are part of the ABI: never renumbered. */
    CHECK(EDGECLASS_INVALID_ARGUMENT == 1001 && EDGECLASS_UNSUPPORTED == 1006);
    CHECK(EDGECLASS_UNSUPPORTED_CONTENT_TYPE == 2001 && EDGECLASS_BAD_TENSOR == 2006);
    CHECK(EDGECLASS_MODEL_NOT_FOUND == 3001 && EDGECLASS_IO == 3007);
    CHECK(EDGECLASS_MEMORY_LIMIT == 4001 && EDGECLASS_CANCELLED == 4004);
    CHECK(EDGECLASS_INTERNAL == 5001 && EDGECLASS_PANIC == 5002);
    for (i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *n = edgeclass_status_name(unknown[i]);
        CHECKF(n != NULL && strcmp(n, "EDGECLASS_UNKNOWN_STATUS") == 0, "%u -> %s", unknown[i], n);
    }
}

/* A thread that has made no call has no last error; errors do not leak between threads. */
static void *fresh_thread(void *arg)
{
    char buf[16];
    int *ok = arg;
    memset(buf, 'X', sizeof buf);
    *ok = edgeclass_last_error_code() == EDGECLASS_OK && edgeclass_last_error_message(NULL, 0) == 1 &&
          edgeclass_last_error_message(buf, sizeof buf) == 1 && buf[0] == '\0';
    return NULL;
}

static void test_last_error(void)
{
    pthread_t t;
    int fresh_ok = 0;
    edgeclass_service *h = (edgeclass_service *)&h; /* must not be touched on failure */
    char buf[512], small[8];
    size_t need, full;

    CHECK_STATUS(edgeclass_service_find("no-such-service", &h), EDGECLASS_UNKNOWN_SERVICE);
    CHECK(h == (edgeclass_service *)&h);
    CHECK(edgeclass_last_error_code() == EDGECLASS_UNKNOWN_SERVICE);
    need = edgeclass_last_error_message(NULL, 0);
    full = edgeclass_last_error_message(buf, sizeof buf);
    CHECK(need == full && need > 1 && need <= sizeof buf);
    CHECK(strlen(buf) + 1 == need);
    CHECKF(strstr(buf, "no-such-service") != NULL, "%s", buf);
    CHECKF(strstr(buf, "UNKNOWN_SERVICE") != NULL, "%s", buf);
    /* cap 0: nothing written; cap 1: just the NUL; short: a truncated, terminated prefix. */
    memset(small, 'X', sizeof small);
    CHECK(edgeclass_last_error_message(small, 0) == need && small[0] == 'X');
    CHECK(edgeclass_last_error_message(small, 1) == need && small[0] == '\0' && small[1] == 'X');
    CHECK(edgeclass_last_error_message(small, sizeof small) == need);
    CHECK(small[sizeof small - 1] == '\0' && strncmp(small, buf, sizeof small - 1) == 0);
    /* Still there: reading does not clear it. */
    CHECK(edgeclass_last_error_code() == EDGECLASS_UNKNOWN_SERVICE);
    CHECK(edgeclass_last_error_message(NULL, 0) == need);

    if (CHECK(pthread_create(&t, NULL, fresh_thread, &fresh_ok) == 0)) {
        CHECK(pthread_join(t, NULL) == 0);
        CHECK(fresh_ok);
    }
    CHECK(edgeclass_last_error_code() == EDGECLASS_UNKNOWN_SERVICE);

    /* A successful fallible call clears it: the code tells whether the last call failed. */
    {
        uint64_t live;
        CHECK_STATUS(edgeclass_heap_stats(&live, NULL), EDGECLASS_OK);
        CHECK(edgeclass_last_error_code() == EDGECLASS_OK);
        CHECK(edgeclass_last_error_message(buf, sizeof buf) == 1 && buf[0] == '\0');
    }
}

static void test_log_callback(void)
{
    edgeclass_service *svc = NULL;
    edgeclass_result *r = NULL;
    static const uint8_t junk[] = "this is not an image";
    int i, n_open, found_loaded = 0, found_failed = 0;

    log_clear();
    /* Info level: the open's "loaded" and "memory budget" lines. */
    CHECK_STATUS(edgeclass_set_log_callback(log_cb, &sink, 3), EDGECLASS_OK);
    if (!CHECK_STATUS(open_service("log-svc", TINY, BIG, NULL, &svc), EDGECLASS_OK))
        return;
    pthread_mutex_lock(&sink.lock);
    n_open = sink.n;
    for (i = 0; i < sink.n; i++) {
        CHECKF(strncmp(sink.line[i], "[log-svc]", 9) == 0, "line %d not prefixed: %s", i,
               sink.line[i]);
        CHECKF(sink.level[i] >= 1 && sink.level[i] <= 3, "level %d", sink.level[i]);
        if (strstr(sink.line[i], "loaded") != NULL)
            found_loaded = 1;
    }
    pthread_mutex_unlock(&sink.lock);
    CHECKF(n_open >= 1 && found_loaded, "%d lines while opening", n_open);

    /* A failed request is a warning naming the service. */
    log_clear();
    CHECK_STATUS(edgeclass_classify(svc, "image/jpeg", junk, sizeof junk, NULL, &r),
                 EDGECLASS_UNSUPPORTED_IMAGE_FORMAT);
    pthread_mutex_lock(&sink.lock);
    for (i = 0; i < sink.n; i++) {
        CHECKF(strncmp(sink.line[i], "[log-svc]", 9) == 0, "not prefixed: %s", sink.line[i]);
        if (sink.level[i] == 2 && strstr(sink.line[i], "request failed") != NULL)
            found_failed = 1;
    }
    pthread_mutex_unlock(&sink.lock);
    CHECK(found_failed);

    /* Warnings from the image stage are the service's lines too: PNG bytes sent as JPEG. */
    log_clear();
    CHECK_STATUS(classify_fixture(svc, "images/png_content_named_jpg.jpg", NULL, &r), EDGECLASS_OK);
    edgeclass_result_free(r);
    r = NULL;
    pthread_mutex_lock(&sink.lock);
    CHECKF(sink.n >= 1, "no warning for a content type that disagrees with the bytes");
    for (i = 0; i < sink.n; i++)
        CHECKF(strncmp(sink.line[i], "[log-svc]", 9) == 0, "not prefixed: %s", sink.line[i]);
    pthread_mutex_unlock(&sink.lock);

    /* Level 1 (errors only) silences the warning; an invalid level changes nothing. */
    log_clear();
    CHECK_STATUS(edgeclass_set_log_callback(log_cb, &sink, 1), EDGECLASS_OK);
    CHECK_STATUS(edgeclass_classify(svc, "image/jpeg", junk, sizeof junk, NULL, &r),
                 EDGECLASS_UNSUPPORTED_IMAGE_FORMAT);
    CHECK_STATUS(edgeclass_set_log_callback(log_cb, &sink, -1), EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("-1");
    CHECK_STATUS(edgeclass_set_log_callback(log_cb, &sink, 6), EDGECLASS_INVALID_ARGUMENT);
    CHECK_STATUS(edgeclass_classify(svc, "image/jpeg", junk, sizeof junk, NULL, &r),
                 EDGECLASS_UNSUPPORTED_IMAGE_FORMAT);
    pthread_mutex_lock(&sink.lock);
    CHECKF(sink.n == 0, "%d lines at level 1", sink.n);
    pthread_mutex_unlock(&sink.lock);

    /* Back to warnings, still captured (keeps the test output clean). */
    CHECK_STATUS(edgeclass_set_log_callback(log_cb, &sink, 2), EDGECLASS_OK);
    CHECK_STATUS(edgeclass_classify(svc, "image/jpeg", junk, sizeof junk, NULL, &r),
                 EDGECLASS_UNSUPPORTED_IMAGE_FORMAT);
    pthread_mutex_lock(&sink.lock);
    CHECK(sink.n >= 1);
    pthread_mutex_unlock(&sink.lock);
    CHECK(r == NULL);
    edgeclass_service_close(svc);
    log_clear();
}

/* callback NULL sends the lines to stderr: capture fd 2 in a temporary file and look. */
static void test_log_to_stderr(void)
{
    edgeclass_service *svc = NULL;
    edgeclass_result *r = NULL;
    static const uint8_t junk[] = "not an image either";
    FILE *tmp = tmpfile();
    int saved = -1;
    char text[8192];
    size_t n = 0;

    if (!CHECK(tmp != NULL))
        return;
    if (!CHECK_STATUS(open_service("stderr-svc", TINY, BIG, NULL, &svc), EDGECLASS_OK)) {
        fclose(tmp);
        return;
    }
    fflush(stderr);
    saved = dup(2);
    if (CHECK(saved >= 0) && CHECK(dup2(fileno(tmp), 2) == 2)) {
        CHECK_STATUS(edgeclass_set_log_callback(NULL, NULL, 2), EDGECLASS_OK);
        CHECK_STATUS(edgeclass_classify(svc, "image/png", junk, sizeof junk, NULL, &r),
                     EDGECLASS_UNSUPPORTED_IMAGE_FORMAT);
        CHECK_STATUS(edgeclass_set_log_callback(log_cb, &sink, 2), EDGECLASS_OK);
        fflush(stderr);
        CHECK(dup2(saved, 2) == 2);
    }
    if (saved >= 0)
        CHECK(close(saved) == 0);
    rewind(tmp);
    n = fread(text, 1, sizeof text - 1, tmp);
    text[n] = '\0';
    CHECKF(strstr(text, "[stderr-svc] request failed") != NULL, "stderr had: %s", text);
    CHECK(fclose(tmp) == 0);
    edgeclass_service_close(svc);
    log_clear();
}

static void test_params_arguments(void)
{
    edgeclass_params *p = edgeclass_params_new();
    if (!CHECK(p != NULL))
        return;
    CHECK_STATUS(edgeclass_params_set(NULL, "LocalInferenceServiceName", "x1"),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("params");
    CHECK_STATUS(edgeclass_params_set(p, NULL, "x1"), EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("key");
    CHECK_STATUS(edgeclass_params_set(p, "LocalInferenceServiceName", NULL),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("value");
    CHECK_STATUS(edgeclass_params_set(p, "\xff\xfe", "x1"), EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("UTF-8");
    CHECK_STATUS(edgeclass_params_set(p, "LocalInferenceServiceName", "ab\xc3\x28"),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("UTF-8");
    /* Any valid UTF-8 key and value are accepted here; open validates them. */
    CHECK_STATUS(edgeclass_params_set(p, "anything", "\xc3\xa9t\xc3\xa9"), EDGECLASS_OK);
    CHECK_STATUS(edgeclass_params_set(p, "", ""), EDGECLASS_OK);
    edgeclass_params_free(p);
    edgeclass_params_free(NULL);
}

/* One bad value: open must refuse it with INVALID_PARAMETER (or the given code) and a message
 * that names the parameter (and the value, when it is plain text). */
typedef struct {
    const char *key, *value;
    uint32_t code;
    const char *also; /* another piece the message must contain, or NULL */
} param_case;

static void check_param_case(const param_case *c)
{
    const char *extra[] = {c->key, c->value, NULL};
    edgeclass_service *svc = (edgeclass_service *)&svc;
    edgeclass_status st = open_service("param-rules", TINY, BIG, extra, &svc);
    char msg[4096];
    last_msg(msg, sizeof msg);
    CHECKF(st == c->code, "%s=\"%s\": got %s (%s), want %s", c->key, c->value,
           edgeclass_status_name(st), msg, edgeclass_status_name(c->code));
    if (st == EDGECLASS_OK) {
        edgeclass_service_close(svc);
        return;
    }
    CHECKF(svc == NULL, "out pointer must be NULL or untouched... got %p", (void *)svc);
    CHECKF(strstr(msg, c->key) != NULL, "%s=\"%s\": message does not name it: %s", c->key,
           c->value, msg);
    /* An unknown key's message names the key (and lists the known ones), not the value. */
    if (!(c->also != NULL && strcmp(c->also, "unknown parameter") == 0) && c->value[0] != '\0' && strspn(c->value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:/. ") == strlen(c->value))
        CHECKF(strstr(msg, c->value) != NULL, "%s=\"%s\": message does not show the value: %s",
               c->key, c->value, msg);
    if (c->also != NULL)
        CHECKF(strstr(msg, c->also) != NULL, "%s=\"%s\": message lacks \"%s\": %s", c->key,
               c->value, c->also, msg);
}

static void test_parameter_rules_bad(void)
{
    static char name64[65], name_long[2000];
    size_t i;
    const param_case cases[] = {
        /* ^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}$ */
        {"LocalInferenceServiceName", "a", EDGECLASS_INVALID_PARAMETER, "{1,62}"},
        {"LocalInferenceServiceName", "", EDGECLASS_INVALID_PARAMETER, "{1,62}"},
        {"LocalInferenceServiceName", "my_service", EDGECLASS_INVALID_PARAMETER, "{1,62}"},
        {"LocalInferenceServiceName", "-abc", EDGECLASS_INVALID_PARAMETER, "{1,62}"},
        {"LocalInferenceServiceName", "ab c", EDGECLASS_INVALID_PARAMETER, "{1,62}"},
        {"LocalInferenceServiceName", "na\xc3\xafve", EDGECLASS_INVALID_PARAMETER, "{1,62}"},
        {"LocalInferenceServiceName", name64, EDGECLASS_INVALID_PARAMETER, "{1,62}"},
        {"LocalInferenceServiceName", name_long, EDGECLASS_INVALID_PARAMETER, "{1,62}"},
        /* [1-9][0-9]*, at most 86400 */
        {"LocalInferenceServiceTimeoutSeconds", "0", EDGECLASS_INVALID_PARAMETER, "[1-9][0-9]*"},
        {"LocalInferenceServiceTimeoutSeconds", "", EDGECLASS_INVALID_PARAMETER, "[1-9][0-9]*"},
        {"LocalInferenceServiceTimeoutSeconds", "10s", EDGECLASS_INVALID_PARAMETER, "[1-9][0-9]*"},
        {"LocalInferenceServiceTimeoutSeconds", "-1", EDGECLASS_INVALID_PARAMETER, "[1-9][0-9]*"},
        {"LocalInferenceServiceTimeoutSeconds", "010", EDGECLASS_INVALID_PARAMETER, "[1-9][0-9]*"},
        {"LocalInferenceServiceTimeoutSeconds", " 10", EDGECLASS_INVALID_PARAMETER, "[1-9][0-9]*"},
        {"LocalInferenceServiceTimeoutSeconds", "1.5", EDGECLASS_INVALID_PARAMETER, "[1-9][0-9]*"},
        {"LocalInferenceServiceTimeoutSeconds", "86401", EDGECLASS_INVALID_PARAMETER, "86400"},
        {"LocalInferenceServiceTimeoutSeconds", "99999999999999999999999",
         EDGECLASS_INVALID_PARAMETER, "maximum"},
        /* [1-9][0-9]*, at most 268435456 (256 GiB) */
        {"LocalInferenceServiceMemoryLimitKB", "0", EDGECLASS_INVALID_PARAMETER, "[1-9][0-9]*"},
        {"LocalInferenceServiceMemoryLimitKB", "-5", EDGECLASS_INVALID_PARAMETER, "[1-9][0-9]*"},
        {"LocalInferenceServiceMemoryLimitKB", "500000KB", EDGECLASS_INVALID_PARAMETER, "[1-9][0-9]*"},
        {"LocalInferenceServiceMemoryLimitKB", "268435457", EDGECLASS_INVALID_PARAMETER, "268435456"},
        {"LocalInferenceServiceMemoryLimitKB", "99999999999999999999999",
         EDGECLASS_INVALID_PARAMETER, "maximum"},
        {"MLModelDestinationPath", "", EDGECLASS_INVALID_PARAMETER, NULL},
        /* [a-zA-Z0-9:_-]+ */
        {"MLModelResourceId", "bad id", EDGECLASS_INVALID_PARAMETER, "[a-zA-Z0-9:_-]+"},
        {"MLModelResourceId", "", EDGECLASS_INVALID_PARAMETER, "[a-zA-Z0-9:_-]+"},
        {"MLModelResourceId", "a/b", EDGECLASS_INVALID_PARAMETER, "[a-zA-Z0-9:_-]+"},
        /* arn:aws:sagemaker:REGION:ACCOUNT:training-job/NAME */
        {"MLModelSageMakerJobArn", "arn:aws:s3:::bucket", EDGECLASS_INVALID_PARAMETER, "training-job/"},
        {"MLModelSageMakerJobArn", "arn:aws:sagemaker:us-west-2:12ab:training-job/x1",
         EDGECLASS_INVALID_PARAMETER, "training-job/"},
        {"MLModelSageMakerJobArn", "arn:aws:sagemaker::123:training-job/x1",
         EDGECLASS_INVALID_PARAMETER, "training-job/"},
        {"MLModelSageMakerJobArn", "arn:aws:sagemaker:us-west-2:123:training-job/x",
         EDGECLASS_INVALID_PARAMETER, "training-job/"},
        {"MLModelSageMakerJobArn", "arn:aws:sagemaker:us-west-2:123:training-job/-x1",
         EDGECLASS_INVALID_PARAMETER, "training-job/"},
        {"MLModelSageMakerJobArn", "arn:aws:sagemaker:us-west-2:123:training-job/a_b",
         EDGECLASS_INVALID_PARAMETER, "training-job/"},
        {"MLModelSageMakerJobArn", "arn:aws:sagemaker:us-west-2:123:model/x1",
         EDGECLASS_INVALID_PARAMETER, "training-job/"},
        {"MLModelSageMakerJobArn", "", EDGECLASS_INVALID_PARAMETER, "training-job/"},
        /* CPU or GPU (GPU: a build without a GPU runtime says so) */
        {"GPUAcceleration", "TPU", EDGECLASS_INVALID_PARAMETER, "CPU or GPU"},
        {"GPUAcceleration", "cpu", EDGECLASS_INVALID_PARAMETER, "CPU or GPU"},
        {"GPUAcceleration", "", EDGECLASS_INVALID_PARAMETER, "CPU or GPU"},
        {"GPUAcceleration", "GPU", EDGECLASS_UNSUPPORTED, "CPU"},
        /* ^$|^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}$ */
        {"MLFeedbackConnectorConfigId", "x", EDGECLASS_INVALID_PARAMETER, "^$|"},
        {"MLFeedbackConnectorConfigId", "-ab", EDGECLASS_INVALID_PARAMETER, "^$|"},
        {"MLFeedbackConnectorConfigId", "my_config", EDGECLASS_INVALID_PARAMETER, "^$|"},
        {"MLFeedbackConnectorConfigId", name64, EDGECLASS_INVALID_PARAMETER, "^$|"},
        /* edgeclass's own */
        {"EdgeclassWorkers", "0", EDGECLASS_INVALID_PARAMETER, "[1-9][0-9]*"},
        {"EdgeclassWorkers", "65", EDGECLASS_INVALID_PARAMETER, "64"},
        {"EdgeclassWorkers", "two", EDGECLASS_INVALID_PARAMETER, "[1-9][0-9]*"},
        {"EdgeclassThreads", "0", EDGECLASS_INVALID_PARAMETER, "[1-9][0-9]*"},
        {"EdgeclassThreads", "65", EDGECLASS_INVALID_PARAMETER, "64"},
        {"EdgeclassThreads", "-2", EDGECLASS_INVALID_PARAMETER, "[1-9][0-9]*"},
        {"EdgeclassStrictDecoding", "maybe", EDGECLASS_INVALID_PARAMETER, "true or false"},
        {"EdgeclassStrictDecoding", "", EDGECLASS_INVALID_PARAMETER, "true or false"},
        {"EdgeclassApplyExif", "2", EDGECLASS_INVALID_PARAMETER, "true or false"},
        {"EdgeclassMaxImagePixels", "0", EDGECLASS_INVALID_PARAMETER, "[1-9][0-9]*"},
        {"EdgeclassMaxImagePixels", "17179869185", EDGECLASS_INVALID_PARAMETER, "maximum"},
        {"EdgeclassJpegDecoder", "libjpeg", EDGECLASS_INVALID_PARAMETER, "zune or libjpeg-turbo"},
        {"EdgeclassJpegDecoder", "", EDGECLASS_INVALID_PARAMETER, "zune or libjpeg-turbo"},
        /* Keys are case-sensitive: a typo is an unknown parameter, and the message lists the
         * known ones. */
        {"LocalInferenceServiceTimeOutSeconds", "3", EDGECLASS_INVALID_PARAMETER, "unknown parameter"},
        {"gpuacceleration", "CPU", EDGECLASS_INVALID_PARAMETER, "unknown parameter"},
        {"", "x", EDGECLASS_INVALID_PARAMETER, "unknown parameter"},
    };
    memset(name64, 'a', 64);
    name64[64] = '\0';
    memset(name_long, 'b', sizeof name_long - 1);
    name_long[sizeof name_long - 1] = '\0';
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_param_case(&cases[i]);
}

static void test_parameter_rules_good(void)
{
    static char name63[64];
    size_t i;
    const param_case cases[] = {
        {"LocalInferenceServiceName", "ab", EDGECLASS_OK, NULL},
        {"LocalInferenceServiceName", "9-A-b-", EDGECLASS_OK, NULL},
        {"LocalInferenceServiceName", name63, EDGECLASS_OK, NULL},
        {"LocalInferenceServiceTimeoutSeconds", "1", EDGECLASS_OK, NULL},
        {"LocalInferenceServiceTimeoutSeconds", "86400", EDGECLASS_OK, NULL},
        {"LocalInferenceServiceMemoryLimitKB", "268435456", EDGECLASS_OK, NULL},
        {"MLModelResourceId", "a:b_c-D9", EDGECLASS_OK, NULL},
        {"MLModelSageMakerJobArn", "arn:aws:sagemaker:eu-central-1:1:training-job/ic-2019",
         EDGECLASS_OK, NULL},
        {"MLModelSageMakerJobArn",
         "arn:aws:sagemaker:us-west-2:123456789012:training-job:MyImageClassifier", EDGECLASS_OK,
         NULL},
        {"GPUAcceleration", "CPU", EDGECLASS_OK, NULL},
        {"MLFeedbackConnectorConfigId", "", EDGECLASS_OK, NULL},
        {"MLFeedbackConnectorConfigId", "MyConfig0", EDGECLASS_OK, NULL},
        {"MLFeedbackConnectorConfigId", name63, EDGECLASS_OK, NULL},
        {"EdgeclassWorkers", "1", EDGECLASS_OK, NULL},
        {"EdgeclassWorkers", "3", EDGECLASS_OK, NULL},
        {"EdgeclassThreads", "1", EDGECLASS_OK, NULL},
        {"EdgeclassStrictDecoding", "true", EDGECLASS_OK, NULL},
        {"EdgeclassStrictDecoding", "FALSE", EDGECLASS_OK, NULL},
        {"EdgeclassStrictDecoding", "1", EDGECLASS_OK, NULL},
        {"EdgeclassStrictDecoding", "no", EDGECLASS_OK, NULL},
        {"EdgeclassApplyExif", "Yes", EDGECLASS_OK, NULL},
        {"EdgeclassApplyExif", "0", EDGECLASS_OK, NULL},
        {"EdgeclassMaxImagePixels", "1", EDGECLASS_OK, NULL},
        {"EdgeclassMaxImagePixels", "17179869184", EDGECLASS_OK, NULL},
        {"EdgeclassJpegDecoder", "zune", EDGECLASS_OK, NULL},
    };
    memset(name63, 'z', 63);
    name63[63] = '\0';
    for (i = 0; i < sizeof cases / sizeof cases[0]; i += step(8))
        check_param_case(&cases[i]);
}

/* Each required parameter left out; and the documentation example with nothing changed. */
static void test_parameter_required(void)
{
    static const char *const required[] = {
        "MLModelDestinationPath", "LocalInferenceServiceName",
        "LocalInferenceServiceTimeoutSeconds", "LocalInferenceServiceMemoryLimitKB"};
    char model[1024];
    size_t i, j;
    for (i = 0; i < 4; i++) {
        edgeclass_params *p = edgeclass_params_new();
        edgeclass_service *svc = NULL;
        const char *kv[] = {"MLModelDestinationPath", fx_path(model, sizeof model, TINY),
                            "LocalInferenceServiceName", "required-test",
                            "LocalInferenceServiceTimeoutSeconds", "10",
                            "LocalInferenceServiceMemoryLimitKB", BIG};
        if (!CHECK(p != NULL))
            return;
        for (j = 0; j < 4; j++)
            if (strcmp(kv[2 * j], required[i]) != 0)
                CHECK_STATUS(edgeclass_params_set(p, kv[2 * j], kv[2 * j + 1]), EDGECLASS_OK);
        CHECK_STATUS(edgeclass_service_open(p, &svc), EDGECLASS_INVALID_PARAMETER);
        CHECK_MSG(required[i]);
        CHECK_MSG("required");
        CHECK(svc == NULL);
        edgeclass_service_close(svc);
        /* With it, the four required ones alone are enough (the optional ones are optional). */
        CHECK_STATUS(edgeclass_params_set(p, required[i], kv[2 * i + 1]), EDGECLASS_OK);
        if ((i == 0 || !quick()) && CHECK_STATUS(edgeclass_service_open(p, &svc), EDGECLASS_OK))
            edgeclass_service_close(svc);
        edgeclass_params_free(p);
    }
}

/* EdgeclassJpegDecoder=libjpeg-turbo: a jpeg-turbo build decodes JPEGs bit-exactly; a build
 * without it must say so when the service opens (as GPUAcceleration=GPU does), not open a
 * service whose every JPEG request then fails. */
static void test_jpeg_decoder_choice(void)
{
    const char *extra[] = {"EdgeclassJpegDecoder", "libjpeg-turbo", NULL};
    edgeclass_service *svc = NULL;
    edgeclass_status st = open_service("turbo-choice", TINY, BIG, extra, &svc);
    if (st == EDGECLASS_OK) {
        edgeclass_result *r = NULL;
        edgeclass_status cs = classify_fixture(svc, fx_tiny_digits[0].image, NULL, &r);
        char msg[1024];
        last_msg(msg, sizeof msg);
        /* Bit-exact with OpenCV: JPEG digits then match MXNet within the exact tolerance. */
        if (CHECKF(cs == EDGECLASS_OK,
                   "the service opened with EdgeclassJpegDecoder=libjpeg-turbo, but a JPEG request "
                   "gives %s: %s",
                   edgeclass_status_name(cs), msg))
            compare_golden(&fx_tiny_digits[0], r, 1);
        edgeclass_result_free(r);
        edgeclass_service_close(svc);
    } else {
        CHECK_STATUS(st, EDGECLASS_UNSUPPORTED);
        CHECK_MSG("EdgeclassJpegDecoder");
        CHECK_MSG("jpeg-turbo");
    }
}

/* EdgeclassThreads=2: a multithread build runs each inference on 2 threads (same answers within
 * float noise); a build without it refuses at open. */
static void test_threads_choice(void)
{
    const char *extra[] = {"EdgeclassThreads", "2", NULL};
    edgeclass_service *svc = NULL;
    edgeclass_status st = open_service("threads-choice", TINY, BIG, extra, &svc);
    if (st == EDGECLASS_OK) {
        edgeclass_result *r = NULL;
        if (CHECK_STATUS(classify_fixture(svc, fx_tiny_digits[7].image, NULL, &r), EDGECLASS_OK))
            compare_golden(&fx_tiny_digits[7], r, 1);
        edgeclass_result_free(r);
        edgeclass_service_close(svc);
    } else {
        CHECK_STATUS(st, EDGECLASS_UNSUPPORTED);
        CHECK_MSG("multithread");
        CHECK(svc == NULL);
    }
}

static void test_open_close_reopen(void)
{
    edgeclass_service *a = NULL, *b = (edgeclass_service *)&b, *found = NULL, *a2 = NULL;
    edgeclass_result *r = NULL;
    int round;
    for (round = 0; round < (step(2) == 1 ? 3 : 1); round++) {
        if (!CHECK_STATUS(open_service("reopen-svc", TINY, BIG, NULL, &a), EDGECLASS_OK))
            return;
        CHECK(a != NULL);
        /* A second open of the same name is refused; the first stays open and working. */
        CHECK_STATUS(open_service("reopen-svc", TINY, BIG, NULL, &b), EDGECLASS_SERVICE_EXISTS);
        CHECK_MSG("reopen-svc");
        CHECK(b == NULL);
        /* Another name opens alongside. */
        if (CHECK_STATUS(open_service("reopen-other", TINY, BIG, NULL, &a2), EDGECLASS_OK))
            edgeclass_service_close(a2);
        if (CHECK_STATUS(classify_fixture(a, fx_tiny_digits[7].image, NULL, &r), EDGECLASS_OK))
            compare_golden(&fx_tiny_digits[7], r, 1);
        edgeclass_result_free(r);
        r = NULL;
        edgeclass_service_close(a);
        a = NULL;
        CHECK_STATUS(edgeclass_service_find("reopen-svc", &found), EDGECLASS_UNKNOWN_SERVICE);
        CHECK_STATUS(edgeclass_service_find("reopen-other", &found), EDGECLASS_UNKNOWN_SERVICE);
    }
    /* A failed open (bad model) leaves the name free. */
    CHECK_STATUS(open_service("reopen-svc", "no/such/model", BIG, NULL, &a),
                 EDGECLASS_MODEL_NOT_FOUND);
    CHECK_STATUS(edgeclass_service_find("reopen-svc", &found), EDGECLASS_UNKNOWN_SERVICE);
    if (CHECK_STATUS(open_service("reopen-svc", TINY, BIG, NULL, &a), EDGECLASS_OK))
        edgeclass_service_close(a);
}

static void test_find_and_handles(void)
{
    edgeclass_service *a = NULL, *f1 = NULL, *f2 = NULL, *fresh = NULL, *g = NULL;
    edgeclass_result *r = NULL;
    if (!CHECK_STATUS(open_service("handles-svc", TINY, BIG, NULL, &a), EDGECLASS_OK))
        return;
    CHECK_STATUS(edgeclass_service_find("handles-svc", &f1), EDGECLASS_OK);
    CHECK_STATUS(edgeclass_service_find("handles-svc", &f2), EDGECLASS_OK);
    CHECK(f1 != NULL && f2 != NULL && f1 != a && f1 != f2);
    CHECK_STATUS(edgeclass_service_find("handles-SVC", &g), EDGECLASS_UNKNOWN_SERVICE);
    CHECK_STATUS(edgeclass_service_find("", &g), EDGECLASS_UNKNOWN_SERVICE);
    /* Freeing a found handle does not close the service. */
    edgeclass_service_free(f2);
    CHECK_STATUS(edgeclass_service_find("handles-svc", &f2), EDGECLASS_OK);
    edgeclass_service_free(f2);
    /* Closing through a found handle closes the service: the name is free again, but the other
     * handles keep working. */
    edgeclass_service_close(f1);
    CHECK_STATUS(edgeclass_service_find("handles-svc", &g), EDGECLASS_UNKNOWN_SERVICE);
    if (CHECK_STATUS(classify_fixture(a, fx_tiny_digits[11].image, NULL, &r), EDGECLASS_OK))
        compare_golden(&fx_tiny_digits[11], r, 1);
    edgeclass_result_free(r);
    r = NULL;
    /* A new service under the same name; closing the stale handle must not close the new one. */
    if (CHECK_STATUS(open_service("handles-svc", TINY, BIG, NULL, &fresh), EDGECLASS_OK)) {
        edgeclass_service_close(a);
        a = NULL;
        if (CHECK_STATUS(edgeclass_service_find("handles-svc", &g), EDGECLASS_OK))
            edgeclass_service_free(g);
        edgeclass_service_close(fresh);
    }
    edgeclass_service_free(a);
}

static void test_invoke(void)
{
    edgeclass_service *a = NULL;
    edgeclass_result *r1 = NULL, *r2 = NULL;
    const fx_golden *g = &fx_tiny_digits[13];
    size_t len = 0;
    uint8_t *data = read_fixture(g->image, &len);
    float p1[FX_TINY_CLASSES], p2[FX_TINY_CLASSES];
    if (!CHECK(data != NULL))
        return;
    if (!CHECK_STATUS(open_service("imageClassification", TINY, BIG, NULL, &a), EDGECLASS_OK)) {
        free(data);
        return;
    }
    /* The SDK's call shape on the registered name gives what classify gives. */
    if (CHECK_STATUS(edgeclass_invoke("image-classification", "imageClassification", "image/png",
                                      data, len, NULL, &r1),
                     EDGECLASS_OK) &&
        CHECK_STATUS(edgeclass_classify(a, "image/png", data, len, NULL, &r2), EDGECLASS_OK)) {
        compare_golden(g, r1, 1);
        CHECK(result_probs(r1, p1, FX_TINY_CLASSES) == FX_TINY_CLASSES &&
              result_probs(r2, p2, FX_TINY_CLASSES) == FX_TINY_CLASSES &&
              same_floats(p1, p2, FX_TINY_CLASSES));
    }
    edgeclass_result_free(r1);
    edgeclass_result_free(r2);
    r1 = NULL;
    CHECK_STATUS(edgeclass_invoke("image-classification", "noSuchService", "image/png", data, len,
                                  NULL, &r1),
                 EDGECLASS_UNKNOWN_SERVICE);
    CHECK_MSG("noSuchService");
    /* Another (valid-looking) algorithm type has no service here. */
    CHECK_STATUS(edgeclass_invoke("object-detection", "imageClassification", "image/png", data,
                                  len, NULL, &r1),
                 EDGECLASS_UNKNOWN_SERVICE);
    CHECK_MSG("object-detection");
    CHECK_STATUS(edgeclass_invoke("image_classification!", "imageClassification", "image/png",
                                  data, len, NULL, &r1),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("AlgoType");
    CHECK(r1 == NULL);
    edgeclass_service_close(a);
    CHECK_STATUS(edgeclass_invoke("image-classification", "imageClassification", "image/png",
                                  data, len, NULL, &r1),
                 EDGECLASS_UNKNOWN_SERVICE);
    free(data);
}

static void test_service_info_and_labels(void)
{
    const char *extra[] = {"EdgeclassWorkers", "2", NULL};
    edgeclass_service *svc = NULL, *nolabels = NULL;
    svc_info info;
    edgeclass_result *r = NULL;
    char buf[64], tiny1[1];
    size_t i, need = 0;
    if (!CHECK_STATUS(open_service("info-svc", TINY, "300000", extra, &svc), EDGECLASS_OK))
        return;
    memset(&info, 0xab, sizeof info);
    if (CHECK_STATUS(edgeclass_service_get_info(svc, &info), EDGECLASS_OK)) {
        CHECK(info.channels == FX_TINY_C && info.height == FX_TINY_H && info.width == FX_TINY_W);
        CHECK(info.classes == FX_TINY_CLASSES);
        CHECK(info.has_labels);
        CHECK(info.limit_bytes == 300000ull * 1024);
        CHECK(info.workers == 2);
        CHECK(info.model_bytes > 0 && info.activation_bytes > 0 && info.worker_buffer_bytes > 0);
        /* Budget: the model, each worker's activations and buffers, and the rest for images. */
        CHECK(info.model_bytes + info.workers * (info.activation_bytes + info.worker_buffer_bytes) +
                  info.workers * info.image_bytes <=
              info.limit_bytes);
        CHECK(info.image_bytes >= (uint64_t)FX_TINY_H * FX_TINY_W * 4);
        CHECK(info.requests == 0 && info.succeeded == 0 && info.failed == 0);
        printf("    tiny-trained: model %llu B, activations %llu B, buffers %llu B per worker, "
               "image budget %llu B per worker, measured %d\n",
               (unsigned long long)info.model_bytes, (unsigned long long)info.activation_bytes,
               (unsigned long long)info.worker_buffer_bytes, (unsigned long long)info.image_bytes,
               (int)info.measured);
    }
    /* Counters follow the requests. */
    CHECK_STATUS(classify_fixture(svc, fx_tiny_digits[0].image, NULL, &r), EDGECLASS_OK);
    edgeclass_result_free(r);
    CHECK_STATUS(classify_fixture(svc, "images/random_bytes.jpg", NULL, &r),
                 EDGECLASS_UNSUPPORTED_IMAGE_FORMAT);
    if (CHECK_STATUS(edgeclass_service_get_info(svc, &info), EDGECLASS_OK))
        CHECK(info.requests == 2 && info.succeeded == 1 && info.failed == 1);
    /* Labels: labels.txt, one per class. */
    CHECK(FX_TINY_LABELS_LEN == FX_TINY_CLASSES);
    for (i = 0; i < FX_TINY_LABELS_LEN; i++) {
        need = 0;
        if (CHECK_STATUS(edgeclass_service_label(svc, i, buf, sizeof buf, &need), EDGECLASS_OK))
            CHECKF(strcmp(buf, fx_tiny_labels[i]) == 0 && need == strlen(buf) + 1,
                   "label %zu: %s", i, buf);
    }
    /* NULL with capacity 0 is a size query; a real buffer that is too small is an error. */
    need = 0;
    CHECK_STATUS(edgeclass_service_label(svc, 0, NULL, 0, &need), EDGECLASS_OK);
    CHECK(need == strlen(fx_tiny_labels[0]) + 1);
    tiny1[0] = 'X';
    CHECK_STATUS(edgeclass_service_label(svc, 1, tiny1, 0, &need), EDGECLASS_BUFFER_TOO_SMALL);
    CHECK(tiny1[0] == 'X' && need == strlen(fx_tiny_labels[1]) + 1);
    CHECK_MSG("bytes");
    CHECK_STATUS(edgeclass_service_label(svc, 1, tiny1, 1, &need), EDGECLASS_BUFFER_TOO_SMALL);
    CHECK(tiny1[0] == '\0' && need == strlen(fx_tiny_labels[1]) + 1);
    CHECK_STATUS(edgeclass_service_label(svc, 2, buf, sizeof buf, NULL), EDGECLASS_OK);
    CHECK_STATUS(edgeclass_service_label(svc, FX_TINY_CLASSES, buf, sizeof buf, &need),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_STATUS(edgeclass_service_label(svc, (size_t)-1, buf, sizeof buf, &need),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_STATUS(edgeclass_service_label(NULL, 0, buf, sizeof buf, &need),
                 EDGECLASS_INVALID_ARGUMENT);
    edgeclass_service_close(svc);
    /* A model without labels.txt. */
    if (!fx_exists("slim/r18-slim/labels.txt") &&
        CHECK_STATUS(open_service("nolabels-svc", "slim/r18-slim", BIG, NULL, &nolabels),
                     EDGECLASS_OK)) {
        if (CHECK_STATUS(edgeclass_service_get_info(nolabels, &info), EDGECLASS_OK))
            CHECK(!info.has_labels);
        CHECK_STATUS(edgeclass_service_label(nolabels, 0, buf, sizeof buf, &need),
                     EDGECLASS_INVALID_ARGUMENT);
        CHECK_MSG("labels");
        edgeclass_service_close(nolabels);
    }
}

static void test_classify_goldens(void)
{
    edgeclass_service *svc = NULL;
    size_t i;
    if (!CHECK_STATUS(open_service("goldens-svc", TINY, BIG, NULL, &svc), EDGECLASS_OK))
        return;
    /* The 20 digits: PNGs within 1e-4 and the same top-5; zune-decoded JPEGs the same top-1
     * within 0.02. Then the photos, and every decodable edge-case image. */
    for (i = 0; i < FX_TINY_DIGITS_LEN; i += step(7))
        classify_and_compare(svc, &fx_tiny_digits[i]);
    for (i = 0; i < FX_TINY_PHOTOS_LEN && !quick(); i++)
        classify_and_compare(svc, &fx_tiny_photos[i]);
    for (i = 0; i < FX_TINY_IMAGES_LEN; i += step(10))
        if (strcmp(fx_images_expect[i], "decode") == 0 && CHECK(fx_tiny_images[i].has_golden))
            classify_and_compare(svc, &fx_tiny_images[i]);
    edgeclass_service_close(svc);
}

/* The text body parses back (strtof) to exactly the probabilities; every buffer rule. */
static void test_body_and_buffers(void)
{
    edgeclass_service *svc = NULL;
    edgeclass_result *r = NULL;
    float p[FX_TINY_CLASSES + 8], back[FX_TINY_CLASSES];
    char *body = NULL, *trunc = NULL, *s, *end;
    size_t need = 0, need2 = 0, count = 0, n = 0, i, k, idx[FX_TINY_CLASSES + 4];
    float tp[FX_TINY_CLASSES + 4];
    edgeclass_call_stats st;
    size_t d;

    if (!CHECK_STATUS(open_service("body-svc", TINY, BIG, NULL, &svc), EDGECLASS_OK))
        return;
    for (d = 0; d < FX_TINY_DIGITS_LEN; d += step(10)) {
        r = NULL;
        if (!CHECK_STATUS(classify_fixture(svc, fx_tiny_digits[d].image, NULL, &r), EDGECLASS_OK))
            continue;
        CHECK(edgeclass_result_classes(r) == FX_TINY_CLASSES);
        n = result_probs(r, p, FX_TINY_CLASSES);
        CHECK(n == FX_TINY_CLASSES);
        /* Size query (NULL, 0), then the body. */
        need = 0;
        CHECK_STATUS(edgeclass_result_body(r, NULL, 0, &need), EDGECLASS_OK);
        CHECK(need > 2);
        body = malloc(need);
        trunc = malloc(need);
        if (!CHECK(body != NULL && trunc != NULL)) {
            free(body);
            free(trunc);
            edgeclass_result_free(r);
            continue;
        }
        CHECK_STATUS(edgeclass_result_body(r, body, need, &need2), EDGECLASS_OK);
        CHECK(need2 == need && strlen(body) + 1 == need);
        /* The connector's format: [p0,p1,...], no spaces. */
        CHECKF(body[0] == '[' && body[need - 2] == ']' && strchr(body, ' ') == NULL, "%s", body);
        s = body + 1;
        for (i = 0; i < FX_TINY_CLASSES; i++) {
            back[i] = strtof(s, &end);
            if (!CHECKF(end != s, "unparsable body at %zu: %s", i, body))
                break;
            s = end;
            CHECKF(*s == (i + 1 < FX_TINY_CLASSES ? ',' : ']'), "%s", body);
            s++;
        }
        CHECKF(i == FX_TINY_CLASSES && *s == '\0' && same_floats(back, p, FX_TINY_CLASSES),
               "body %s does not read back to the probabilities", body);
        /* One byte short: BUFFER_TOO_SMALL, the needed size, a terminated prefix. */
        memset(trunc, 'X', need);
        CHECK_STATUS(edgeclass_result_body(r, trunc, need - 1, &need2), EDGECLASS_BUFFER_TOO_SMALL);
        CHECK(need2 == need && trunc[need - 2] == '\0' && strncmp(trunc, body, need - 2) == 0 &&
              trunc[need - 1] == 'X');
        CHECK_STATUS(edgeclass_result_body(r, trunc, 1, NULL), EDGECLASS_BUFFER_TOO_SMALL);
        CHECK(trunc[0] == '\0');
        trunc[0] = 'Y';
        CHECK_STATUS(edgeclass_result_body(r, trunc, 0, &need2), EDGECLASS_BUFFER_TOO_SMALL);
        CHECK(trunc[0] == 'Y' && need2 == need);
        CHECK_MSG("bytes");

        /* Probabilities: short buffer copies nothing and says how many. */
        for (i = 0; i < FX_TINY_CLASSES + 8; i++)
            p[i] = -1.0f;
        CHECK_STATUS(edgeclass_result_probabilities(r, p, FX_TINY_CLASSES - 1, &count),
                     EDGECLASS_BUFFER_TOO_SMALL);
        CHECK(count == FX_TINY_CLASSES && p[0] == -1.0f);
        CHECK_MSG("probabilities");
        count = 0;
        CHECK_STATUS(edgeclass_result_probabilities(r, NULL, 0, &count), EDGECLASS_OK);
        CHECK(count == FX_TINY_CLASSES);
        count = 0;
        CHECK_STATUS(edgeclass_result_probabilities(r, p, 0, &count), EDGECLASS_BUFFER_TOO_SMALL);
        CHECK(count == FX_TINY_CLASSES && p[0] == -1.0f);
        CHECK_STATUS(edgeclass_result_probabilities(r, p, FX_TINY_CLASSES + 8, NULL), EDGECLASS_OK);
        CHECK(same_floats(p, back, FX_TINY_CLASSES) && p[FX_TINY_CLASSES] == -1.0f);

        /* top-k: sorted, consistent with the probabilities, count = min(k, classes). */
        for (k = 0; k <= FX_TINY_CLASSES + 4; k += 7) {
            size_t c = 99;
            CHECK_STATUS(edgeclass_result_top_k(r, k, idx, tp, &c), EDGECLASS_OK);
            CHECK(c == (k < FX_TINY_CLASSES ? k : FX_TINY_CLASSES));
            for (i = 0; i < c; i++) {
                CHECK(idx[i] < FX_TINY_CLASSES && tp[i] == back[idx[i]]);
                if (i > 0)
                    CHECK(tp[i] <= tp[i - 1]);
            }
        }
        CHECK_STATUS(edgeclass_result_top_k(r, 3, NULL, NULL, &count), EDGECLASS_OK);
        CHECK(count == 3);
        CHECK_STATUS(edgeclass_result_top_k(r, 1, idx, NULL, NULL), EDGECLASS_OK);
        CHECK(idx[0] == (size_t)fx_tiny_digits[d].top5[0]);

        if (CHECK_STATUS(edgeclass_result_stats(r, &st), EDGECLASS_OK))
            CHECK(st.decoded_width > 0 && st.decoded_height > 0);
        free(body);
        free(trunc);
        body = trunc = NULL;
        edgeclass_result_free(r);
    }
    edgeclass_service_close(svc);
}

/* Every edge-case image does what images/README.md says: "decode" ones decode (compared with
 * the goldens elsewhere), "error" ones fail with the code of their defect, "either" ones decode
 * or fail as unsupported. */
static uint32_t expected_image_error(const char *file)
{
    static const struct {
        const char *name;
        uint32_t code;
    } t[] = {
        {"empty.jpg", EDGECLASS_UNSUPPORTED_IMAGE_FORMAT},
        {"random_bytes.jpg", EDGECLASS_UNSUPPORTED_IMAGE_FORMAT},
        {"text_file.png", EDGECLASS_UNSUPPORTED_IMAGE_FORMAT},
        {"bmp_content_named_jpg.jpg", EDGECLASS_UNSUPPORTED_IMAGE_FORMAT}, /* either */
        {"jpeg_arithmetic.jpg", EDGECLASS_UNSUPPORTED_IMAGE_FEATURE},      /* either */
        {"jpeg_header_only.jpg", EDGECLASS_CORRUPT_IMAGE},
        {"jpeg_truncated.jpg", EDGECLASS_CORRUPT_IMAGE},
        {"png_bad_crc.png", EDGECLASS_CORRUPT_IMAGE},
        {"png_truncated.png", EDGECLASS_CORRUPT_IMAGE},
        {"jpeg_huge_header_30000x30000.jpg", EDGECLASS_IMAGE_TOO_LARGE},
        {"jpeg_huge_header_65500x65500.jpg", EDGECLASS_IMAGE_TOO_LARGE},
        {"png_huge_header_30000x30000.png", EDGECLASS_IMAGE_TOO_LARGE},
    };
    size_t i;
    for (i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(t[i].name, file) == 0)
            return t[i].code;
    return EDGECLASS_OK;
}

static void test_image_error_codes(void)
{
    edgeclass_service *svc = NULL;
    edgeclass_result *r = NULL;
    size_t i, len;
    uint8_t *data;
    if (!CHECK_STATUS(open_service("errors-svc", TINY, BIG, NULL, &svc), EDGECLASS_OK))
        return;
    for (i = 0; i < FX_TINY_IMAGES_LEN; i++) {
        const char *rel = fx_tiny_images[i].image, *file = strrchr(rel, '/') + 1;
        const char *expect = fx_images_expect[i];
        uint32_t want = expected_image_error(file);
        edgeclass_status st;
        char msg[1024];
        r = NULL;
        /* Quick mode: all the failing files, every 6th decodable one. */
        if (strcmp(expect, "decode") == 0 && i % step(12) != 0)
            continue;
        data = read_fixture(rel, &len);
        if (!CHECKF(data != NULL, "%s", rel))
            continue;
        st = edgeclass_classify(svc, content_type_for(rel), data, len, NULL, &r);
        last_msg(msg, sizeof msg);
        if (strcmp(expect, "decode") == 0)
            CHECKF(st == EDGECLASS_OK, "%s: %s %s", rel, edgeclass_status_name(st), msg);
        else if (strcmp(expect, "either") == 0 && st == EDGECLASS_OK)
            compare_golden(&fx_tiny_images[i], r, is_png_bytes(data, len));
        else {
            CHECKF(want != EDGECLASS_OK, "%s: no expected code in this test's table", rel);
            CHECKF(st == want, "%s: got %s (%s), want %s", rel, edgeclass_status_name(st), msg,
                   edgeclass_status_name(want));
            CHECKF(r == NULL && strlen(msg) > 10, "%s: message \"%s\"", rel, msg);
        }
        edgeclass_result_free(r);
        free(data);
    }
    /* Content types: the connector's image/jpeg and image/png, plus the documented aliases. */
    data = read_fixture(fx_tiny_digits[7].image, &len);
    if (CHECK(data != NULL)) {
        static const char *const ok[] = {"image/png", "image/jpeg", "image/jpg",
                                         "application/x-image"};
        static const char *const bad[] = {"text/plain", "", "image/gif", "image", "png"};
        for (i = 0; i < sizeof ok / sizeof ok[0]; i += step(3)) {
            r = NULL;
            CHECKF(edgeclass_classify(svc, ok[i], data, len, NULL, &r) == EDGECLASS_OK, "%s", ok[i]);
            edgeclass_result_free(r);
        }
        for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            r = NULL;
            CHECK_STATUS(edgeclass_classify(svc, bad[i], data, len, NULL, &r),
                         EDGECLASS_UNSUPPORTED_CONTENT_TYPE);
            CHECK(r == NULL);
        }
        /* Zero bytes: not an image (not a NULL-pointer error, even with a NULL body). */
        CHECK_STATUS(edgeclass_classify(svc, "image/png", NULL, 0, NULL, &r),
                     EDGECLASS_UNSUPPORTED_IMAGE_FORMAT);
        CHECK_STATUS(edgeclass_classify(svc, "image/png", data, 0, NULL, &r),
                     EDGECLASS_UNSUPPORTED_IMAGE_FORMAT);
        /* Every prefix-truncation of a PNG fails cleanly (never crashes, never OK). */
        for (i = 1; i < len; i += (len / (step(4) == 1 ? 40 : 10)) + 1) {
            edgeclass_status st = edgeclass_classify(svc, "image/png", data, i, NULL, &r);
            CHECKF(st == EDGECLASS_CORRUPT_IMAGE || st == EDGECLASS_UNSUPPORTED_IMAGE_FORMAT,
                   "%zu of %zu bytes: %s", i, len, edgeclass_status_name(st));
            if (st == EDGECLASS_OK)
                edgeclass_result_free(r);
            r = NULL;
        }
        free(data);
    }
    edgeclass_service_close(svc);
}

static void test_strict_content_type(void)
{
    const char *extra[] = {"EdgeclassStrictDecoding", "true", NULL};
    edgeclass_service *svc = NULL;
    edgeclass_result *r = NULL;
    if (!CHECK_STATUS(open_service("strict-svc", TINY, BIG, extra, &svc), EDGECLASS_OK))
        return;
    CHECK_STATUS(classify_fixture(svc, "images/png_content_named_jpg.jpg", NULL, &r),
                 EDGECLASS_CONTENT_TYPE_MISMATCH);
    CHECK_MSG("PNG");
    CHECK_STATUS(classify_fixture(svc, "images/jpeg_content_named_png.png", NULL, &r),
                 EDGECLASS_CONTENT_TYPE_MISMATCH);
    CHECK(r == NULL);
    /* Agreeing types still work. */
    if (CHECK_STATUS(classify_fixture(svc, fx_tiny_digits[7].image, NULL, &r), EDGECLASS_OK))
        compare_golden(&fx_tiny_digits[7], r, 1);
    edgeclass_result_free(r);
    edgeclass_service_close(svc);
}

static void test_image_too_large(void)
{
    /* 28x28 = 784 pixels > 700: refused from the header. */
    const char *extra[] = {"EdgeclassMaxImagePixels", "700", NULL};
    edgeclass_service *svc = NULL;
    edgeclass_result *r = NULL;
    if (!CHECK_STATUS(open_service("toolarge-svc", TINY, BIG, extra, &svc), EDGECLASS_OK))
        return;
    CHECK_STATUS(classify_fixture(svc, "tiny-trained/images/digit07_label3_28x28.png", NULL, &r),
                 EDGECLASS_IMAGE_TOO_LARGE);
    CHECK_MSG("784");
    CHECK_MSG("700");
    /* 20x20 = 400 fits. */
    if (CHECK_STATUS(classify_fixture(svc, fx_tiny_digits[4].image, NULL, &r), EDGECLASS_OK))
        compare_golden(&fx_tiny_digits[4], r, 0);
    edgeclass_result_free(r);
    edgeclass_service_close(svc);
}

/* Expected code of each hostile model (hostile-models/README.md: what a loader must do). */
static uint32_t hostile_code(const char *name)
{
    if (strcmp(name, "params-missing-array") == 0 || strcmp(name, "weights-shape-mismatch") == 0 ||
        strcmp(name, "model-shapes-wrong-rank") == 0)
        return EDGECLASS_MODEL_MISMATCH;
    if (strncmp(name, "params-", 7) == 0)
        return EDGECLASS_PARAMS_FORMAT;
    if (strcmp(name, "symbol-unknown-op") == 0)
        return EDGECLASS_UNSUPPORTED_OPERATOR;
    if (strncmp(name, "symbol-", 7) == 0)
        return EDGECLASS_SYMBOL_FORMAT;
    if (strncmp(name, "missing-", 8) == 0)
        return EDGECLASS_MODEL_NOT_FOUND;
    return EDGECLASS_OK;
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    int ok;
    if (f == NULL)
        return 0;
    ok = fputs(text, f) >= 0;
    return (fclose(f) == 0) && ok;
}

static void test_model_error_codes(void)
{
    char rel[256], tmpl[] = "/tmp/edgeclass-ffi-XXXXXX", path[1024], target[4096], *dir;
    edgeclass_service *svc = NULL;
    size_t i;
    int k;
    for (i = 0; i < FX_HOSTILE_MODELS_LEN; i++) {
        const fx_hostile *h = &fx_hostile_models[i];
        uint32_t want = hostile_code(h->name);
        char msg[4096];
        edgeclass_status st;
        snprintf(rel, sizeof rel, "hostile-models/%s", h->name);
        st = open_service("hostile-svc", rel, BIG, NULL, &svc);
        last_msg(msg, sizeof msg);
        CHECKF(want != EDGECLASS_OK, "%s: not in this test's table", h->name);
        CHECKF(st == want, "%s: got %s (%s), want %s", h->name, edgeclass_status_name(st), msg,
               edgeclass_status_name(want));
        CHECK(svc == NULL);
        if (st == EDGECLASS_OK)
            edgeclass_service_close(svc);
        for (k = 0; k < 3 && h->regex[k] != NULL; k++) {
            regex_t re;
            if (!CHECK(regcomp(&re, h->regex[k], REG_EXTENDED | REG_ICASE | REG_NOSUB) == 0))
                continue;
            CHECKF(regexec(&re, msg, 0, NULL, 0) == 0, "%s: \"%s\" does not match /%s/i", h->name,
                   msg, h->regex[k]);
            regfree(&re);
        }
    }
    /* No such path. */
    CHECK_STATUS(open_service("hostile-svc", "no/such/dir", BIG, NULL, &svc),
                 EDGECLASS_MODEL_NOT_FOUND);
    CHECK_MSG("no/such/dir");
    /* A file that is no archive. */
    CHECK_STATUS(open_service("hostile-svc", "images/random_bytes.jpg", BIG, NULL, &svc),
                 EDGECLASS_MODEL_NOT_FOUND);

    dir = mkdtemp(tmpl);
    if (!CHECK(dir != NULL))
        return;
    /* NNEF: a directory with a graph.nnef that is not NNEF. */
    snprintf(path, sizeof path, "%s/graph.nnef", dir);
    if (CHECK(write_text(path, "version 1.0;\nthis is not a graph at all {{{\n"))) {
        edgeclass_params *p = seed_params("nnef-svc", TINY, BIG, NULL);
        if (p != NULL) {
            CHECK_STATUS(edgeclass_params_set(p, "MLModelDestinationPath", dir), EDGECLASS_OK);
            CHECK_STATUS(edgeclass_service_open(p, &svc), EDGECLASS_NNEF);
            CHECK_MSG("NNEF");
            edgeclass_params_free(p);
        }
        CHECK(remove(path) == 0);
    }
    /* IO: the symbol file is a link to a directory (it exists, but reading it fails). The
     * params and shapes are links to the real ones. */
    {
        static const char *const real[] = {"image-classification-0030.params", "model-shapes.json"};
        int made = 1;
        snprintf(path, sizeof path, "%s/image-classification-symbol.json", dir);
        made &= CHECK(symlink(dir, path) == 0);
        for (k = 0; k < 2; k++) {
            char fx_rel[256], abs_target[1024];
            snprintf(fx_rel, sizeof fx_rel, "%s/%s", TINY, real[k]);
            if (!CHECK(realpath(fx_path(abs_target, sizeof abs_target, fx_rel), target) != NULL)) {
                made = 0;
                continue;
            }
            snprintf(path, sizeof path, "%s/%s", dir, real[k]);
            made &= CHECK(symlink(target, path) == 0);
        }
        if (made) {
            edgeclass_params *p = seed_params("io-svc", TINY, BIG, NULL);
            if (p != NULL) {
                CHECK_STATUS(edgeclass_params_set(p, "MLModelDestinationPath", dir), EDGECLASS_OK);
                CHECK_STATUS(edgeclass_service_open(p, &svc), EDGECLASS_IO);
                CHECK_MSG("image-classification-symbol.json");
                edgeclass_params_free(p);
            }
        }
        snprintf(path, sizeof path, "%s/image-classification-symbol.json", dir);
        remove(path);
        for (k = 0; k < 2; k++) {
            snprintf(path, sizeof path, "%s/%s", dir, real[k]);
            remove(path);
        }
    }
    CHECK(rmdir(dir) == 0);
}

static int open_info(const char *name, const char *kb, unsigned workers, svc_info *info)
{
    char w[16];
    const char *extra[] = {"EdgeclassWorkers", w, NULL};
    edgeclass_service *svc = NULL;
    int ok;
    snprintf(w, sizeof w, "%u", workers);
    if (!CHECK_STATUS(open_service(name, TINY, kb, extra, &svc), EDGECLASS_OK))
        return 0;
    ok = CHECK_STATUS(edgeclass_service_get_info(svc, info), EDGECLASS_OK);
    edgeclass_service_close(svc);
    return ok;
}

static void kb_of(char *buf, size_t cap, uint64_t bytes)
{
    snprintf(buf, cap, "%llu", (unsigned long long)((bytes + 1023) / 1024));
}

/* The limit is checked at each stage of the open, each refusal giving the bytes needed and
 * allowed: loading (its peak), the model, the workers with the smallest image. */
static void test_memory_limit_open(void)
{
    char w8[] = "8";
    const char *extra8[] = {"EdgeclassWorkers", w8, NULL};
    edgeclass_service *svc = NULL;
    svc_info one, eight;
    char kb[32], num[32];
    uint64_t min_image = (uint64_t)FX_TINY_H * FX_TINY_W * 4, run1, run8, limit;

    CHECK_STATUS(open_service("mem-open", TINY, "1", NULL, &svc), EDGECLASS_MEMORY_LIMIT);
    CHECK_MSG("LocalInferenceServiceMemoryLimitKB");
    CHECK_MSG("1024 bytes");
    CHECK(svc == NULL);
    if (!open_info("mem-open", BIG, 1, &one) || !open_info("mem-open", BIG, 8, &eight))
        return;
    CHECK(one.load_peak_bytes >= one.model_bytes && one.model_bytes > 0);
    printf("    tiny-trained: load peak %llu B, model %llu B, activations %llu B\n",
           (unsigned long long)one.load_peak_bytes, (unsigned long long)one.model_bytes,
           (unsigned long long)one.activation_bytes);

    /* Just below the load peak. */
    limit = (one.load_peak_bytes - 8192) / 1024 * 1024;
    snprintf(kb, sizeof kb, "%llu", (unsigned long long)(limit / 1024));
    snprintf(num, sizeof num, "%llu", (unsigned long long)limit);
    CHECK_STATUS(open_service("mem-open", TINY, kb, NULL, &svc), EDGECLASS_MEMORY_LIMIT);
    CHECK_MSG("needs");
    CHECK_MSG(num);
    CHECK(svc == NULL);

    /* Eight workers: above the load peak but short of eight workers' needs. */
    run8 = eight.model_bytes + 8 * (eight.activation_bytes + eight.worker_buffer_bytes + min_image);
    if (run8 > eight.load_peak_bytes + 16384) {
        limit = (eight.load_peak_bytes + run8) / 2 / 1024 * 1024;
        snprintf(kb, sizeof kb, "%llu", (unsigned long long)(limit / 1024));
        CHECK_STATUS(open_service("mem-open", TINY, kb, extra8, &svc), EDGECLASS_MEMORY_LIMIT);
        CHECK_MSG("needs at least");
        CHECK_MSG("8 worker");
        CHECK(svc == NULL);
    } else {
        CHECKF(0, "8 workers (%llu B) do not need more than loading (%llu B): cannot test that stage",
               (unsigned long long)run8, (unsigned long long)eight.load_peak_bytes);
    }

    /* Enough for both (and a little more, as figures vary by a few bytes between opens). */
    run1 = one.model_bytes + one.activation_bytes + one.worker_buffer_bytes + min_image;
    kb_of(kb, sizeof kb, (run1 > one.load_peak_bytes ? run1 : one.load_peak_bytes) + 16384);
    if (CHECK_STATUS(open_service("mem-open", TINY, kb, NULL, &svc), EDGECLASS_OK))
        edgeclass_service_close(svc);
}

/* A service whose image budget fits a small digit but not a 640x427 photo. */
static void test_memory_limit_classify(void)
{
    char w[16];
    const char *extra[] = {"EdgeclassWorkers", w, NULL};
    edgeclass_service *svc = NULL;
    svc_info one, info, info2;
    edgeclass_result *r = NULL;
    uint64_t fixed, limit, per;
    unsigned workers = 1;
    char kb[32], num[32] = "";
    const uint64_t image_budget = 256 * 1024;
    if (!open_info("mem-classify", BIG, 1, &one))
        return;
    /* The limit must also cover loading's peak: enough workers that their budgets reach it. */
    per = one.activation_bytes + one.worker_buffer_bytes + image_budget;
    while (one.model_bytes + workers * per < one.load_peak_bytes + 16384 && workers < 16)
        workers++;
    if (!open_info("mem-classify", BIG, workers, &info))
        return;
    fixed = info.model_bytes + workers * (info.activation_bytes + info.worker_buffer_bytes);
    limit = fixed + workers * image_budget;
    if (limit < info.load_peak_bytes + 16384)
        limit = info.load_peak_bytes + 16384;
    kb_of(kb, sizeof kb, limit);
    snprintf(w, sizeof w, "%u", workers);
    if (!CHECK_STATUS(open_service("mem-classify", TINY, kb, extra, &svc), EDGECLASS_OK))
        return;
    if (CHECK_STATUS(edgeclass_service_get_info(svc, &info2), EDGECLASS_OK)) {
        printf("    %u worker(s), limit %llu B: %llu B per worker for an image\n", workers,
               (unsigned long long)info2.limit_bytes, (unsigned long long)info2.image_bytes);
        /* The photo needs at least its RGB pixels: 640 * 427 * 3 bytes. */
        CHECK(info2.image_bytes < 640u * 427u * 3u);
        CHECK(info2.image_bytes >= image_budget / 2);
        snprintf(num, sizeof num, "%llu", (unsigned long long)info2.limit_bytes);
    }
    CHECK_STATUS(classify_fixture(svc, "photos/china.jpg", NULL, &r), EDGECLASS_MEMORY_LIMIT);
    CHECK_MSG("640x427");
    CHECK_MSG("bytes");
    CHECK_MSG(num);
    if (ensure_big_png()) {
        CHECK_STATUS(edgeclass_classify(svc, "image/png", big_png, big_png_len, NULL, &r),
                     EDGECLASS_MEMORY_LIMIT);
        CHECK(r == NULL);
    }
    /* A small image still fits, and answers correctly. */
    if (CHECK_STATUS(classify_fixture(svc, fx_tiny_digits[7].image, NULL, &r), EDGECLASS_OK))
        compare_golden(&fx_tiny_digits[7], r, 1);
    edgeclass_result_free(r);
    if (CHECK_STATUS(edgeclass_service_get_info(svc, &info2), EDGECLASS_OK))
        CHECK(info2.refused_memory == 2 && info2.succeeded == 1);
    edgeclass_service_close(svc);
}

static void test_heap_stats(void)
{
    uint64_t live = 0, peak = 0, live2 = 0, peak2 = 0;
    edgeclass_service *svc = NULL;
    svc_info info;
    edgeclass_result *r = NULL;
    CHECK_STATUS(edgeclass_heap_stats(NULL, NULL), EDGECLASS_OK);
    if (!CHECK_STATUS(open_service("heap-svc", TINY, BIG, NULL, &svc), EDGECLASS_OK))
        return;
    CHECK_STATUS(edgeclass_service_get_info(svc, &info), EDGECLASS_OK);
    CHECK_STATUS(edgeclass_heap_stats(&live, &peak), EDGECLASS_OK);
    if (!info.measured) {
        edgeclass_service_close(svc);
        CHECK(live == 0 && peak == 0);
        SKIP("this build has no heap accounting (feature heap-accounting off)");
    }
    /* The open service's model is live. */
    CHECK(live >= info.model_bytes && peak >= live);
    edgeclass_heap_reset_peak();
    CHECK_STATUS(edgeclass_heap_stats(&live2, &peak2), EDGECLASS_OK);
    CHECK(peak2 >= live2 && peak2 <= peak);
    if (CHECK_STATUS(classify_fixture(svc, "photos/china.jpg", NULL, &r), EDGECLASS_OK)) {
        edgeclass_call_stats st;
        CHECK_STATUS(edgeclass_heap_stats(&live, &peak), EDGECLASS_OK);
        /* Decoding a 640x427 photo raised the peak by at least its pixels. */
        CHECK(peak >= live2 + 640u * 427u * 3u);
        if (CHECK_STATUS(edgeclass_result_stats(r, &st), EDGECLASS_OK))
            CHECK(st.peak_bytes >= 640u * 427u * 3u && st.decoded_width == 640 &&
                  st.decoded_height == 427);
    }
    edgeclass_result_free(r);
    edgeclass_service_close(svc);
    /* Closing frees the model. */
    CHECK_STATUS(edgeclass_heap_stats(&live, &peak), EDGECLASS_OK);
    CHECK(live + info.model_bytes / 2 < live2);
}

/* A 1 ms deadline with a decode that takes longer: TIMEOUT, and the service answers correctly
 * afterwards. */
static void timeout_on(const char *name, const char *model, const uint8_t *img, size_t img_len,
                       const char *ct, const fx_golden *goldens, size_t n_goldens)
{
    edgeclass_service *svc = NULL;
    edgeclass_request *req = edgeclass_request_new();
    edgeclass_result *r = NULL, *ref = NULL;
    svc_info info;
    float p_ref[1000], p[1000];
    size_t n_ref = 0, i;
    int k;
    double t0;
    if (!CHECK(req != NULL))
        return;
    if (!CHECK_STATUS(open_service(name, model, BIG, NULL, &svc), EDGECLASS_OK)) {
        edgeclass_request_free(req);
        return;
    }
    if (CHECK_STATUS(edgeclass_classify(svc, ct, img, img_len, NULL, &ref), EDGECLASS_OK))
        n_ref = result_probs(ref, p_ref, 1000);
    CHECK_STATUS(edgeclass_request_set_timeout_ms(req, 1), EDGECLASS_OK);
    for (k = 0; k < 3; k++) {
        r = NULL;
        t0 = check_now();
        CHECK_STATUS(edgeclass_classify(svc, ct, img, img_len, req, &r), EDGECLASS_TIMEOUT);
        CHECK(r == NULL);
        CHECK_MSG("deadline");
        /* It stops at the next check, not at the end of the work. */
        CHECKF(check_now() - t0 < 5.0 * time_scale(), "%.3f s to time out", check_now() - t0);
    }
    /* The same request with the service's own timeout again (0) succeeds, same answer. */
    CHECK_STATUS(edgeclass_request_set_timeout_ms(req, 0), EDGECLASS_OK);
    if (CHECK_STATUS(edgeclass_classify(svc, ct, img, img_len, req, &r), EDGECLASS_OK)) {
        CHECK(result_probs(r, p, 1000) == n_ref && n_ref > 0 && same_floats(p, p_ref, n_ref));
        edgeclass_result_free(r);
    }
    for (i = 0; i < n_goldens; i++)
        classify_and_compare(svc, &goldens[i]);
    if (CHECK_STATUS(edgeclass_service_get_info(svc, &info), EDGECLASS_OK))
        CHECK(info.timeouts == 3);
    edgeclass_result_free(ref);
    edgeclass_request_free(req);
    edgeclass_service_close(svc);
}

static void test_timeout(void)
{
    if (!ensure_big_png())
        return;
    /* r50-slim (a real bottleneck graph at 64x64) with a 2500x2500 PNG. */
    timeout_on("timeout-slim", R50SLIM, big_png, big_png_len, "image/png", fx_r50slim_png,
               FX_R50SLIM_PNG_LEN);
    /* The full-size resnet50 (~120 ms per inference) with a photo. */
    if (!full_model_available()) {
        if (env_int("FFI_TESTS_FULL_MODELS", 1) == 0 ||
            env_int("EDGECLASS_REQUIRE_FULL_MODELS", 0) == 1)
            return; /* said so, or failed, in full_model_available */
        SKIP("%s not present (scripts/make-full-models.sh makes it; EDGECLASS_REQUIRE_FULL_MODELS=1 "
             "makes this a failure); the r50-slim part ran",
             R50FULL_PARAMS);
    }
    {
        size_t len = 0;
        uint8_t *china = read_fixture("photos/china.jpg", &len);
        if (CHECK(china != NULL))
            timeout_on("timeout-full", R50FULL, china, len, "image/jpeg", fx_r50full_photos,
                       FX_R50FULL_PHOTOS_LEN);
        free(china);
    }
}

/* ---- cancel ---- */

typedef struct {
    const edgeclass_service *svc;
    const edgeclass_request *req;
    const uint8_t *img;
    size_t len;
    const char *ct;
    volatile int started;
    edgeclass_status st;
    edgeclass_result *r;
    double t_end;
    pthread_mutex_t lock;
    pthread_cond_t cond;
} cancel_job;

static void *cancel_worker(void *arg)
{
    cancel_job *j = arg;
    pthread_mutex_lock(&j->lock);
    j->started = 1;
    pthread_cond_signal(&j->cond);
    pthread_mutex_unlock(&j->lock);
    j->st = edgeclass_classify(j->svc, j->ct, j->img, j->len, j->req, &j->r);
    j->t_end = check_now();
    return NULL;
}

static void test_cancel(void)
{
    edgeclass_service *svc = NULL;
    edgeclass_request *req = edgeclass_request_new();
    edgeclass_result *r = NULL, *ref = NULL;
    svc_info info;
    const char *model = R50SLIM, *ct = "image/png";
    const uint8_t *img;
    uint8_t *china = NULL;
    size_t len, n_ref = 0;
    float p_ref[1000], p[1000];
    int round, cancelled = 0, finished = 0, full = full_model_available();
    double worst = 0.0;

    if (!CHECK(req != NULL) || !ensure_big_png()) {
        edgeclass_request_free(req);
        return;
    }
    img = big_png;
    len = big_png_len;
    if (full) {
        /* The slowest model here: resnet50 at 224x224 (~120 ms per inference). */
        china = read_fixture("photos/china.jpg", &len);
        if (!CHECK(china != NULL)) {
            edgeclass_request_free(req);
            return;
        }
        model = R50FULL;
        img = china;
        ct = "image/jpeg";
    }
    if (!full && env_int("FFI_TESTS_FULL_MODELS", 1) != 0)
        printf("    %s not present: cancelling on slim/r50-slim with a %dx%d PNG instead\n",
               R50FULL_PARAMS, BIG_W, BIG_H);
    printf("    cancel on %s\n", model);
    if (!CHECK_STATUS(open_service("cancel-svc", model, BIG, NULL, &svc), EDGECLASS_OK)) {
        free(china);
        edgeclass_request_free(req);
        return;
    }
    if (CHECK_STATUS(edgeclass_classify(svc, ct, img, len, NULL, &ref), EDGECLASS_OK))
        n_ref = result_probs(ref, p_ref, 1000);

    /* Deterministic: a request cancelled before it starts. */
    edgeclass_request_cancel(req);
    CHECK_STATUS(edgeclass_classify(svc, ct, img, len, req, &r), EDGECLASS_CANCELLED);
    CHECK_MSG("cancel");
    CHECK(r == NULL);
    edgeclass_request_free(req);
    edgeclass_request_cancel(NULL);

    /* From another thread, while it runs: cancelled, or (if it won the race) the right answer. */
    for (round = 0; round < 5; round++) {
        cancel_job j;
        pthread_t t;
        struct timespec ms = {0, 2 * 1000 * 1000};
        double t_cancel;
        memset(&j, 0, sizeof j);
        j.svc = svc;
        j.req = edgeclass_request_new();
        j.img = img;
        j.len = len;
        j.ct = ct;
        if (!CHECK(j.req != NULL))
            break;
        CHECK(pthread_mutex_init(&j.lock, NULL) == 0 && pthread_cond_init(&j.cond, NULL) == 0);
        if (!CHECK(pthread_create(&t, NULL, cancel_worker, &j) == 0)) {
            edgeclass_request_free((edgeclass_request *)j.req);
            break;
        }
        pthread_mutex_lock(&j.lock);
        while (!j.started)
            pthread_cond_wait(&j.cond, &j.lock);
        pthread_mutex_unlock(&j.lock);
        nanosleep(&ms, NULL);
        t_cancel = check_now();
        edgeclass_request_cancel(j.req);
        CHECK(pthread_join(t, NULL) == 0);
        if (j.st == EDGECLASS_CANCELLED) {
            cancelled++;
            if (j.t_end - t_cancel > worst)
                worst = j.t_end - t_cancel;
            CHECK(j.r == NULL);
        } else if (CHECK_STATUS(j.st, EDGECLASS_OK)) {
            finished++;
            CHECK(result_probs(j.r, p, 1000) == n_ref && same_floats(p, p_ref, n_ref));
        }
        edgeclass_result_free(j.r);
        edgeclass_request_free((edgeclass_request *)j.req);
        pthread_mutex_destroy(&j.lock);
        pthread_cond_destroy(&j.cond);
    }
    printf("    %d cancelled, %d finished first; slowest stop after cancel %.1f ms\n", cancelled,
           finished, worst * 1e3);
    CHECK(cancelled >= 1);
    CHECKF(worst < 2.0 * time_scale(), "%.3f s from cancel to return", worst);
    /* And the service still answers correctly. */
    if (CHECK_STATUS(edgeclass_classify(svc, ct, img, len, NULL, &r), EDGECLASS_OK)) {
        CHECK(result_probs(r, p, 1000) == n_ref && n_ref > 0 && same_floats(p, p_ref, n_ref));
        edgeclass_result_free(r);
    }
    if (CHECK_STATUS(edgeclass_service_get_info(svc, &info), EDGECLASS_OK))
        CHECK(info.cancelled == (uint64_t)cancelled + 1);
    if (full) {
        size_t i;
        for (i = 0; i < FX_R50FULL_PHOTOS_LEN; i++)
            classify_and_compare(svc, &fx_r50full_photos[i]);
    } else {
        size_t i;
        for (i = 0; i < FX_R50SLIM_PNG_LEN; i++)
            classify_and_compare(svc, &fx_r50slim_png[i]);
    }
    edgeclass_result_free(ref);
    edgeclass_service_close(svc);
    free(china);
}

/* ---- 8 threads x 50 requests, answers bit-equal to serial ones ---- */

#define N_THREADS 8
typedef struct {
    const char *rel;
    uint8_t *data;
    size_t len;
    float probs[FX_TINY_CLASSES];
    char body[512];
} serial_answer;

typedef struct {
    const edgeclass_service *svc;
    const serial_answer *answers;
    size_t n_answers;
    int id, requests, mismatches, failures;
} conc_job;

static void *conc_worker(void *arg)
{
    conc_job *j = arg;
    int k;
    for (k = 0; k < j->requests; k++) {
        const serial_answer *a = &j->answers[(size_t)(j->id * 7 + k) % j->n_answers];
        edgeclass_request *req = (k % 3 == 0) ? edgeclass_request_new() : NULL;
        edgeclass_result *r = NULL;
        float p[FX_TINY_CLASSES];
        char body[512];
        size_t n = 0;
        if (req != NULL && edgeclass_request_set_timeout_ms(req, 3000000) != EDGECLASS_OK)
            j->failures++;
        if (edgeclass_classify(j->svc, content_type_for(a->rel), a->data, a->len, req, &r) !=
            EDGECLASS_OK) {
            j->failures++;
        } else if (edgeclass_result_probabilities(r, p, FX_TINY_CLASSES, &n) != EDGECLASS_OK ||
                   n != FX_TINY_CLASSES ||
                   edgeclass_result_body(r, body, sizeof body, NULL) != EDGECLASS_OK) {
            j->failures++;
        } else if (!same_floats(p, a->probs, FX_TINY_CLASSES) || strcmp(body, a->body) != 0) {
            j->mismatches++;
        }
        edgeclass_result_free(r);
        edgeclass_request_free(req);
    }
    return NULL;
}

static void test_concurrent_bit_equal(void)
{
    /* Waiting for a worker counts against the deadline: give the service a long one, so a slow
     * run (valgrind serialises the threads) tests equality, not timing. */
    const char *extra[] = {"EdgeclassWorkers", "4", "LocalInferenceServiceTimeoutSeconds", "3600",
                           NULL};
    edgeclass_service *svc = NULL;
    serial_answer answers[FX_TINY_DIGITS_LEN + FX_TINY_PHOTOS_LEN];
    size_t n = 0, i;
    conc_job jobs[N_THREADS];
    pthread_t threads[N_THREADS];
    int t, started = 0, requests = env_int("FFI_TESTS_REQUESTS", 50), total_fail = 0, total_mis = 0;
    svc_info info;
    double t0;

    memset(answers, 0, sizeof answers);
    if (!CHECK_STATUS(open_service("concurrent-svc", TINY, BIG, extra, &svc), EDGECLASS_OK))
        return;
    /* Quick mode: 4 digits (one serial classification each costs seconds under valgrind). */
    for (i = 0; i < (quick() ? 4 : FX_TINY_DIGITS_LEN + FX_TINY_PHOTOS_LEN); i++) {
        const char *rel = i < FX_TINY_DIGITS_LEN ? fx_tiny_digits[i].image
                                                 : fx_tiny_photos[i - FX_TINY_DIGITS_LEN].image;
        edgeclass_result *r = NULL;
        serial_answer *a = &answers[n];
        a->rel = rel;
        a->data = read_fixture(rel, &a->len);
        if (!CHECK(a->data != NULL))
            continue;
        if (CHECK_STATUS(edgeclass_classify(svc, content_type_for(rel), a->data, a->len, NULL, &r),
                         EDGECLASS_OK) &&
            CHECK(result_probs(r, a->probs, FX_TINY_CLASSES) == FX_TINY_CLASSES) &&
            CHECK_STATUS(edgeclass_result_body(r, a->body, sizeof a->body, NULL), EDGECLASS_OK))
            n++;
        else {
            free(a->data);
            a->data = NULL;
        }
        edgeclass_result_free(r);
    }
    t0 = check_now();
    for (t = 0; t < N_THREADS; t++) {
        jobs[t].svc = svc;
        jobs[t].answers = answers;
        jobs[t].n_answers = n;
        jobs[t].id = t;
        jobs[t].requests = requests;
        jobs[t].mismatches = jobs[t].failures = 0;
        if (!CHECK(pthread_create(&threads[t], NULL, conc_worker, &jobs[t]) == 0))
            break;
        started++;
    }
    for (t = 0; t < started; t++) {
        CHECK(pthread_join(threads[t], NULL) == 0);
        total_fail += jobs[t].failures;
        total_mis += jobs[t].mismatches;
    }
    printf("    %d threads x %d requests in %.2f s: %d failed, %d differ from the serial answer\n",
           started, requests, check_now() - t0, total_fail, total_mis);
    CHECK(started == N_THREADS && total_fail == 0 && total_mis == 0 && n > 0);
    if (CHECK_STATUS(edgeclass_service_get_info(svc, &info), EDGECLASS_OK))
        CHECK(info.requests == n + (uint64_t)started * requests && info.failed == 0);
    for (i = 0; i < n; i++)
        free(answers[i].data);
    edgeclass_service_close(svc);
}

/* NULL and garbage arguments everywhere: a status and a message naming the argument, no crash. */
static void test_null_arguments(void)
{
    edgeclass_service *svc = NULL, *out = NULL;
    edgeclass_params *p = NULL;
    edgeclass_request *req = edgeclass_request_new();
    edgeclass_result *r = NULL;
    svc_info info;
    edgeclass_call_stats st;
    static const uint8_t img[] = {0x89, 'P', 'N', 'G'};
    float f[4];
    size_t n;
    char buf[32];

    if (!CHECK(req != NULL))
        return;
    if (!CHECK_STATUS(open_service("null-svc", TINY, BIG, NULL, &svc), EDGECLASS_OK)) {
        edgeclass_request_free(req);
        return;
    }
    p = seed_params("null-svc-2", TINY, BIG, NULL);

    CHECK_STATUS(edgeclass_service_open(NULL, &out), EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("params");
    CHECK_STATUS(edgeclass_service_open(p, NULL), EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("out");
    /* ...and that failed open did not register the name. */
    CHECK_STATUS(edgeclass_service_find("null-svc-2", &out), EDGECLASS_UNKNOWN_SERVICE);
    CHECK_STATUS(edgeclass_service_find(NULL, &out), EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("name");
    CHECK_STATUS(edgeclass_service_find("\xff\xfe", &out), EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("UTF-8");
    CHECK_STATUS(edgeclass_service_find("null-svc", NULL), EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("out");
    CHECK(out == NULL);

    CHECK_STATUS(edgeclass_service_get_info(NULL, &info), EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("service");
    CHECK_STATUS(edgeclass_service_get_info(svc, NULL), EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("out");

    CHECK_STATUS(edgeclass_request_set_timeout_ms(NULL, 5), EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("request");

    CHECK_STATUS(edgeclass_classify(NULL, "image/png", img, sizeof img, NULL, &r),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("service");
    CHECK_STATUS(edgeclass_classify(svc, NULL, img, sizeof img, NULL, &r),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("content_type");
    CHECK_STATUS(edgeclass_classify(svc, "image/\xff", img, sizeof img, NULL, &r),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("UTF-8");
    CHECK_STATUS(edgeclass_classify(svc, "image/png", NULL, 100, NULL, &r),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("body");
    CHECK_STATUS(edgeclass_classify(svc, "image/png", NULL, (size_t)-1, req, &r),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_STATUS(edgeclass_classify(svc, "image/png", img, sizeof img, NULL, NULL),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("out");
    CHECK(r == NULL);

    CHECK_STATUS(edgeclass_invoke(NULL, "null-svc", "image/png", img, sizeof img, NULL, &r),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("algo_type");
    CHECK_STATUS(edgeclass_invoke("image-classification", NULL, "image/png", img, sizeof img, NULL,
                                  &r),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("service_name");
    CHECK_STATUS(edgeclass_invoke("image-classification", "null-svc", NULL, img, sizeof img, NULL,
                                  &r),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_STATUS(edgeclass_invoke("image-classification", "null-svc", "image/png", NULL, 7, NULL,
                                  &r),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_STATUS(edgeclass_invoke("image-classification", "null-svc", "image/png", img, sizeof img,
                                  NULL, NULL),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_STATUS(edgeclass_invoke("\xc0\xaf", "null-svc", "image/png", img, sizeof img, NULL, &r),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_STATUS(edgeclass_invoke("image-classification", "null\xff", "image/png", img, sizeof img,
                                  NULL, &r),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK(r == NULL);

    CHECK(edgeclass_result_classes(NULL) == 0);
    CHECK_STATUS(edgeclass_result_probabilities(NULL, f, 4, &n), EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("result");
    CHECK_STATUS(edgeclass_result_body(NULL, buf, sizeof buf, &n), EDGECLASS_INVALID_ARGUMENT);
    CHECK_STATUS(edgeclass_result_top_k(NULL, 1, &n, f, &n), EDGECLASS_INVALID_ARGUMENT);
    CHECK_STATUS(edgeclass_result_stats(NULL, &st), EDGECLASS_INVALID_ARGUMENT);
    if (CHECK_STATUS(classify_fixture(svc, fx_tiny_digits[0].image, NULL, &r), EDGECLASS_OK)) {
        CHECK_STATUS(edgeclass_result_stats(r, NULL), EDGECLASS_INVALID_ARGUMENT);
        CHECK_MSG("out");
    }
    edgeclass_result_free(r);

    /* The *_free functions and cancel accept NULL. */
    edgeclass_result_free(NULL);
    edgeclass_request_free(NULL);
    edgeclass_params_free(NULL);
    edgeclass_service_free(NULL);
    edgeclass_service_close(NULL);
    edgeclass_request_cancel(NULL);

    edgeclass_params_free(p);
    edgeclass_request_free(req);
    edgeclass_service_close(svc);
}

/* ------------------------------------------------------------------------------------------ */
/* ML Feedback: open, publish, the spool, uploads (drain and background), messages, stats. */

#define FB_MSG_MAX 64
/* Messages received through edgeclass_feedback_set_message_callback. With block_dropped set, the
 * callback holds the first "sample_dropped_by_strategy" status (and so its request, which is in
 * progress until its status is out) until released. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int n;
    char topic[FB_MSG_MAX][64];
    char payload[FB_MSG_MAX][1024];
    int block_dropped, entered, released;
} fb_msgs = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, {{0}}, {{0}}, 0, 0, 0};

static void fb_msgs_reset(int block_dropped)
{
    pthread_mutex_lock(&fb_msgs.lock);
    fb_msgs.n = 0;
    fb_msgs.block_dropped = block_dropped;
    fb_msgs.entered = 0;
    fb_msgs.released = 0;
    pthread_mutex_unlock(&fb_msgs.lock);
}

/* Wait (at most 30 s) until flag becomes non-zero; returns it. */
static int fb_wait_flag(int *flag)
{
    struct timespec deadline;
    int v;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 30;
    pthread_mutex_lock(&fb_msgs.lock);
    while (!*flag) {
        if (pthread_cond_timedwait(&fb_msgs.cond, &fb_msgs.lock, &deadline) != 0)
            break;
    }
    v = *flag;
    pthread_mutex_unlock(&fb_msgs.lock);
    return v;
}

static void fb_release(void)
{
    pthread_mutex_lock(&fb_msgs.lock);
    fb_msgs.released = 1;
    pthread_cond_broadcast(&fb_msgs.cond);
    pthread_mutex_unlock(&fb_msgs.lock);
}

static void fb_message_cb(void *user_data, const char *topic, const uint8_t *payload, size_t len)
{
    int hold = 0;
    CHECK(user_data == (void *)&fb_msgs);
    pthread_mutex_lock(&fb_msgs.lock);
    if (fb_msgs.n < FB_MSG_MAX) {
        int i = fb_msgs.n++;
        size_t n = len < sizeof fb_msgs.payload[i] - 1 ? len : sizeof fb_msgs.payload[i] - 1;
        snprintf(fb_msgs.topic[i], sizeof fb_msgs.topic[i], "%s", topic);
        memcpy(fb_msgs.payload[i], payload, n);
        fb_msgs.payload[i][n] = '\0';
        hold = fb_msgs.block_dropped && !fb_msgs.entered &&
               strstr(fb_msgs.payload[i], "sample_dropped_by_strategy") != NULL;
    }
    if (hold) {
        fb_msgs.entered = 1;
        pthread_cond_broadcast(&fb_msgs.cond);
    }
    pthread_mutex_unlock(&fb_msgs.lock);
    if (hold)
        fb_wait_flag(&fb_msgs.released);
}

/* Index of the first message on topic whose payload contains needle, or -1. */
static int fb_find_msg(const char *topic, const char *needle)
{
    int i, found = -1;
    pthread_mutex_lock(&fb_msgs.lock);
    for (i = 0; i < fb_msgs.n && found < 0; i++)
        if (strcmp(fb_msgs.topic[i], topic) == 0 && strstr(fb_msgs.payload[i], needle) != NULL)
            found = i;
    pthread_mutex_unlock(&fb_msgs.lock);
    return found;
}

/* What the upload callback saw of the last sample. fail: refuse it, with an error text. */
typedef struct {
    pthread_mutex_t lock;
    int calls, fail;
    pthread_t thread;
    char id[64], config_id[64], content_type[64], bucket[64], key[256];
    char prediction[512], metadata[512];
    uint8_t data[65536];
    size_t len;
} fb_upload_rec;

static void fb_rec_init(fb_upload_rec *r, int fail)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    r->fail = fail;
}

static int32_t fb_upload_cb(void *user_data, const edgeclass_feedback_sample *s)
{
    fb_upload_rec *r = user_data;
    int fail;
    pthread_mutex_lock(&r->lock);
    r->calls++;
    r->thread = pthread_self();
    snprintf(r->id, sizeof r->id, "%s", s->id);
    snprintf(r->config_id, sizeof r->config_id, "%s", s->config_id);
    snprintf(r->content_type, sizeof r->content_type, "%s", s->content_type);
    snprintf(r->bucket, sizeof r->bucket, "%s", s->bucket);
    snprintf(r->key, sizeof r->key, "%s", s->key);
    snprintf(r->prediction, sizeof r->prediction, "%s", s->prediction_json);
    snprintf(r->metadata, sizeof r->metadata, "%s", s->metadata_json);
    r->len = s->len;
    if (s->len <= sizeof r->data && s->len > 0)
        memcpy(r->data, s->data, s->len);
    fail = r->fail;
    pthread_mutex_unlock(&r->lock);
    if (fail) {
        CHECK(s->error != NULL && s->error_cap >= 64);
        snprintf(s->error, s->error_cap, "NoSuchBucket: The specified bucket does not exist");
        return 1;
    }
    return 0;
}

/* Sample files (*.sample) in dir. */
static int fb_count_samples(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (ends_with(e->d_name, ".sample"))
            n++;
    closedir(d);
    return n;
}

/* Remove a spool directory and every file in it. */
static void fb_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[1024];
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        remove(path);
    }
    closedir(d);
    CHECKF(rmdir(dir) == 0, "rmdir %s", dir);
}

/* Feedback connector parameters: the map (JSON text), the spool, then key, value pairs. */
static edgeclass_params *fb_params(const char *map, const char *spool, const char *const *extra)
{
    edgeclass_params *p = edgeclass_params_new();
    size_t i;
    if (!CHECK(p != NULL))
        return NULL;
    if (map != NULL)
        CHECK_STATUS(edgeclass_params_set(p, "FeedbackConfigurationMap", map), EDGECLASS_OK);
    if (spool != NULL)
        CHECK_STATUS(edgeclass_params_set(p, "EdgeclassSpoolDirectory", spool), EDGECLASS_OK);
    for (i = 0; extra != NULL && extra[i] != NULL; i += 2)
        CHECK_STATUS(edgeclass_params_set(p, extra[i], extra[i + 1]), EDGECLASS_OK);
    return p;
}

static edgeclass_status fb_open(const char *map, const char *spool, const char *const *extra,
                                edgeclass_feedback **out)
{
    edgeclass_params *p = fb_params(map, spool, extra);
    edgeclass_status st;
    *out = NULL;
    if (p == NULL)
        return EDGECLASS_INTERNAL;
    st = edgeclass_feedback_open(p, out);
    edgeclass_params_free(p);
    return st;
}

static edgeclass_feedback_stats fb_stats(const edgeclass_feedback *fb)
{
    edgeclass_feedback_stats s;
    memset(&s, 0xff, sizeof s);
    CHECK_STATUS(edgeclass_feedback_get_stats(fb, &s), EDGECLASS_OK);
    return s;
}

#define FB_MAP_PLAIN(id)                                                                     \
    "{\"" id "\": {\"s3-bucket-name\": \"ffi-bucket\", \"content-type\": "                  \
    "\"application/octet-stream\", \"s3-prefix\": \"pre\", \"file-ext\": \"bin\"}}"
#define FB_MAP_LC(id, thr)                                                                   \
    "{\"" id "\": {\"s3-bucket-name\": \"ffi-bucket\", \"content-type\": \"image/png\", "    \
    "\"sampling-strategy\": {\"strategy-name\": \"LEAST_CONFIDENCE\", \"threshold\": " thr "}}}"

static void test_feedback_open_errors(void)
{
    char tmpl[] = "/tmp/edgeclass-ffi-fb-XXXXXX", *dir = mkdtemp(tmpl);
    edgeclass_feedback *fb = NULL, *again = NULL;
    static const char *const limit_1000[] = {"RequestLimit", "1000", NULL};
    if (!CHECK(dir != NULL))
        return;
    /* A FeedbackConfigurationMap that is not JSON, or not an object. */
    CHECK_STATUS(fb_open("{\"ffi-open\": ", dir, NULL, &fb), EDGECLASS_INVALID_PARAMETER);
    CHECK_MSG("FeedbackConfigurationMap");
    CHECK(fb == NULL);
    CHECK_STATUS(fb_open("[1, 2]", dir, NULL, &fb), EDGECLASS_INVALID_PARAMETER);
    CHECK_MSG("FeedbackConfigurationMap");
    CHECK_STATUS(fb_open(NULL, dir, NULL, &fb), EDGECLASS_INVALID_PARAMETER);
    CHECK_MSG("FeedbackConfigurationMap");
    /* A bucket name against ^[a-z0-9\.\-]{3,63}$, RequestLimit against ^$|^[0-9]{1,3}$. */
    CHECK_STATUS(fb_open("{\"ffi-open\": {\"s3-bucket-name\": \"Bad_Bucket\", "
                         "\"content-type\": \"image/png\"}}",
                         dir, NULL, &fb),
                 EDGECLASS_INVALID_PARAMETER);
    CHECK_MSG("s3-bucket-name");
    CHECK_STATUS(fb_open(FB_MAP_PLAIN("ffi-open"), dir, limit_1000, &fb),
                 EDGECLASS_INVALID_PARAMETER);
    CHECK_MSG("RequestLimit");
    /* The spool directory is required. */
    CHECK_STATUS(fb_open(FB_MAP_PLAIN("ffi-open"), NULL, NULL, &fb), EDGECLASS_INVALID_PARAMETER);
    CHECK_MSG("EdgeclassSpoolDirectory");
    CHECK(fb == NULL);
    /* None of the failed opens registered the id. */
    CHECK_STATUS(edgeclass_feedback_publish("ffi-open", (const uint8_t *)"x", 1, "[1]", NULL, NULL),
                 EDGECLASS_INVALID_ARGUMENT);
    /* A config id is open once; closing frees it. */
    if (CHECK_STATUS(fb_open(FB_MAP_PLAIN("ffi-open"), dir, NULL, &fb), EDGECLASS_OK)) {
        CHECK_STATUS(fb_open(FB_MAP_PLAIN("ffi-open"), dir, NULL, &again),
                     EDGECLASS_SERVICE_EXISTS);
        CHECK_MSG("ffi-open");
        CHECK(again == NULL);
        edgeclass_feedback_close(fb);
        if (CHECK_STATUS(fb_open(FB_MAP_PLAIN("ffi-open"), dir, NULL, &again), EDGECLASS_OK))
            edgeclass_feedback_close(again);
    }
    fb_remove_dir(dir);
}

static void test_feedback_publish_and_upload(void)
{
    char tmpl[] = "/tmp/edgeclass-ffi-fb-XXXXXX", *dir = mkdtemp(tmpl), key[128], ref[256];
    edgeclass_feedback *fb = NULL;
    edgeclass_feedback_stats st;
    edgeclass_feedback_outcome outcome = 99;
    fb_upload_rec rec;
    uint8_t input[300];
    size_t i, uploaded = 99;
    double t0;
    if (!CHECK(dir != NULL))
        return;
    for (i = 0; i < sizeof input; i++)
        input[i] = (uint8_t)(i * 7);
    if (!CHECK_STATUS(fb_open(FB_MAP_PLAIN("ffi-fb-1"), dir, NULL, &fb), EDGECLASS_OK)) {
        fb_remove_dir(dir);
        return;
    }
    fb_msgs_reset(0);
    CHECK_STATUS(edgeclass_feedback_set_message_callback(fb, fb_message_cb, &fb_msgs),
                 EDGECLASS_OK);

    /* Published: one sample on disk. */
    CHECK_STATUS(edgeclass_feedback_publish("ffi-fb-1", input, sizeof input, "[0.25,0.75]",
                                            "{\"camera\":\"door\"}", &outcome),
                 EDGECLASS_OK);
    CHECK(outcome == EDGECLASS_FEEDBACK_SPOOLED);
    CHECK(fb_count_samples(dir) == 1);
    st = fb_stats(fb);
    CHECK(st.requests == 1 && st.spooled == 1 && st.spool_samples == 1);
    CHECKF(st.spool_bytes > sizeof input, "spool_bytes %llu", (unsigned long long)st.spool_bytes);
    CHECK(st.uploaded == 0 && st.throttled == 0 && st.dropped_by_strategy == 0);
    CHECK(!st.mqtt_connected && st.mqtt_queued == 0);

    /* A failed upload keeps the sample; it is not an error of drain. */
    fb_rec_init(&rec, 1);
    CHECK_STATUS(edgeclass_feedback_drain(fb, fb_upload_cb, &rec, 0, &uploaded), EDGECLASS_OK);
    CHECK(uploaded == 0 && rec.calls == 1);
    CHECK(fb_count_samples(dir) == 1);
    CHECK(fb_stats(fb).upload_failures == 1);
    CHECK(fb_find_msg("feedback/message/status", "\"error\":\"NoSuchBucket\"") >= 0);
    CHECK(fb_find_msg("feedback/message/status", "The specified bucket does not exist") >= 0);
    CHECK(fb_find_msg("feedback/message/prediction", "") < 0);

    /* A successful one: the callback sees what was published; the file goes. */
    fb_rec_init(&rec, 0);
    CHECK_STATUS(edgeclass_feedback_drain(fb, fb_upload_cb, &rec, 0, &uploaded), EDGECLASS_OK);
    CHECK(uploaded == 1 && rec.calls == 1);
    CHECK(rec.len == sizeof input && memcmp(rec.data, input, sizeof input) == 0);
    CHECK(strcmp(rec.config_id, "ffi-fb-1") == 0);
    CHECK(strcmp(rec.bucket, "ffi-bucket") == 0);
    CHECK(strcmp(rec.content_type, "application/octet-stream") == 0);
    snprintf(key, sizeof key, "pre/%s.bin", rec.id);
    CHECKF(strlen(rec.id) == 36 && strcmp(rec.key, key) == 0, "id %s key %s", rec.id, rec.key);
    CHECKF(strcmp(rec.prediction, "[0.25,0.75]") == 0, "%s", rec.prediction);
    CHECKF(strstr(rec.metadata, "\"camera\":\"door\"") != NULL &&
               strstr(rec.metadata, "\"publish-ts\":\"") != NULL,
           "%s", rec.metadata);
    CHECK(fb_count_samples(dir) == 0);
    st = fb_stats(fb);
    CHECK(st.uploaded == 1 && st.predictions_published == 1 && st.spool_samples == 0);
    CHECK(fb_find_msg("feedback/message/status", "\"status\":\"success\"") >= 0);
    snprintf(ref, sizeof ref, "\"source-ref\":\"s3://ffi-bucket/%s\"", key);
    CHECK(fb_find_msg("feedback/message/prediction", ref) >= 0);
    CHECK(fb_find_msg("feedback/message/prediction", "\"config-id\":\"ffi-fb-1\"") >= 0);
    CHECK(fb_find_msg("feedback/message/prediction", "\"model-prediction\":[0.25,0.75]") >= 0);

    /* The background uploader: its own thread, as soon as a sample is spooled. NULL metadata and
     * outcome are fine; the metadata is then only publish-ts. */
    fb_rec_init(&rec, 0);
    CHECK_STATUS(edgeclass_feedback_set_upload_callback(fb, fb_upload_cb, &rec), EDGECLASS_OK);
    CHECK_STATUS(edgeclass_feedback_publish("ffi-fb-1", input, 10, "{\"boxes\":[]}", NULL, NULL),
                 EDGECLASS_OK);
    t0 = check_now();
    while (check_now() - t0 < 20.0 * time_scale()) {
        int calls;
        pthread_mutex_lock(&rec.lock);
        calls = rec.calls;
        pthread_mutex_unlock(&rec.lock);
        if (calls > 0 && fb_count_samples(dir) == 0)
            break;
        {
            struct timespec ten_ms = {0, 10000000};
            nanosleep(&ten_ms, NULL);
        }
    }
    CHECK_STATUS(edgeclass_feedback_set_upload_callback(fb, NULL, NULL), EDGECLASS_OK);
    CHECK(rec.calls == 1 && fb_count_samples(dir) == 0);
    CHECK(!pthread_equal(rec.thread, pthread_self()));
    CHECK(rec.len == 10 && memcmp(rec.data, input, 10) == 0);
    CHECKF(strcmp(rec.prediction, "{\"boxes\":[]}") == 0, "%s", rec.prediction);
    CHECKF(strncmp(rec.metadata, "{\"publish-ts\":\"", 15) == 0 && strchr(rec.metadata, ',') == NULL,
           "%s", rec.metadata);
    CHECK(fb_stats(fb).uploaded == 2);
    CHECK_STATUS(edgeclass_feedback_flush(fb, 0), EDGECLASS_OK); /* no broker: at once */

    CHECK_STATUS(edgeclass_feedback_set_message_callback(fb, NULL, NULL), EDGECLASS_OK);
    edgeclass_feedback_close(fb);
    pthread_mutex_destroy(&rec.lock);
    fb_remove_dir(dir);
}

static void test_feedback_strategy_and_arguments(void)
{
    char tmpl[] = "/tmp/edgeclass-ffi-fb-XXXXXX", *dir = mkdtemp(tmpl);
    edgeclass_feedback *fb = NULL;
    edgeclass_feedback_outcome outcome = 99;
    edgeclass_feedback_stats st;
    const uint8_t *in = (const uint8_t *)"input";
    if (!CHECK(dir != NULL))
        return;
    /* LEAST_CONFIDENCE 0.6, the documentation's example: keep when max p <= 0.6. */
    if (!CHECK_STATUS(fb_open(FB_MAP_LC("ffi-fb-lc", "0.6"), dir, NULL, &fb), EDGECLASS_OK)) {
        fb_remove_dir(dir);
        return;
    }
    fb_msgs_reset(0);
    CHECK_STATUS(edgeclass_feedback_set_message_callback(fb, fb_message_cb, &fb_msgs),
                 EDGECLASS_OK);
    CHECK_STATUS(edgeclass_feedback_publish("ffi-fb-lc", in, 5, "[0.9,0.05,0.05]", NULL, &outcome),
                 EDGECLASS_OK);
    CHECK(outcome == EDGECLASS_FEEDBACK_DROPPED_BY_STRATEGY);
    CHECK(fb_count_samples(dir) == 0);
    CHECK(fb_find_msg("feedback/message/status",
                      "\"response\":{\"status\":\"sample_dropped_by_strategy\"}") >= 0);
    CHECK_STATUS(edgeclass_feedback_publish("ffi-fb-lc", in, 5, "[0.2,0.2,0.4,0.2]", "{}",
                                            &outcome),
                 EDGECLASS_OK);
    CHECK(outcome == EDGECLASS_FEEDBACK_SPOOLED);
    CHECK(fb_count_samples(dir) == 1);

    /* The SDK's checks, and a config id no open connector has. */
    CHECK_STATUS(edgeclass_feedback_publish("no-such-config", in, 5, "[1]", NULL, NULL),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("no-such-config");
    CHECK_STATUS(edgeclass_feedback_publish("bad_id", in, 5, "[1]", NULL, NULL),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}$");
    CHECK_STATUS(edgeclass_feedback_publish("ffi-fb-lc", in, 5, "0.5", NULL, NULL),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("ModelPrediction");
    CHECK_STATUS(edgeclass_feedback_publish("ffi-fb-lc", in, 5, "[0.5,", NULL, NULL),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("ModelPrediction");
    CHECK_STATUS(edgeclass_feedback_publish("ffi-fb-lc", in, 5, "[1]", "[1]", NULL),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("Metadata");
    st = fb_stats(fb);
    CHECK(st.requests == 2 && st.dropped_by_strategy == 1 && st.spooled == 1);
    CHECK(fb_count_samples(dir) == 1);

    CHECK_STATUS(edgeclass_feedback_set_message_callback(fb, NULL, NULL), EDGECLASS_OK);
    edgeclass_feedback_close(fb);
    fb_remove_dir(dir);
}

static void *fb_first_publisher(void *arg)
{
    edgeclass_feedback_outcome *outcome = arg;
    /* max 1.0 > 0.5: dropped; its status blocks in the callback. */
    CHECK_STATUS(edgeclass_feedback_publish("ffi-fb-limit", (const uint8_t *)"first", 5, "[1.0]",
                                            NULL, outcome),
                 EDGECLASS_OK);
    return NULL;
}

static void test_feedback_request_limit(void)
{
    char tmpl[] = "/tmp/edgeclass-ffi-fb-XXXXXX", *dir = mkdtemp(tmpl);
    static const char *const limit_1[] = {"RequestLimit", "1", NULL};
    edgeclass_feedback *fb = NULL;
    edgeclass_feedback_outcome first = 99, second = 99;
    pthread_t thread;
    int started, i;
    if (!CHECK(dir != NULL))
        return;
    if (!CHECK_STATUS(fb_open(FB_MAP_LC("ffi-fb-limit", "0.5"), dir, limit_1, &fb),
                      EDGECLASS_OK)) {
        fb_remove_dir(dir);
        return;
    }
    fb_msgs_reset(1);
    CHECK_STATUS(edgeclass_feedback_set_message_callback(fb, fb_message_cb, &fb_msgs),
                 EDGECLASS_OK);
    started = CHECK(pthread_create(&thread, NULL, fb_first_publisher, &first) == 0);
    if (started && CHECK(fb_wait_flag(&fb_msgs.entered))) {
        /* One request in progress, RequestLimit 1: ignored though the strategy would keep it. */
        CHECK_STATUS(edgeclass_feedback_publish("ffi-fb-limit", (const uint8_t *)"second", 6,
                                                "[0.4,0.3,0.3]", NULL, &second),
                     EDGECLASS_OK);
        CHECK(second == EDGECLASS_FEEDBACK_THROTTLED);
    }
    fb_release();
    if (started)
        pthread_join(thread, NULL);
    CHECK(first == EDGECLASS_FEEDBACK_DROPPED_BY_STRATEGY);
    CHECK(fb_count_samples(dir) == 0);
    /* The connector's Queue.Full status (keys in any order). */
    i = fb_find_msg("feedback/message/status", "\"error\":\"Queue.Full\"");
    if (CHECK(i >= 0)) {
        const char *m = fb_msgs.payload[i];
        CHECKF(strstr(m, "\"status\":\"fail\"") != NULL &&
                   strstr(m, "\"error_message\":\"Request limit has been reached (max request: "
                             "1 ). Dropping request.\"") != NULL,
               "%s", m);
    }
    /* Admitted again once the first is done. */
    fb_msgs_reset(0);
    CHECK_STATUS(edgeclass_feedback_publish("ffi-fb-limit", (const uint8_t *)"third", 5,
                                            "[0.4,0.3,0.3]", NULL, &second),
                 EDGECLASS_OK);
    CHECK(second == EDGECLASS_FEEDBACK_SPOOLED);
    {
        edgeclass_feedback_stats st = fb_stats(fb);
        CHECK(st.requests == 3 && st.throttled == 1 && st.dropped_by_strategy == 1 &&
              st.spooled == 1);
    }
    CHECK_STATUS(edgeclass_feedback_set_message_callback(fb, NULL, NULL), EDGECLASS_OK);
    edgeclass_feedback_close(fb);
    fb_remove_dir(dir);
}

static void test_feedback_from_a_service(void)
{
    char tmpl[] = "/tmp/edgeclass-ffi-fb-XXXXXX", *dir = mkdtemp(tmpl);
    static const char *const to_fb[] = {"MLFeedbackConnectorConfigId", "ffi-fb-svc", NULL};
    edgeclass_feedback *fb = NULL;
    edgeclass_service *svc = NULL;
    edgeclass_result *r = NULL;
    fb_upload_rec rec;
    size_t len = 0, uploaded = 0;
    const char *image = fx_tiny_digits[0].image;
    uint8_t *bytes = read_fixture(image, &len);
    if (!CHECK(dir != NULL) || !CHECK(bytes != NULL)) {
        free(bytes);
        return;
    }
    fb_rec_init(&rec, 0);
    if (CHECK_STATUS(fb_open(FB_MAP_PLAIN("ffi-fb-svc"), dir, NULL, &fb), EDGECLASS_OK) &&
        CHECK_STATUS(open_service("fb-svc", TINY, BIG, to_fb, &svc), EDGECLASS_OK)) {
        CHECK_STATUS(edgeclass_classify(svc, content_type_for(image), bytes, len, NULL, &r),
                     EDGECLASS_OK);
        edgeclass_result_free(r);
        CHECK(fb_count_samples(dir) == 1);
        CHECK_STATUS(edgeclass_feedback_drain(fb, fb_upload_cb, &rec, 0, &uploaded), EDGECLASS_OK);
        CHECK(uploaded == 1);
        CHECKF(rec.len == len && len <= sizeof rec.data && memcmp(rec.data, bytes, len) == 0,
               "%s: %zu bytes uploaded, %zu in the file", image, rec.len, len);
        CHECK(strcmp(rec.config_id, "ffi-fb-svc") == 0 && rec.prediction[0] == '[');
        CHECK(fb_stats(fb).requests == 1);
    }
    edgeclass_service_close(svc);
    edgeclass_feedback_close(fb);
    pthread_mutex_destroy(&rec.lock);
    free(bytes);
    fb_remove_dir(dir);
}

static void test_feedback_null_arguments(void)
{
    char tmpl[] = "/tmp/edgeclass-ffi-fb-XXXXXX", *dir = mkdtemp(tmpl);
    edgeclass_feedback *fb = NULL, *out = NULL;
    edgeclass_params *p;
    edgeclass_feedback_stats st;
    edgeclass_feedback_outcome outcome = 99;
    fb_upload_rec rec;
    size_t n = 99;
    const uint8_t *in = (const uint8_t *)"x";
    if (!CHECK(dir != NULL))
        return;
    p = fb_params(FB_MAP_PLAIN("ffi-fb-null"), dir, NULL);
    CHECK_STATUS(edgeclass_feedback_open(NULL, &out), EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("params");
    CHECK_STATUS(edgeclass_feedback_open(p, NULL), EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("out");
    CHECK(out == NULL);
    if (!CHECK_STATUS(edgeclass_feedback_open(p, &fb), EDGECLASS_OK)) {
        edgeclass_params_free(p);
        fb_remove_dir(dir);
        return;
    }
    edgeclass_params_free(p);

    CHECK_STATUS(edgeclass_feedback_publish(NULL, in, 1, "[1]", NULL, NULL),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("config_id");
    CHECK_STATUS(edgeclass_feedback_publish("ffi-fb-null", NULL, 5, "[1]", NULL, NULL),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("model_input");
    CHECK_STATUS(edgeclass_feedback_publish("ffi-fb-null", in, 1, NULL, NULL, NULL),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("prediction_json");
    CHECK_STATUS(edgeclass_feedback_publish("ffi-\xff", in, 1, "[1]", NULL, NULL),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("UTF-8");
    CHECK_STATUS(edgeclass_feedback_publish("ffi-fb-null", in, 1, "[1]", "{\"a\":\"\xff\"}", NULL),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("metadata_json");
    /* An empty input may be NULL. */
    CHECK_STATUS(edgeclass_feedback_publish("ffi-fb-null", NULL, 0, "[1]", NULL, &outcome),
                 EDGECLASS_OK);
    CHECK(outcome == EDGECLASS_FEEDBACK_SPOOLED);

    CHECK_STATUS(edgeclass_feedback_set_upload_callback(NULL, fb_upload_cb, NULL),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("fb");
    CHECK_STATUS(edgeclass_feedback_drain(NULL, fb_upload_cb, NULL, 0, &n),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("fb");
    CHECK_STATUS(edgeclass_feedback_drain(fb, NULL, NULL, 0, &n), EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("callback");
    CHECK(n == 99);
    CHECK_STATUS(edgeclass_feedback_set_message_callback(NULL, fb_message_cb, &fb_msgs),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_STATUS(edgeclass_feedback_flush(NULL, 0), EDGECLASS_INVALID_ARGUMENT);
    CHECK_STATUS(edgeclass_feedback_get_stats(NULL, &st), EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("fb");
    CHECK_STATUS(edgeclass_feedback_get_stats(fb, NULL), EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("out");
    /* NULL callback and NULL count are fine elsewhere: stop an uploader that never ran; a drain
     * that does not report its count. */
    CHECK_STATUS(edgeclass_feedback_set_upload_callback(fb, NULL, NULL), EDGECLASS_OK);
    fb_rec_init(&rec, 0);
    CHECK_STATUS(edgeclass_feedback_drain(fb, fb_upload_cb, &rec, 1, NULL), EDGECLASS_OK);
    CHECK(rec.calls == 1 && rec.len == 0);
    pthread_mutex_destroy(&rec.lock);
    edgeclass_feedback_close(NULL);
    edgeclass_feedback_close(fb);
    fb_remove_dir(dir);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* Before any service opens: route the library's log lines to the test's sink. */
    if (edgeclass_set_log_callback(log_cb, &sink, 2) != EDGECLASS_OK) {
        fprintf(stderr, "edgeclass_set_log_callback failed\n");
        return 1;
    }
    RUN(test_abi_version);
    RUN(test_status_names);
    RUN(test_last_error);
    RUN(test_log_callback);
    RUN(test_log_to_stderr);
    RUN(test_params_arguments);
    RUN(test_parameter_rules_bad);
    RUN(test_parameter_rules_good);
    RUN(test_parameter_required);
    RUN(test_jpeg_decoder_choice);
    RUN(test_threads_choice);
    RUN(test_open_close_reopen);
    RUN(test_find_and_handles);
    RUN(test_invoke);
    RUN(test_service_info_and_labels);
    RUN(test_classify_goldens);
    RUN(test_body_and_buffers);
    RUN(test_image_error_codes);
    RUN(test_strict_content_type);
    RUN(test_image_too_large);
    RUN(test_model_error_codes);
    RUN(test_memory_limit_open);
    RUN(test_memory_limit_classify);
    RUN(test_heap_stats);
    RUN(test_timeout);
    RUN(test_cancel);
    RUN(test_concurrent_bit_equal);
    RUN(test_null_arguments);
    RUN(test_feedback_open_errors);
    RUN(test_feedback_publish_and_upload);
    RUN(test_feedback_strategy_and_arguments);
    RUN(test_feedback_request_limit);
    RUN(test_feedback_from_a_service);
    RUN(test_feedback_null_arguments);
    /* Leave the library quiet and the captured lines freed (valgrind: nothing left behind). */
    if (edgeclass_set_log_callback(NULL, NULL, 0) != EDGECLASS_OK)
        CHECK(0);
    log_clear();
    free(big_png);
    return check_finish();
}
