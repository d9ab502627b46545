/*
 * Codes and errors through the C ABI: the version, every status's stable name and number, the
 * thread-local last error, and each status code an image or a model gives (one fixture per code,
 * from cases.h; what every fixture gives is the Rust suites').
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with XSI: realpath, mkdtemp, symlink, dup2 */

#include <regex.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"

#ifndef EXPECTED_VERSION
#error "compile with -DEXPECTED_VERSION='\"x.y.z\"' (run.sh takes it from Cargo.toml)"
#endif

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
        S(EDGECLASS_UNSUPPORTED), S(EDGECLASS_UNAVAILABLE), S(EDGECLASS_UNSUPPORTED_CONTENT_TYPE),
        S(EDGECLASS_UNSUPPORTED_IMAGE_FORMAT), S(EDGECLASS_CORRUPT_IMAGE),
        S(EDGECLASS_UNSUPPORTED_IMAGE_FEATURE), S(EDGECLASS_CONTENT_TYPE_MISMATCH),
        S(EDGECLASS_BAD_TENSOR), S(EDGECLASS_MODEL_NOT_FOUND), S(EDGECLASS_PARAMS_FORMAT),
        S(EDGECLASS_SYMBOL_FORMAT), S(EDGECLASS_UNSUPPORTED_OPERATOR), S(EDGECLASS_MODEL_MISMATCH),
        S(EDGECLASS_NNEF), S(EDGECLASS_IO), S(EDGECLASS_MEMORY_LIMIT), S(EDGECLASS_IMAGE_TOO_LARGE),
        S(EDGECLASS_TIMEOUT), S(EDGECLASS_CANCELLED), S(EDGECLASS_INTERNAL), S(EDGECLASS_PANIC),
    };
#undef S
    static const uint32_t unknown[] = {1, 2, 999, 1000, 1008, 2000, 2007, 3008, 4005, 5000, 5003,
                                       6000, 0x7fffffffu, 0xffffffffu};
    size_t i;
    for (i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *n = edgeclass_status_name(all[i].code);
        CHECKF(n != NULL && strcmp(n, all[i].name) == 0, "%u -> %s", all[i].code, n);
    }
    /* The numbers are part of the ABI: never renumbered. */
    CHECK(EDGECLASS_INVALID_ARGUMENT == 1001 && EDGECLASS_UNSUPPORTED == 1006);
    CHECK(EDGECLASS_UNAVAILABLE == 1007);
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


/* One image per image code through edgeclass_classify: the code, no result, a message that says
 * what is wrong. (Every fixture's code: tests/service.rs, every_fixture_image_through_a_service.) */
static void test_image_codes(void)
{
    edgeclass_service *svc = NULL;
    edgeclass_result *r = NULL;
    size_t i, len = 0;
    uint8_t *data;
    if (!CHECK_STATUS(open_service("errors-svc", TINY, BIG, NULL, &svc), EDGECLASS_OK))
        return;
    for (i = 0; i < IMAGE_CODE_CASES; i++) {
        const code_case *c = &image_code_cases[i];
        edgeclass_status st;
        char msg[1024];
        r = NULL;
        st = classify_fixture(svc, c->fixture, NULL, &r);
        last_msg(msg, sizeof msg);
        CHECKF(st == c->code, "%s: got %s (%s), want %s", c->fixture, edgeclass_status_name(st),
               msg, edgeclass_status_name(c->code));
        CHECKF(r == NULL && strlen(msg) > 10, "%s: message \"%s\"", c->fixture, msg);
        CHECKF(strstr(msg, c->message) != NULL, "%s: message \"%s\" lacks \"%s\"", c->fixture,
               msg, c->message);
        edgeclass_result_free(r);
    }
    data = read_fixture(DIGIT_PNG, &len);
    if (CHECK(data != NULL)) {
        CHECK_STATUS(edgeclass_classify(svc, "image/gif", data, len, NULL, &r),
                     EDGECLASS_UNSUPPORTED_CONTENT_TYPE);
        CHECK(r == NULL);
        /* Zero bytes: not an image (not a NULL-pointer error, even with a NULL body). */
        CHECK_STATUS(edgeclass_classify(svc, "image/png", NULL, 0, NULL, &r),
                     EDGECLASS_UNSUPPORTED_IMAGE_FORMAT);
        CHECK_STATUS(edgeclass_classify(svc, "image/png", data, 0, NULL, &r),
                     EDGECLASS_UNSUPPORTED_IMAGE_FORMAT);
        CHECK(r == NULL);
        free(data);
    }
    edgeclass_service_close(svc);
}

static const fx_hostile *hostile_case(const char *fixture)
{
    size_t i;
    const char *name = strrchr(fixture, '/') + 1;
    for (i = 0; i < FX_HOSTILE_MODELS_LEN; i++)
        if (strcmp(fx_hostile_models[i].name, name) == 0)
            return &fx_hostile_models[i];
    return NULL;
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

/* One model per model code through edgeclass_service_open: the code, no handle, the message the
 * fixture's expected.json asks for. (Every hostile model: tests/hostile_models.rs.) Then NNEF
 * and IO, which no fixture gives. */
static void test_model_codes(void)
{
    char tmpl[] = "/tmp/edgeclass-ffi-XXXXXX", path[1024], target[4096], *dir;
    edgeclass_service *svc = NULL;
    size_t i;
    int k;
    for (i = 0; i < MODEL_CODE_CASES; i++) {
        const code_case *c = &model_code_cases[i];
        const fx_hostile *h = strncmp(c->fixture, "hostile-models/", 15) == 0
                                  ? hostile_case(c->fixture)
                                  : NULL;
        char msg[4096];
        edgeclass_status st = open_service("hostile-svc", c->fixture, BIG, NULL, &svc);
        last_msg(msg, sizeof msg);
        CHECKF(st == c->code, "%s: got %s (%s), want %s", c->fixture, edgeclass_status_name(st),
               msg, edgeclass_status_name(c->code));
        CHECK(svc == NULL);
        if (st == EDGECLASS_OK)
            edgeclass_service_close(svc);
        if (c->message != NULL)
            CHECKF(strstr(msg, c->message) != NULL, "%s: \"%s\" lacks \"%s\"", c->fixture, msg,
                   c->message);
        if (strncmp(c->fixture, "hostile-models/", 15) == 0 &&
            CHECKF(h != NULL, "%s: not in hostile-models/expected.json", c->fixture))
            for (k = 0; k < 3 && h->regex[k] != NULL; k++) {
                regex_t re;
                if (!CHECK(regcomp(&re, h->regex[k], REG_EXTENDED | REG_ICASE | REG_NOSUB) == 0))
                    continue;
                CHECKF(regexec(&re, msg, 0, NULL, 0) == 0, "%s: \"%s\" does not match /%s/i",
                       h->name, msg, h->regex[k]);
                regfree(&re);
            }
    }

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

void run_codes_tests(void)
{
    RUN(test_abi_version);
    RUN(test_status_names);
    RUN(test_last_error);
    RUN(test_image_codes);
    RUN(test_model_codes);
}
