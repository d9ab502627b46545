/*
 * NULL and garbage arguments through the C ABI: a status and a message naming the argument, no
 * crash; the *_free functions accept NULL; a failed call leaves its out pointer alone.
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with XSI: realpath, mkdtemp, symlink, dup2 */

#include "support.h"

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
    if (CHECK_STATUS(classify_fixture(svc, DIGIT_JPEG, NULL, &r), EDGECLASS_OK)) {
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

/* A call that fails leaves its out pointer as it was (edgeclass_service_open, _find, classify,
 * invoke, edgeclass_feedback_open): a caller's pointer is never half-set. */
static void test_out_untouched_on_failure(void)
{
    edgeclass_service *svc = NULL, *out = (edgeclass_service *)&out;
    edgeclass_result *r = (edgeclass_result *)&r;
    edgeclass_feedback *fb = (edgeclass_feedback *)&fb;
    edgeclass_params *p = seed_params("untouched-svc", "no/such/model", BIG, NULL);
    static const uint8_t junk[] = "not an image";
    if (p != NULL) {
        CHECK_STATUS(edgeclass_service_open(p, &out), EDGECLASS_MODEL_NOT_FOUND);
        CHECK(out == (edgeclass_service *)&out);
        /* A feedback connector without its FeedbackConfigurationMap. */
        CHECK_STATUS(edgeclass_feedback_open(p, &fb), EDGECLASS_INVALID_PARAMETER);
        CHECK(fb == (edgeclass_feedback *)&fb);
        edgeclass_params_free(p);
    }
    CHECK_STATUS(edgeclass_service_find("untouched-svc", &out), EDGECLASS_UNKNOWN_SERVICE);
    CHECK(out == (edgeclass_service *)&out);
    if (!CHECK_STATUS(open_service("untouched-svc", TINY, BIG, NULL, &svc), EDGECLASS_OK))
        return;
    CHECK_STATUS(edgeclass_classify(svc, "image/png", junk, sizeof junk, NULL, &r),
                 EDGECLASS_UNSUPPORTED_IMAGE_FORMAT);
    CHECK(r == (edgeclass_result *)&r);
    CHECK_STATUS(edgeclass_invoke("image-classification", "untouched-svc", "image/png", junk,
                                  sizeof junk, NULL, &r),
                 EDGECLASS_UNSUPPORTED_IMAGE_FORMAT);
    CHECK(r == (edgeclass_result *)&r);
    edgeclass_service_close(svc);
}

void run_nulls_tests(void)
{
    RUN(test_null_arguments);
    RUN(test_out_untouched_on_failure);
}
