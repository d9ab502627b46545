/*
 * ML Feedback through the C ABI: open, publish, the spool, uploads (drain and background),
 * messages, stats, RequestLimit, a service feeding it, NULL arguments. Expected samples are the
 * bytes, prediction and metadata the test published; messages and Queue.Full text are the
 * connector documentation's.
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with XSI: realpath, mkdtemp, symlink, dup2 */

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"

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
    const char *image = DIGIT_JPEG;
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

void run_feedback_tests(void)
{
    RUN(test_feedback_open_errors);
    RUN(test_feedback_publish_and_upload);
    RUN(test_feedback_strategy_and_arguments);
    RUN(test_feedback_request_limit);
    RUN(test_feedback_from_a_service);
    RUN(test_feedback_null_arguments);
}
