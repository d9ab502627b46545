/*
 * Parameters through the C ABI: edgeclass_params_set's own checks, every documented rule of
 * edgeclass_service_open (code, and a message naming the parameter, value and rule), the
 * required ones, and what the edgeclass options do to a service.
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with XSI: realpath, mkdtemp, symlink, dup2 */

#include "support.h"

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
        edgeclass_status cs = classify_fixture(svc, DIGIT_JPEG, NULL, &r);
        char msg[1024];
        last_msg(msg, sizeof msg);
        /* Bit-exact with OpenCV: JPEG digits then match MXNet within the exact tolerance. */
        if (CHECKF(cs == EDGECLASS_OK,
                   "the service opened with EdgeclassJpegDecoder=libjpeg-turbo, but a JPEG request "
                   "gives %s: %s",
                   edgeclass_status_name(cs), msg))
            compare_golden(fx_case(DIGIT_JPEG), r, 1);
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
        if (CHECK_STATUS(classify_fixture(svc, DIGIT_PNG, NULL, &r), EDGECLASS_OK))
            compare_golden(fx_case(DIGIT_PNG), r, 1);
        edgeclass_result_free(r);
        edgeclass_service_close(svc);
    } else {
        CHECK_STATUS(st, EDGECLASS_UNSUPPORTED);
        CHECK_MSG("multithread");
        CHECK(svc == NULL);
    }
}


static void test_strict_content_type(void)
{
    const char *extra[] = {"EdgeclassStrictDecoding", "true", NULL};
    edgeclass_service *svc = NULL;
    edgeclass_result *r = NULL;
    if (!CHECK_STATUS(open_service("strict-svc", TINY, BIG, extra, &svc), EDGECLASS_OK))
        return;
    CHECK_STATUS(classify_fixture(svc, PNG_NAMED_JPG, NULL, &r),
                 EDGECLASS_CONTENT_TYPE_MISMATCH);
    CHECK_MSG("PNG");
    CHECK_STATUS(classify_fixture(svc, JPEG_NAMED_PNG, NULL, &r),
                 EDGECLASS_CONTENT_TYPE_MISMATCH);
    CHECK(r == NULL);
    /* Agreeing types still work. */
    if (CHECK_STATUS(classify_fixture(svc, DIGIT_PNG, NULL, &r), EDGECLASS_OK))
        compare_golden(fx_case(DIGIT_PNG), r, 1);
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
    CHECK_STATUS(classify_fixture(svc, DIGIT_PNG, NULL, &r),
                 EDGECLASS_IMAGE_TOO_LARGE);
    CHECK_MSG("784");
    CHECK_MSG("700");
    /* 20x20 = 400 fits. */
    if (CHECK_STATUS(classify_fixture(svc, DIGIT_JPEG_20, NULL, &r), EDGECLASS_OK))
        compare_golden(fx_case(DIGIT_JPEG_20), r, 0);
    edgeclass_result_free(r);
    edgeclass_service_close(svc);
}

void run_params_tests(void)
{
    RUN(test_params_arguments);
    RUN(test_parameter_rules_bad);
    RUN(test_parameter_rules_good);
    RUN(test_parameter_required);
    RUN(test_jpeg_decoder_choice);
    RUN(test_threads_choice);
    RUN(test_strict_content_type);
    RUN(test_image_too_large);
}
