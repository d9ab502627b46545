/* The shared helpers of the C tests (support.h). */
#include "support.h"

int env_int(const char *name, int dflt)
{
    const char *v = getenv(name);
    return (v != NULL && v[0] != '\0') ? atoi(v) : dflt;
}

int quick(void)
{
    return env_int("FFI_TESTS_QUICK", 0) == 1;
}

size_t step(size_t n)
{
    return quick() ? n : 1;
}

int msg_contains(const char *needle)
{
    char msg[4096];
    last_msg(msg, sizeof msg);
    return strstr(msg, needle) != NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Log capture. */

struct log_sink sink = {PTHREAD_MUTEX_INITIALIZER, 0, 0, {0}, {NULL}};

void log_cb(void *user_data, int32_t level, const char *message)
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

void log_clear(void)
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

int is_png_bytes(const uint8_t *d, size_t n)
{
    return n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0;
}

const fx_golden *fx_case(const char *image)
{
    static const struct {
        const fx_golden *table;
        size_t len;
    } tables[] = {
        {fx_tiny_digits, FX_TINY_DIGITS_LEN},
        {fx_tiny_photos, FX_TINY_PHOTOS_LEN},
        {fx_tiny_images, FX_TINY_IMAGES_LEN},
    };
    size_t t, i;
    for (t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (i = 0; i < tables[t].len; i++)
            if (strcmp(tables[t].table[i].image, image) == 0 && tables[t].table[i].has_golden)
                return &tables[t].table[i];
    fprintf(stderr, "no golden for %s (cases.h names a fixture the goldens lack)\n", image);
    exit(2);
}

void compare_golden(const fx_golden *g, const edgeclass_result *r, int exact)
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

void classify_and_compare(const edgeclass_service *svc, const fx_golden *g)
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

int full_model_available(void)
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

uint8_t *big_png;
size_t big_png_len;

int ensure_big_png(void)
{
    if (big_png == NULL)
        big_png = make_png(BIG_W, BIG_H, &big_png_len);
    return CHECK(big_png != NULL);
}
