/*
 * The library's log lines through the C ABI: a callback (any thread, prefixed with the service's
 * name, filtered by level) or stderr.
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with XSI: realpath, mkdtemp, symlink, dup2 */

#include <unistd.h>

#include "support.h"

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
    CHECK_STATUS(classify_fixture(svc, PNG_NAMED_JPG, NULL, &r), EDGECLASS_OK);
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

void run_log_tests(void)
{
    RUN(test_log_callback);
    RUN(test_log_to_stderr);
}
