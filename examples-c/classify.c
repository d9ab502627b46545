/*
 * classify: the C twin of the Greengrass ML Image Classification connector's Lambda example.
 *
 * The connector's users call, from a Lambda function,
 *
 *     client = greengrass_machine_learning_sdk.client('inference')
 *     resp = client.invoke_inference_service(AlgoType='image-classification',
 *                                            ServiceName='imageClassification',
 *                                            ContentType='image/jpeg', Body=content)
 *     predictions = resp['Body'].read().decode("utf-8")   # "[0.3,0.1,0.04,...]"
 *
 * after the connector was deployed with the parameters of its create-connector-definition
 * example. Here the program opens that service itself (edgeclass is a library, not a
 * connector), reads an image file, sends it with the content type of its extension, prints the
 * response body and the top-5 classes (with labels when the model has them), and on failure
 * prints the status and edgeclass's message.
 *
 * Usage: classify MODEL_PATH IMAGE [SERVICE_NAME]
 *   MODEL_PATH  a SageMaker training job's output: a directory or its model.tar.gz
 *   IMAGE       a .jpg/.jpeg or .png file
 *
 * Build: see Makefile (shared, static and pkg-config variants).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeclass.h"

/* Print a failed call's status and the library's message for this thread; returns 1. */
static int fail(const char *what, edgeclass_status status)
{
    size_t need = edgeclass_last_error_message(NULL, 0);
    char *msg = malloc(need);
    if (msg != NULL)
        edgeclass_last_error_message(msg, need);
    fprintf(stderr, "classify: %s failed: %s: %s\n", what, edgeclass_status_name(status),
            msg != NULL ? msg : "(no memory for the message)");
    free(msg);
    return 1;
}

/* The whole file; NULL (errno-style message printed) on failure. */
static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0, got;
    if (f == NULL) {
        perror(path);
        return NULL;
    }
    do {
        if (n == cap) {
            unsigned char *nb;
            cap = cap == 0 ? 65536 : cap * 2;
            nb = realloc(buf, cap);
            if (nb == NULL) {
                fprintf(stderr, "classify: out of memory reading %s\n", path);
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    if (ferror(f)) {
        perror(path);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* The content type a client sends for a file name, as the connector's examples do. */
static const char *content_type_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot != NULL && (strcmp(dot, ".png") == 0 || strcmp(dot, ".PNG") == 0))
        return "image/png";
    return "image/jpeg";
}

int main(int argc, char **argv)
{
    const char *model, *image, *name;
    edgeclass_params *params;
    edgeclass_service *service = NULL;
    edgeclass_result *result = NULL;
    edgeclass_status st;
    unsigned char *body;
    size_t body_len = 0, need = 0, count = 0, i, top[5];
    float probs[5];
    char *text;
    int rc = 1;

    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s MODEL_PATH IMAGE [SERVICE_NAME]\n", argv[0]);
        return 2;
    }
    model = argv[1];
    image = argv[2];
    name = argc == 4 ? argv[3] : "imageClassification";
    if (edgeclass_abi_version() != EDGECLASS_ABI_VERSION) {
        fprintf(stderr, "classify: built for edgeclass ABI %d, the library is ABI %u\n",
                EDGECLASS_ABI_VERSION, edgeclass_abi_version());
        return 1;
    }

    /* The connector definition's Parameters (its documentation's x86_64 example). Its
     * MLFeedbackConnectorConfigId ("MyConfig0") is left out: it names an ML Feedback connector
     * configuration, which this program does not open (edgeclass would warn on every request). */
    params = edgeclass_params_new();
    if (params == NULL)
        return fail("edgeclass_params_new", EDGECLASS_INTERNAL);
    {
        const char *const kv[] = {
            "MLModelDestinationPath", model,
            "MLModelResourceId", "my-ml-resource",
            "MLModelSageMakerJobArn",
            "arn:aws:sagemaker:us-west-2:123456789012:training-job:MyImageClassifier",
            "LocalInferenceServiceName", name,
            "LocalInferenceServiceTimeoutSeconds", "10",
            "LocalInferenceServiceMemoryLimitKB", "500000",
            "GPUAcceleration", "CPU",
        };
        for (i = 0; i < sizeof kv / sizeof kv[0]; i += 2) {
            st = edgeclass_params_set(params, kv[i], kv[i + 1]);
            if (st != EDGECLASS_OK) {
                edgeclass_params_free(params);
                return fail("edgeclass_params_set", st);
            }
        }
    }
    st = edgeclass_service_open(params, &service);
    edgeclass_params_free(params);
    if (st != EDGECLASS_OK)
        return fail("edgeclass_service_open", st);

    body = read_all(image, &body_len);
    if (body == NULL)
        goto done;

    /* invoke_inference_service(AlgoType, ServiceName, ContentType, Body) */
    st = edgeclass_invoke("image-classification", name, content_type_of(image), body, body_len,
                          NULL, &result);
    free(body);
    if (st != EDGECLASS_OK) {
        fail("edgeclass_invoke", st);
        goto done;
    }

    /* resp['Body']: "[p0,p1,...]" (ask for the size with NULL and 0, then copy). */
    st = edgeclass_result_body(result, NULL, 0, &need);
    if (st != EDGECLASS_OK) {
        fail("edgeclass_result_body (size)", st);
        goto done;
    }
    text = malloc(need);
    if (text == NULL) {
        fprintf(stderr, "classify: out of memory\n");
        goto done;
    }
    st = edgeclass_result_body(result, text, need, NULL);
    if (st != EDGECLASS_OK) {
        free(text);
        fail("edgeclass_result_body", st);
        goto done;
    }
    printf("predictions: %s\n", text);
    free(text);

    /* The business logic's part: the most probable classes. */
    st = edgeclass_result_top_k(result, 5, top, probs, &count);
    if (st != EDGECLASS_OK) {
        fail("edgeclass_result_top_k", st);
        goto done;
    }
    for (i = 0; i < count; i++) {
        char label[256];
        st = edgeclass_service_label(service, top[i], label, sizeof label, NULL);
        if (st == EDGECLASS_BUFFER_TOO_SMALL)
            st = EDGECLASS_OK; /* a truncated label is still a label */
        printf("top%zu: class %zu p=%.6f%s%s\n", i + 1, top[i], (double)probs[i],
               st == EDGECLASS_OK ? " label=" : "", st == EDGECLASS_OK ? label : "");
    }
    rc = 0;

done:
    edgeclass_result_free(result);
    edgeclass_service_close(service);
    return rc;
}
