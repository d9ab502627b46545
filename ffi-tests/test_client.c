/*
 * edgeclass_client without a daemon: NULL arguments, a socket nobody listens on
 * (EDGECLASS_UNAVAILABLE naming it), the checks made before connecting. Against the real
 * `edgeclass serve`, tests/serve.rs calls the same functions.
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with XSI: realpath, mkdtemp, symlink, dup2 */

#include "support.h"

static void test_client_without_daemon(void)
{
    edgeclass_client *c = NULL;
    edgeclass_result *r = NULL;
    static const uint8_t img[] = {0x89, 'P', 'N', 'G'};
    const char *sock = "/nonexistent-edgeclass-test/d.sock";
    CHECK_STATUS(edgeclass_client_new(sock, 1000, NULL), EDGECLASS_INVALID_ARGUMENT);
    if (!CHECK_STATUS(edgeclass_client_new(sock, 1000, &c), EDGECLASS_OK))
        return;
    CHECK(c != NULL);
    CHECK_STATUS(edgeclass_client_invoke(c, "image-classification", "svc-a", "image/png", img,
                                         sizeof img, NULL, &r),
                 EDGECLASS_UNAVAILABLE);
    CHECK_MSG(sock);
    CHECK(r == NULL);
    /* Checked before connecting, with the codes edgeclass_invoke gives. */
    CHECK_STATUS(edgeclass_client_invoke(c, "object-detection", "svc-a", "image/png", img,
                                         sizeof img, NULL, &r),
                 EDGECLASS_UNKNOWN_SERVICE);
    CHECK_STATUS(edgeclass_client_invoke(c, "image-classification", "svc-a", "image/png\r\nX: y",
                                         img, sizeof img, NULL, &r),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_STATUS(edgeclass_client_invoke(NULL, "image-classification", "svc-a", "image/png", img,
                                         sizeof img, NULL, &r),
                 EDGECLASS_INVALID_ARGUMENT);
    CHECK_MSG("client");
    CHECK_STATUS(edgeclass_client_invoke(c, "image-classification", "svc-a", "image/png", NULL,
                                         4, NULL, &r),
                 EDGECLASS_INVALID_ARGUMENT);
    edgeclass_client_free(c);
    edgeclass_client_free(NULL);
}

void run_client_tests(void)
{
    RUN(test_client_without_daemon);
}
