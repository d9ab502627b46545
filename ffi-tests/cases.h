/*
 * The manifest of the C tests: every fixture a test uses (models, images), what each must give,
 * named once here. The expected answers themselves come from the fixtures (MXNet's goldens and
 * the hostile models' message patterns, through the generated fixtures_gen.h); the codes are the
 * fixtures' READMEs' (images/README.md, hostile-models/README.md), as the Rust suites have them.
 *
 * What decoding and the models do with every fixture is the Rust suites' (image_decode.rs,
 * end_to_end.rs, hostile_models.rs, service.rs); the C tests take one case per status code and a
 * few known-good images, to check the ABI's contract around them.
 */
#ifndef EDGECLASS_FFI_CASES_H
#define EDGECLASS_FFI_CASES_H

#include <stdint.h>

#include "edgeclass.h"

/* Models. */
#define TINY "tiny-trained"     /* the trained digits model: 3x28x28, 10 classes, labels.txt */
#define R50SLIM "slim/r50-slim" /* a real bottleneck graph at 64x64: slow enough to cancel */
#define NOLABELS "slim/r18-slim" /* a model without labels.txt */
#define R50FULL "full/resnet50-224" /* made by scripts/make-full-models.sh; may be absent */
#define R50FULL_PARAMS "full/resnet50-224/image-classification-0000.params"
#define BIG "500000" /* the documentation example's LocalInferenceServiceMemoryLimitKB */

/* Images with a golden (fx_case() finds it in fixtures_gen.h). */
#define DIGIT_PNG "tiny-trained/images/digit07_label3_28x28.png"       /* 784 pixels */
#define DIGIT_PNG_SMALL "tiny-trained/images/digit11_label5_14x14.png"
#define DIGIT_PNG_56 "tiny-trained/images/digit13_label6_56x56.png"
#define DIGIT_JPEG "tiny-trained/images/digit00_label0_28x28.jpg"
#define DIGIT_JPEG_20 "tiny-trained/images/digit04_label2_20x20.jpg" /* 400 pixels */
/* A 640x427 JPEG: more pixels than a small image budget. */
#define PHOTO "photos/china.jpg"
#define PHOTO_W 640u
#define PHOTO_H 427u
/* Bytes of one format under the other's name. */
#define PNG_NAMED_JPG "images/png_content_named_jpg.jpg"
#define JPEG_NAMED_PNG "images/jpeg_content_named_png.png"
#define NOT_AN_IMAGE "images/random_bytes.jpg"

/* One fixture per status code an image or a model gives through the ABI: the code, and a piece
 * of the message (NULL: the hostile model's own patterns from expected.json). */
typedef struct {
    const char *fixture;
    uint32_t code;
    const char *message;
} code_case;

static const code_case image_code_cases[] = {
    {NOT_AN_IMAGE, EDGECLASS_UNSUPPORTED_IMAGE_FORMAT, "0x"},
    {"images/png_truncated.png", EDGECLASS_CORRUPT_IMAGE, "PNG"},
    /* The default decoder (zune-jpeg) has no arithmetic decoding; cv2 has. */
    {"images/jpeg_arithmetic.jpg", EDGECLASS_UNSUPPORTED_IMAGE_FEATURE, "arithmetic"},
    {"images/jpeg_huge_header_30000x30000.jpg", EDGECLASS_IMAGE_TOO_LARGE, "30000x30000"},
};
#define IMAGE_CODE_CASES (sizeof image_code_cases / sizeof image_code_cases[0])

static const code_case model_code_cases[] = {
    {"hostile-models/params-bad-magic", EDGECLASS_PARAMS_FORMAT, NULL},
    {"hostile-models/symbol-not-json", EDGECLASS_SYMBOL_FORMAT, NULL},
    {"hostile-models/symbol-unknown-op", EDGECLASS_UNSUPPORTED_OPERATOR, NULL},
    {"hostile-models/weights-shape-mismatch", EDGECLASS_MODEL_MISMATCH, NULL},
    {"hostile-models/missing-params", EDGECLASS_MODEL_NOT_FOUND, NULL},
    {"no/such/dir", EDGECLASS_MODEL_NOT_FOUND, "no/such/dir"},
    {NOT_AN_IMAGE, EDGECLASS_MODEL_NOT_FOUND, NULL}, /* a file that is no archive */
};
#define MODEL_CODE_CASES (sizeof model_code_cases / sizeof model_code_cases[0])

#endif
