/*
 * Helpers shared by the FFI tests and the stress program: fixture paths, files, parameter sets,
 * status checks that print the library's own message, probabilities, and an in-memory PNG
 * writer for images larger than any fixture.
 */
#ifndef EDGECLASS_FFI_COMMON_H
#define EDGECLASS_FFI_COMMON_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeclass.h"
#include "check.h"
#include "fixtures_gen.h"

typedef struct edgeclass_service_info svc_info;

/* The fixtures directory: $EDGECLASS_FIXTURES, else tests/fixtures (run.sh runs from the repo root). */
static inline const char *fx_dir(void)
{
    const char *d = getenv("EDGECLASS_FIXTURES");
    return (d != NULL && d[0] != '\0') ? d : "tests/fixtures";
}

/* "<fixtures>/<rel>" in a caller buffer; aborts the program on truncation (a test bug). */
static inline const char *fx_path(char *buf, size_t cap, const char *rel)
{
    int n = snprintf(buf, cap, "%s/%s", fx_dir(), rel);
    if (n < 0 || (size_t)n >= cap) {
        fprintf(stderr, "path too long: %s/%s\n", fx_dir(), rel);
        exit(2);
    }
    return buf;
}

static inline int fx_exists(const char *rel)
{
    char p[1024];
    FILE *f = fopen(fx_path(p, sizeof p, rel), "rb");
    if (f == NULL)
        return 0;
    return fclose(f) == 0;
}

/* Read a whole file; NULL (and a message on stderr) on failure. *len may be 0 (empty file):
 * the buffer is then still a valid 1-byte allocation, so NULL always means failure. */
static inline uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    if (f == NULL) {
        fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        size_t got;
        if (n == cap) {
            size_t ncap = cap == 0 ? 65536 : cap * 2;
            uint8_t *nb = realloc(buf, ncap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                fprintf(stderr, "out of memory reading %s\n", path);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        fprintf(stderr, "cannot read %s\n", path);
        free(buf);
        fclose(f);
        return NULL;
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static inline uint8_t *read_fixture(const char *rel, size_t *len)
{
    char p[1024];
    return read_file(fx_path(p, sizeof p, rel), len);
}

static inline int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The content type a client would send, from the file name (as the connector's users do). */
static inline const char *content_type_for(const char *path)
{
    if (ends_with(path, ".png") || ends_with(path, ".PNG"))
        return "image/png";
    return "image/jpeg";
}

/* This thread's last error message (caller buffer, truncated if short). */
static inline const char *last_msg(char *buf, size_t cap)
{
    size_t need = edgeclass_last_error_message(buf, cap);
    (void)need;
    return buf;
}

/* CHECK_STATUS(call, EDGECLASS_X): both names, and the library's message when they differ. */
static inline int check_status_impl(uint32_t got, uint32_t want, const char *expr, const char *file,
                                    int line)
{
    char msg[2048] = "";
    if (got != want && got != EDGECLASS_OK)
        last_msg(msg, sizeof msg);
    return check_record(got == want, expr, file, line, "got %s, want %s%s%s",
                        edgeclass_status_name(got), edgeclass_status_name(want),
                        msg[0] != '\0' ? "; last error: " : "", msg);
}
#define CHECK_STATUS(got, want) \
    check_status_impl((uint32_t)(got), (uint32_t)(want), #got, __FILE__, __LINE__)

/*
 * Parameters: the connector documentation's create-connector-definition example (x86_64) with
 * the model path, name and memory limit filled in. extra: NULL-terminated key, value pairs that
 * are set afterwards (a later value replaces an earlier one; a NULL value removes nothing, so
 * tests that need a key absent build the set themselves).
 */
/* FFI_TIME_SCALE (default 1): how many times slower than native the programs run. cross/run.sh
 * sets it under qemu-user, where a full-size inference takes seconds: the services' timeout and
 * the tests' wall-clock bounds are multiplied by it, the results checked stay the same. */
static inline double time_scale(void)
{
    const char *v = getenv("FFI_TIME_SCALE");
    double s = (v != NULL && v[0] != '\0') ? atof(v) : 1.0;
    return s >= 1.0 ? s : 1.0;
}

static inline edgeclass_params *seed_params(const char *name, const char *model_rel,
                                            const char *memory_kb, const char *const *extra)
{
    char model[1024], timeout[32];
    edgeclass_params *p = edgeclass_params_new();
    const char *const base[] = {
        "MLModelDestinationPath", fx_path(model, sizeof model, model_rel),
        "MLModelResourceId", "my-ml-resource",
        "MLModelSageMakerJobArn",
        "arn:aws:sagemaker:us-west-2:123456789012:training-job:MyImageClassifier",
        "LocalInferenceServiceName", name,
        "LocalInferenceServiceTimeoutSeconds", timeout,
        "LocalInferenceServiceMemoryLimitKB", memory_kb,
        "GPUAcceleration", "CPU",
        "MLFeedbackConnectorConfigId", "MyConfig0",
        NULL,
    };
    size_t i;
    /* 10 s natively; the connector's maximum is 86400. */
    snprintf(timeout, sizeof timeout, "%.0f", time_scale() * 10.0 < 86400.0 ? time_scale() * 10.0 : 86400.0);
    if (!CHECK(p != NULL))
        return NULL;
    for (i = 0; base[i] != NULL; i += 2)
        CHECK_STATUS(edgeclass_params_set(p, base[i], base[i + 1]), EDGECLASS_OK);
    for (i = 0; extra != NULL && extra[i] != NULL; i += 2)
        CHECK_STATUS(edgeclass_params_set(p, extra[i], extra[i + 1]), EDGECLASS_OK);
    return p;
}

/* Open a service from seed_params; the status is returned, *out set on success. */
static inline edgeclass_status open_service(const char *name, const char *model_rel,
                                            const char *memory_kb, const char *const *extra,
                                            edgeclass_service **out)
{
    edgeclass_params *p = seed_params(name, model_rel, memory_kb, extra);
    edgeclass_status st;
    *out = NULL;
    if (p == NULL)
        return EDGECLASS_INTERNAL;
    st = edgeclass_service_open(p, out);
    edgeclass_params_free(p);
    return st;
}

/* Classify a fixture file with the content type of its extension. */
static inline edgeclass_status classify_fixture(const edgeclass_service *svc, const char *rel,
                                                const edgeclass_request *req,
                                                edgeclass_result **out)
{
    size_t len = 0;
    uint8_t *data = read_fixture(rel, &len);
    edgeclass_status st;
    *out = NULL;
    if (!CHECKF(data != NULL, "%s", rel))
        return EDGECLASS_INTERNAL;
    st = edgeclass_classify(svc, content_type_for(rel), data, len, req, out);
    free(data);
    return st;
}

/* The probabilities of a result into buf (cap floats); returns the count, 0 on failure. */
static inline size_t result_probs(const edgeclass_result *r, float *buf, size_t cap)
{
    size_t n = 0;
    if (!CHECK_STATUS(edgeclass_result_probabilities(r, buf, cap, &n), EDGECLASS_OK))
        return 0;
    return n;
}

/* Bit patterns, so "identical" means identical (NaN and -0 included). */
static inline int same_floats(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n * sizeof(float)) == 0;
}

static inline double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0.0;
    size_t i;
    for (i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        if (d < 0)
            d = -d;
        if (d > m)
            m = d;
    }
    return m;
}

/* ---- An in-memory PNG (8-bit RGB, stored deflate blocks), to get images of any size. ---- */

/* CRC-32 (PNG, zlib polynomial), table-driven: the big test images are tens of MB. */
static inline uint32_t png_crc(const uint8_t *p, size_t n, uint32_t crc)
{
    static uint32_t table[256];
    static int ready;
    size_t i;
    if (!ready) {
        uint32_t c, k;
        for (i = 0; i < 256; i++) {
            c = (uint32_t)i;
            for (k = 0; k < 8; k++)
                c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
            table[i] = c;
        }
        ready = 1;
    }
    crc = ~crc;
    for (i = 0; i < n; i++)
        crc = table[(crc ^ p[i]) & 0xffu] ^ (crc >> 8);
    return ~crc;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Append a chunk (length, type, data, CRC) at *pos. */
static inline void png_chunk(uint8_t *out, size_t *pos, const char type[4], const uint8_t *data,
                             size_t n)
{
    uint8_t *start = out + *pos;
    put_be32(start, (uint32_t)n);
    memcpy(start + 4, type, 4);
    if (n > 0)
        memcpy(start + 8, data, n);
    put_be32(start + 8 + n, png_crc(start + 4, n + 4, 0));
    *pos += 12 + n;
}

/*
 * A width x height RGB PNG with a deterministic pattern; NULL if out of memory. The zlib stream
 * uses stored (uncompressed) blocks, so the file is about 3*w*h bytes and decoding it is real
 * work (inflate copies, CRC and Adler-32, unfiltering).
 */
static inline uint8_t *make_png(uint32_t width, uint32_t height, size_t *len)
{
    size_t row = 1 + (size_t)width * 3, raw_len = row * height;
    size_t blocks = (raw_len + 65534) / 65535;
    size_t z_len = 2 + raw_len + 5 * blocks + 4;
    size_t total = 8 + (12 + 13) + (12 + z_len) + 12;
    uint8_t *raw = malloc(raw_len), *z = malloc(z_len), *out = malloc(total);
    uint8_t ihdr[13];
    size_t i, zp = 0, pos = 0;
    uint32_t a = 1, b = 0, x, y;
    if (raw == NULL || z == NULL || out == NULL) {
        free(raw);
        free(z);
        free(out);
        return NULL;
    }
    for (y = 0; y < height; y++) {
        uint8_t *r = raw + (size_t)y * row;
        r[0] = 0; /* filter: none */
        for (x = 0; x < width; x++) {
            r[1 + 3 * x] = (uint8_t)(x * 7 + y * 3);
            r[2 + 3 * x] = (uint8_t)((x ^ y) & 0xff);
            r[3 + 3 * x] = (uint8_t)(x / 3 + y / 5);
        }
    }
    z[zp++] = 0x78;
    z[zp++] = 0x01;
    for (i = 0; i < raw_len; i += 65535) {
        size_t n = raw_len - i < 65535 ? raw_len - i : 65535;
        z[zp++] = (uint8_t)(i + n == raw_len ? 1 : 0);
        z[zp++] = (uint8_t)(n & 0xff);
        z[zp++] = (uint8_t)(n >> 8);
        z[zp++] = (uint8_t)(~n & 0xff);
        z[zp++] = (uint8_t)((~n >> 8) & 0xff);
        memcpy(z + zp, raw + i, n);
        zp += n;
    }
    for (i = 0; i < raw_len;) {
        /* 5552 bytes is the most that cannot overflow 32 bits before the modulo (zlib's NMAX). */
        size_t end = raw_len - i < 5552 ? raw_len : i + 5552;
        for (; i < end; i++) {
            a += raw[i];
            b += a;
        }
        a %= 65521u;
        b %= 65521u;
    }
    put_be32(z + zp, (b << 16) | a);
    zp += 4;
    memcpy(out, "\x89PNG\r\n\x1a\n", 8);
    pos = 8;
    put_be32(ihdr, width);
    put_be32(ihdr + 4, height);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 2;  /* RGB */
    ihdr[10] = 0; /* deflate */
    ihdr[11] = 0; /* adaptive filtering */
    ihdr[12] = 0; /* not interlaced */
    png_chunk(out, &pos, "IHDR", ihdr, sizeof ihdr);
    png_chunk(out, &pos, "IDAT", z, zp);
    png_chunk(out, &pos, "IEND", NULL, 0);
    free(raw);
    free(z);
    *len = pos;
    return out;
}

#endif
