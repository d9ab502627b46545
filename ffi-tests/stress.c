/*
 * Stress: every fixture image (tests/fixtures/images, good and hostile, and the tiny-trained
 * digits) x 20 rounds x 4 threads on tiny-trained, under a memory limit just above what the
 * service needs. Passes when nothing crashes, every image gets the same answer (bit for bit) or
 * the same error code on every round and thread, every image that must decode does, and the
 * library's peak live heap (edgeclass_heap_stats) stays within the limit.
 *
 * The limit is computed from the library's own figures for this model, as a user sizing
 * LocalInferenceServiceMemoryLimitKB would: model + workers x (activations + buffers) from
 * edgeclass_service_get_info, plus workers x the largest decode any accepted image needs (read
 * from the MEMORY_LIMIT messages of a service that has no room for images), plus a small margin;
 * or loading's peak plus the margin when that is more. The peak while opening must fit too.
 *
 * Environment: EDGECLASS_FIXTURES (default tests/fixtures), STRESS_ROUNDS (default 20).
 */
#define _XOPEN_SOURCE 700

#include "common.h"
#include "cases.h"

#define THREADS 4
#define WORKERS 2
#define MARGIN (64 * 1024)
#define MAX_IMAGES (FX_TINY_IMAGES_LEN + FX_TINY_DIGITS_LEN)

typedef struct {
    const char *rel;
    int must_decode; /* expected.json "decode", or a digit */
    uint8_t *data;
    size_t len;
    /* The first answer seen (any thread); every later one must equal it. */
    pthread_mutex_t lock;
    int seen;
    uint32_t status;
    float probs[FX_TINY_CLASSES];
    long differ;
} stress_image;

static stress_image images[MAX_IMAGES];
static size_t n_images;

typedef struct {
    const edgeclass_service *svc;
    int id, rounds;
    long requests;
} stress_job;

static void record(stress_image *im, uint32_t st, const float *p)
{
    pthread_mutex_lock(&im->lock);
    if (!im->seen) {
        im->seen = 1;
        im->status = st;
        if (st == EDGECLASS_OK)
            memcpy(im->probs, p, sizeof im->probs);
    } else if (im->status != st || (st == EDGECLASS_OK && !same_floats(im->probs, p, FX_TINY_CLASSES))) {
        im->differ++;
    }
    pthread_mutex_unlock(&im->lock);
}

static void *stress_worker(void *arg)
{
    stress_job *j = arg;
    int round;
    size_t k;
    for (round = 0; round < j->rounds; round++) {
        for (k = 0; k < n_images; k++) {
            /* Each thread walks the images from a different start, so different images overlap. */
            stress_image *im = &images[(k + (size_t)j->id * 11 + (size_t)round * 3) % n_images];
            edgeclass_result *r = NULL;
            float p[FX_TINY_CLASSES];
            size_t n = 0;
            edgeclass_status st =
                edgeclass_classify(j->svc, content_type_for(im->rel), im->data, im->len, NULL, &r);
            if (st == EDGECLASS_OK) {
                if (edgeclass_result_probabilities(r, p, FX_TINY_CLASSES, &n) != EDGECLASS_OK ||
                    n != FX_TINY_CLASSES)
                    st = EDGECLASS_INTERNAL; /* recorded as a different outcome */
                edgeclass_result_free(r);
            } else if (r != NULL) {
                st = EDGECLASS_INTERNAL;
            }
            record(im, (uint32_t)st, p);
            j->requests++;
        }
    }
    return NULL;
}

/* "... needs 123456 bytes to decode ..." -> 123456; 0 when absent. */
static uint64_t parse_need(const char *msg)
{
    const char *p = strstr(msg, " needs ");
    char *end;
    unsigned long long v;
    if (p == NULL)
        return 0;
    v = strtoull(p + 7, &end, 10);
    if (end == p + 7 || strncmp(end, " bytes", 6) != 0)
        return 0;
    return (uint64_t)v;
}

static void run_stress(void)
{
    const char *extra[] = {"EdgeclassWorkers", "2", NULL};
    /* Many workers for the probe: their fixed needs pass loading's peak, so the limit can leave
     * (almost) no room for images. */
    const char *extra_probe[] = {"EdgeclassWorkers", "8", NULL};
    edgeclass_service *svc = NULL;
    svc_info info, info2;
    uint64_t fixed, min_image = (uint64_t)FX_TINY_H * FX_TINY_W * 4, max_need = 0, limit, live = 0,
                    peak = 0, open_peak = 0;
    char kb[32];
    size_t i;
    int t, started = 0, rounds = 20;
    stress_job jobs[THREADS];
    pthread_t threads[THREADS];
    long total = 0, differ = 0, failed_good = 0;
    double t0;
    const char *env_rounds = getenv("STRESS_ROUNDS");

    if (env_rounds != NULL && atoi(env_rounds) > 0)
        rounds = atoi(env_rounds);
    if (edgeclass_set_log_callback(NULL, NULL, 0) != EDGECLASS_OK)
        CHECK(0);

    /* The images, in memory. */
    for (i = 0; i < FX_TINY_IMAGES_LEN + FX_TINY_DIGITS_LEN; i++) {
        stress_image *im = &images[n_images];
        im->rel = i < FX_TINY_IMAGES_LEN ? fx_tiny_images[i].image
                                          : fx_tiny_digits[i - FX_TINY_IMAGES_LEN].image;
        im->must_decode = i >= FX_TINY_IMAGES_LEN || strcmp(fx_images_expect[i], "decode") == 0;
        im->data = read_fixture(im->rel, &im->len);
        if (!CHECKF(im->data != NULL, "%s", im->rel))
            continue;
        CHECK(pthread_mutex_init(&im->lock, NULL) == 0);
        n_images++;
    }

    /* 1. The service's fixed needs. */
    if (!CHECK_STATUS(open_service("stress-calibrate", TINY, BIG, extra, &svc),
                      EDGECLASS_OK))
        return;
    CHECK_STATUS(edgeclass_service_get_info(svc, &info), EDGECLASS_OK);
    edgeclass_service_close(svc);
    if (!CHECK(info.measured))
        return;
    fixed = info.model_bytes + info.workers * (info.activation_bytes + info.worker_buffer_bytes);

    /* 2. The largest decode an accepted image needs: a service with room for the smallest image
     * only refuses the others and says how many bytes each needs. */
    if (!CHECK_STATUS(open_service("stress-probe", TINY, BIG, extra_probe, &svc),
                      EDGECLASS_OK))
        return;
    CHECK_STATUS(edgeclass_service_get_info(svc, &info2), EDGECLASS_OK);
    edgeclass_service_close(svc);
    svc = NULL;
    {
        uint64_t probe_fixed = info2.model_bytes + info2.workers * (info2.activation_bytes +
                                                                   info2.worker_buffer_bytes);
        uint64_t probe_limit = probe_fixed + info2.workers * min_image + 1024;
        if (!CHECKF(probe_limit > info2.load_peak_bytes,
                    "8 workers (%llu B) need less than loading (%llu B)",
                    (unsigned long long)probe_limit, (unsigned long long)info2.load_peak_bytes))
            return;
        snprintf(kb, sizeof kb, "%llu", (unsigned long long)((probe_limit + 1023) / 1024));
    }
    if (!CHECK_STATUS(open_service("stress-probe", TINY, kb, extra_probe, &svc),
                      EDGECLASS_OK))
        return;
    CHECK_STATUS(edgeclass_service_get_info(svc, &info2), EDGECLASS_OK);
    max_need = info2.image_bytes;
    for (i = 0; i < n_images; i++) {
        edgeclass_result *r = NULL;
        edgeclass_status st = edgeclass_classify(svc, content_type_for(images[i].rel),
                                                 images[i].data, images[i].len, NULL, &r);
        edgeclass_result_free(r);
        if (st == EDGECLASS_MEMORY_LIMIT) {
            char msg[1024];
            uint64_t need = parse_need(last_msg(msg, sizeof msg));
            CHECKF(need > 0, "%s: no byte count in \"%s\"", images[i].rel, msg);
            if (need > max_need)
                max_need = need;
        }
    }
    edgeclass_service_close(svc);

    /* 3. The stress service: just above that (or above loading's peak). */
    limit = fixed + WORKERS * max_need;
    if (limit < info.load_peak_bytes)
        limit = info.load_peak_bytes;
    limit += MARGIN;
    snprintf(kb, sizeof kb, "%llu", (unsigned long long)((limit + 1023) / 1024));
    limit = ((limit + 1023) / 1024) * 1024;
    edgeclass_heap_reset_peak();
    if (!CHECK_STATUS(open_service("stress-svc", TINY, kb, extra, &svc), EDGECLASS_OK))
        return;
    CHECK_STATUS(edgeclass_heap_stats(&live, &open_peak), EDGECLASS_OK);
    CHECK_STATUS(edgeclass_service_get_info(svc, &info2), EDGECLASS_OK);
    printf("    live heap with the service open and idle: %llu bytes (its fixed budget: %llu)\n",
           (unsigned long long)live, (unsigned long long)fixed);
    printf("    limit %llu bytes = max(model %llu + %d x (activations %llu + buffers %llu + largest "
           "decode %llu), load peak %llu) + margin %d\n",
           (unsigned long long)limit, (unsigned long long)info2.model_bytes, WORKERS,
           (unsigned long long)info2.activation_bytes,
           (unsigned long long)info2.worker_buffer_bytes, (unsigned long long)max_need,
           (unsigned long long)info.load_peak_bytes, MARGIN);
    edgeclass_heap_reset_peak();

    t0 = check_now();
    for (t = 0; t < THREADS; t++) {
        jobs[t].svc = svc;
        jobs[t].id = t;
        jobs[t].rounds = rounds;
        jobs[t].requests = 0;
        if (!CHECK(pthread_create(&threads[t], NULL, stress_worker, &jobs[t]) == 0))
            break;
        started++;
    }
    for (t = 0; t < started; t++) {
        CHECK(pthread_join(threads[t], NULL) == 0);
        total += jobs[t].requests;
    }
    CHECK_STATUS(edgeclass_heap_stats(&live, &peak), EDGECLASS_OK);
    CHECK_STATUS(edgeclass_service_get_info(svc, &info2), EDGECLASS_OK);

    for (i = 0; i < n_images; i++) {
        stress_image *im = &images[i];
        differ += im->differ;
        if (im->differ > 0)
            CHECKF(0, "%s: %ld answers differ from the first (%s)", im->rel, im->differ,
                   edgeclass_status_name(im->status));
        if (im->must_decode && im->status != EDGECLASS_OK) {
            failed_good++;
            CHECKF(0, "%s must decode, got %s", im->rel, edgeclass_status_name(im->status));
        }
        if (!im->must_decode && im->status == EDGECLASS_OK)
            printf("    %s: decoded (allowed: \"either\")\n", im->rel);
    }
    printf("    %d threads x %d rounds x %zu images = %ld requests in %.2f s (%llu refused for "
           "memory, %llu failed in all)\n",
           started, rounds, n_images, total, check_now() - t0,
           (unsigned long long)info2.refused_memory, (unsigned long long)info2.failed);
    printf("    highest single request %llu bytes (per worker the budget is activations + largest "
           "decode = %llu)\n",
           (unsigned long long)info2.request_peak_bytes,
           (unsigned long long)(info2.activation_bytes + max_need));
    printf("    peak live heap %llu bytes (%.1f%% of the limit %llu); %llu while opening\n",
           (unsigned long long)peak, 100.0 * (double)peak / (double)limit,
           (unsigned long long)limit, (unsigned long long)open_peak);
    CHECK(started == THREADS && total == (long)THREADS * rounds * (long)n_images);
    CHECK(differ == 0 && failed_good == 0);
    CHECK(info2.refused_memory == 0);
    CHECKF(peak <= limit, "peak live heap %llu > limit %llu", (unsigned long long)peak,
           (unsigned long long)limit);
    CHECKF(open_peak <= limit, "peak live heap while opening %llu > limit %llu",
           (unsigned long long)open_peak, (unsigned long long)limit);
    edgeclass_service_close(svc);
    for (i = 0; i < n_images; i++) {
        free(images[i].data);
        pthread_mutex_destroy(&images[i].lock);
    }
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    RUN(run_stress);
    return check_finish();
}
