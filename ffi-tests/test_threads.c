/*
 * Threads and time through the C ABI: a request's deadline, cancel from another thread, and 8
 * threads on one service answering bit for bit as a serial run.
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with XSI: realpath, mkdtemp, symlink, dup2 */

#include "support.h"

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
        uint8_t *china = read_fixture(PHOTO, &len);
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
        china = read_fixture(PHOTO, &len);
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

void run_threads_tests(void)
{
    RUN(test_timeout);
    RUN(test_cancel);
    RUN(test_concurrent_bit_equal);
}
