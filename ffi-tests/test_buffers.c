/*
 * Results copied out through the C ABI: the body, probabilities and top-k, with every buffer rule
 * (size query, short buffer, truncated prefix).
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with XSI: realpath, mkdtemp, symlink, dup2 */

#include "support.h"

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

void run_buffers_tests(void)
{
    RUN(test_body_and_buffers);
}
