/*
 * Services through the C ABI: handles and their lifetimes (open, find, free, close, reopen), the
 * registry and edgeclass_invoke, edgeclass_service_get_info and labels, the memory limit at open
 * and per request, and the heap figures.
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with XSI: realpath, mkdtemp, symlink, dup2 */

#include "support.h"

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
        if (CHECK_STATUS(classify_fixture(a, DIGIT_PNG, NULL, &r), EDGECLASS_OK))
            compare_golden(fx_case(DIGIT_PNG), r, 1);
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
    if (CHECK_STATUS(classify_fixture(a, DIGIT_PNG_SMALL, NULL, &r), EDGECLASS_OK))
        compare_golden(fx_case(DIGIT_PNG_SMALL), r, 1);
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
    const fx_golden *g = fx_case(DIGIT_PNG_56);
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
    CHECK_STATUS(classify_fixture(svc, DIGIT_JPEG, NULL, &r), EDGECLASS_OK);
    edgeclass_result_free(r);
    CHECK_STATUS(classify_fixture(svc, NOT_AN_IMAGE, NULL, &r),
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
    if (!fx_exists(NOLABELS "/labels.txt") &&
        CHECK_STATUS(open_service("nolabels-svc", NOLABELS, BIG, NULL, &nolabels),
                     EDGECLASS_OK)) {
        if (CHECK_STATUS(edgeclass_service_get_info(nolabels, &info), EDGECLASS_OK))
            CHECK(!info.has_labels);
        CHECK_STATUS(edgeclass_service_label(nolabels, 0, buf, sizeof buf, &need),
                     EDGECLASS_INVALID_ARGUMENT);
        CHECK_MSG("labels");
        edgeclass_service_close(nolabels);
    }
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
        CHECK(info2.image_bytes < PHOTO_W * PHOTO_H * 3u);
        CHECK(info2.image_bytes >= image_budget / 2);
        snprintf(num, sizeof num, "%llu", (unsigned long long)info2.limit_bytes);
    }
    CHECK_STATUS(classify_fixture(svc, PHOTO, NULL, &r), EDGECLASS_MEMORY_LIMIT);
    CHECK_MSG("640x427");
    CHECK_MSG("bytes");
    CHECK_MSG(num);
    if (ensure_big_png()) {
        CHECK_STATUS(edgeclass_classify(svc, "image/png", big_png, big_png_len, NULL, &r),
                     EDGECLASS_MEMORY_LIMIT);
        CHECK(r == NULL);
    }
    /* A small image still fits, and answers correctly. */
    if (CHECK_STATUS(classify_fixture(svc, DIGIT_PNG, NULL, &r), EDGECLASS_OK))
        compare_golden(fx_case(DIGIT_PNG), r, 1);
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
    if (CHECK_STATUS(classify_fixture(svc, PHOTO, NULL, &r), EDGECLASS_OK)) {
        edgeclass_call_stats st;
        CHECK_STATUS(edgeclass_heap_stats(&live, &peak), EDGECLASS_OK);
        /* Decoding a 640x427 photo raised the peak by at least its pixels. */
        CHECK(peak >= live2 + PHOTO_W * PHOTO_H * 3u);
        if (CHECK_STATUS(edgeclass_result_stats(r, &st), EDGECLASS_OK))
            CHECK(st.peak_bytes >= PHOTO_W * PHOTO_H * 3u && st.decoded_width == PHOTO_W &&
                  st.decoded_height == PHOTO_H);
    }
    edgeclass_result_free(r);
    edgeclass_service_close(svc);
    /* Closing frees the model. */
    CHECK_STATUS(edgeclass_heap_stats(&live, &peak), EDGECLASS_OK);
    CHECK(live + info.model_bytes / 2 < live2);
}

/* edgeclass_service_reload: the answer of the model swapped in equals a service opened on that
 * model directly; a hostile model fails the reload with its own code and the old model serves
 * on; NULL reloads the current path; the generation counts the swaps. */
static void test_reload(void)
{
    edgeclass_service *svc = NULL, *ref = NULL;
    edgeclass_result *r = NULL;
    float want[64], got[64], before[64];
    size_t nwant = 0, ngot = 0, nbefore = 0, i;
    char path[4096];
    if (!CHECK_STATUS(open_service("reload-ref", NOLABELS, BIG, NULL, &ref), EDGECLASS_OK))
        return;
    if (CHECK_STATUS(classify_fixture(ref, PHOTO, NULL, &r), EDGECLASS_OK))
        nwant = result_probs(r, want, 64);
    edgeclass_result_free(r);
    r = NULL;
    edgeclass_service_close(ref);
    if (!CHECK_STATUS(open_service("reload-svc", TINY, BIG, NULL, &svc), EDGECLASS_OK))
        return;
    CHECK(edgeclass_service_generation(svc) == 1);
    CHECK(edgeclass_service_generation(NULL) == 0);
    if (CHECK_STATUS(classify_fixture(svc, PHOTO, NULL, &r), EDGECLASS_OK))
        nbefore = result_probs(r, before, 64);
    edgeclass_result_free(r);
    r = NULL;
    /* A hostile model: its own code, and the tiny model answers as before. */
    for (i = 0; i < MODEL_CODE_CASES; i++) {
        CHECK_STATUS(edgeclass_service_reload(svc, fx_path(path, sizeof path,
                                                           model_code_cases[i].fixture)),
                     model_code_cases[i].code);
        CHECK_MSG("the current model serves on");
    }
    CHECK(edgeclass_service_generation(svc) == 1);
    if (CHECK_STATUS(classify_fixture(svc, PHOTO, NULL, &r), EDGECLASS_OK)) {
        ngot = result_probs(r, got, 64);
        CHECK(ngot == nbefore && nbefore == 10 && memcmp(got, before, ngot * sizeof *got) == 0);
    }
    edgeclass_result_free(r);
    r = NULL;
    /* The swap. */
    if (CHECK_STATUS(edgeclass_service_reload(svc, fx_path(path, sizeof path, NOLABELS)),
                     EDGECLASS_OK)) {
        CHECK(edgeclass_service_generation(svc) == 2);
        if (CHECK_STATUS(classify_fixture(svc, PHOTO, NULL, &r), EDGECLASS_OK)) {
            ngot = result_probs(r, got, 64);
            CHECK(ngot == nwant && nwant > 0 && memcmp(got, want, ngot * sizeof *got) == 0);
        }
        edgeclass_result_free(r);
        r = NULL;
    }
    /* NULL: the current model's own path again. */
    CHECK_STATUS(edgeclass_service_reload(svc, NULL), EDGECLASS_OK);
    CHECK(edgeclass_service_generation(svc) == 3);
    CHECK_STATUS(edgeclass_service_reload(NULL, NULL), EDGECLASS_INVALID_ARGUMENT);
    edgeclass_service_close(svc);
}

void run_service_tests(void)
{
    RUN(test_open_close_reopen);
    RUN(test_find_and_handles);
    RUN(test_invoke);
    RUN(test_service_info_and_labels);
    RUN(test_memory_limit_open);
    RUN(test_memory_limit_classify);
    RUN(test_heap_stats);
    RUN(test_reload);
}
