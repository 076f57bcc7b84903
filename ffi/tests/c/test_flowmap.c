/*
 * C test suite for libflowmap, driven by ffi/tests/c_suite.rs.
 *
 * Compiled as C99 (-std=c99 -Wall -Wextra -Werror -pedantic) and as C++17, linked against
 * the shared and the static library, and run once under valgrind.
 *
 * Usage: test_flowmap FIXTURE_DIR
 *
 * FIXTURE_DIR holds model files and the outputs the Rust runtime computed for the same inputs
 * (raw little-endian f32 arrays), written by c_suite.rs. The constants below must match the
 * ones there. Results must agree bit for bit.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowmap.h"

/* ---- constants shared with c_suite.rs ------------------------------------------------ */
#define MAP_S 0.25f
#define MAP_T 0.75f
#define VEL_T 0.5f
#define SEED 7u
#define THREADS 8
#define THREAD_SEED_BASE 1000u
#define THREAD_STEPS 2
#define THREAD_REPEATS 25
static const float GRID[] = {0.0f, 0.4f, 0.4f, 1.0f};
#define GRID_LEN (sizeof GRID / sizeof GRID[0])

struct model_case {
    const char *prefix; /* file prefix: "<prefix>_model.safetensors", "<prefix>_map.f32", ... */
    size_t dim;
    size_t batch;
    size_t rank;
    size_t shape[4];
};

static const struct model_case CASES[] = {
    {"a", 2, 37, 1, {2, 0, 0, 0}},
    {"b", 6, 5, 3, {1, 2, 3, 0}},
};
#define NUM_CASES (sizeof CASES / sizeof CASES[0])

/* ---- minimal test harness ------------------------------------------------------------ */
static int passed = 0;
static int failed = 0;
static const char *fixture_dir = ".";

#define CHECK(cond)                                                                         \
    do {                                                                                    \
        if (cond) {                                                                         \
            passed++;                                                                       \
        } else {                                                                            \
            failed++;                                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);        \
        }                                                                                   \
    } while (0)

#define CHECK_STATUS(call, expected)                                                        \
    do {                                                                                    \
        flowmap_status st_ = (call);                                                        \
        flowmap_status want_ = (expected);                                                  \
        if (st_ == want_) {                                                                 \
            passed++;                                                                       \
        } else {                                                                            \
            failed++;                                                                       \
            fprintf(stderr, "%s:%d: %s\n    returned %s, expected %s; last error: \"%s\"\n", \
                    __FILE__, __LINE__, #call, flowmap_status_name(st_),                    \
                    flowmap_status_name(want_), flowmap_last_error());                      \
        }                                                                                   \
    } while (0)

/* An error must leave a message, a success must clear it. */
#define CHECK_ERROR(call, expected)                                                         \
    do {                                                                                    \
        CHECK_STATUS(call, expected);                                                       \
        CHECK(flowmap_last_error()[0] != '\0');                                             \
    } while (0)

#define CHECK_OK(call)                                                                      \
    do {                                                                                    \
        CHECK_STATUS(call, FLOWMAP_OK);                                                     \
        CHECK(flowmap_last_error()[0] == '\0');                                             \
    } while (0)

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static char *fixture_path(const char *prefix, const char *name) {
    size_t n = strlen(fixture_dir) + strlen(prefix) + strlen(name) + 3;
    char *p = (char *)xmalloc(n);
    if (prefix[0])
        snprintf(p, n, "%s/%s_%s", fixture_dir, prefix, name);
    else
        snprintf(p, n, "%s/%s", fixture_dir, name);
    return p;
}

/* Reads a whole fixture file; exits if it is missing (a harness bug, not a test failure). */
static unsigned char *read_fixture(const char *prefix, const char *name, size_t *len) {
    char *path = fixture_path(prefix, name);
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long size;
    if (!f || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "cannot read fixture %s: %s\n", path, strerror(errno));
        exit(2);
    }
    buf = (unsigned char *)xmalloc((size_t)size + 1);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "short read on %s\n", path);
        exit(2);
    }
    buf[size] = 0;
    fclose(f);
    free(path);
    *len = (size_t)size;
    return buf;
}

/* Reads a raw f32 fixture of exactly n floats. */
static float *read_floats(const char *prefix, const char *name, size_t n) {
    size_t len;
    unsigned char *bytes = read_fixture(prefix, name, &len);
    float *out;
    if (len != n * sizeof(float)) {
        fprintf(stderr, "fixture %s_%s: %zu bytes, expected %zu\n", prefix, name, len,
                n * sizeof(float));
        exit(2);
    }
    out = (float *)xmalloc(len);
    memcpy(out, bytes, len);
    free(bytes);
    return out;
}

/* Bitwise comparison (NaN-safe, distinguishes -0.0). */
static int same_bits(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof(float)) == 0;
}

static float *filled(size_t n, float v) {
    float *p = (float *)xmalloc(n * sizeof(float));
    size_t i;
    for (i = 0; i < n; i++)
        p[i] = v;
    return p;
}

static int all_equal(const float *p, size_t n, float v) {
    size_t i;
    for (i = 0; i < n; i++)
        if (memcmp(&p[i], &v, sizeof v) != 0)
            return 0;
    return 1;
}

static flowmap_model *load_case(const struct model_case *c) {
    char *path = fixture_path(c->prefix, "model.safetensors");
    flowmap_model *m = NULL;
    CHECK_OK(flowmap_model_load(path, &m));
    free(path);
    if (!m) {
        fprintf(stderr, "cannot continue without model %s\n", c->prefix);
        exit(1);
    }
    return m;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_version_and_names(void) {
    char buf[64];
    int i;
    snprintf(buf, sizeof buf, "%d.%d.%d", FLOWMAP_VERSION_MAJOR, FLOWMAP_VERSION_MINOR,
             FLOWMAP_VERSION_PATCH);
    CHECK(strcmp(flowmap_version(), FLOWMAP_VERSION_STRING) == 0);
    CHECK(strncmp(FLOWMAP_VERSION_STRING, buf, strlen(buf)) == 0);
    CHECK(flowmap_supported_format_version() >= 2);

    CHECK(strcmp(flowmap_status_name(FLOWMAP_OK), "FLOWMAP_OK") == 0);
    CHECK(strcmp(flowmap_status_name(FLOWMAP_ERR_NULL_POINTER), "FLOWMAP_ERR_NULL_POINTER") == 0);
    CHECK(strcmp(flowmap_status_name(FLOWMAP_ERR_PANIC), "FLOWMAP_ERR_PANIC") == 0);
    CHECK(strcmp(flowmap_status_name(FLOWMAP_ERR_UNKNOWN), "FLOWMAP_ERR_UNKNOWN") == 0);
    CHECK(strcmp(flowmap_status_name(-1), "FLOWMAP_STATUS_UNRECOGNIZED") == 0);
    CHECK(strcmp(flowmap_status_name(INT32_MAX), "FLOWMAP_STATUS_UNRECOGNIZED") == 0);
    for (i = -3; i < 64; i++) {
        const char *name = flowmap_status_name(i);
        CHECK(name != NULL && strncmp(name, "FLOWMAP_", 8) == 0);
    }
    /* The numeric values are ABI: pin them. */
    CHECK(FLOWMAP_OK == 0 && FLOWMAP_ERR_NULL_POINTER == 1 && FLOWMAP_ERR_INVALID_ARGUMENT == 2);
    CHECK(FLOWMAP_ERR_SIZE_OVERFLOW == 3 && FLOWMAP_ERR_BUFFER_TOO_SMALL == 4);
    CHECK(FLOWMAP_ERR_OUT_OF_MEMORY == 5 && FLOWMAP_ERR_IO == 6);
    CHECK(FLOWMAP_ERR_MALFORMED_FILE == 7 && FLOWMAP_ERR_UNSUPPORTED_VERSION == 8);
    CHECK(FLOWMAP_ERR_INVALID_MODEL == 9 && FLOWMAP_ERR_SHAPE_MISMATCH == 10);
    CHECK(FLOWMAP_ERR_NON_FINITE == 11 && FLOWMAP_ERR_NON_FINITE_OUTPUT == 12);
    CHECK(FLOWMAP_ERR_INVALID_GRID == 13 && FLOWMAP_ERR_PANIC == 14 && FLOWMAP_ERR_UNKNOWN == 15);
}

static void test_queries(const struct model_case *c, const flowmap_model *m) {
    size_t dims[4] = {99, 99, 99, 99};
    size_t rank = 0, len = 0, i;
    size_t meta_len;
    char *expected_meta = (char *)read_fixture(c->prefix, "meta.json", &meta_len);
    char *buf;

    CHECK(flowmap_model_dim(m) == c->dim);
    /* MLP files are format 1; the library reads 1 up to its newest version. */
    CHECK(flowmap_model_format_version(m) == 1);
    CHECK(flowmap_model_format_version(m) <= flowmap_supported_format_version());

    CHECK_OK(flowmap_model_data_shape(m, NULL, 0, &rank)); /* size query */
    CHECK(rank == c->rank);
    rank = 0;
    CHECK_OK(flowmap_model_data_shape(m, dims, 4, &rank));
    CHECK(rank == c->rank);
    for (i = 0; i < c->rank; i++)
        CHECK(dims[i] == c->shape[i]);
    if (c->rank > 1) {
        size_t small[2] = {77, 77};
        rank = 0;
        CHECK_ERROR(flowmap_model_data_shape(m, small, c->rank - 1, &rank),
                    FLOWMAP_ERR_BUFFER_TOO_SMALL);
        CHECK(rank == c->rank);
        CHECK(small[0] == 77 && small[1] == 77); /* untouched */
    }

    /* Pixels: b is a 1x2x3 image (no pixel_range: [0, 1] maps to 0..255); a is not an image. */
    {
        static const float data[12] = {-0.5f, 0.0f, 0.25f, 0.5f, 1.0f, 2.0f,
                                       0.1f,  0.2f, 0.4f,  0.6f, 0.8f, 0.95f};
        static const unsigned char want[12] = {0, 0, 64, 128, 255, 255, 26, 51, 102, 153, 204, 242};
        unsigned char px[12];
        float bad[6] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
        memset(px, 7, sizeof px);
        if (c->rank == 3) {
            CHECK_OK(flowmap_model_to_pixels(m, data, 2, px, 12));
            CHECK(memcmp(px, want, 12) == 0);
            memset(px, 7, sizeof px);
            CHECK_ERROR(flowmap_model_to_pixels(m, data, 2, px, 11), FLOWMAP_ERR_BUFFER_TOO_SMALL);
            bad[3] = NAN;
            CHECK_ERROR(flowmap_model_to_pixels(m, bad, 1, px, 6), FLOWMAP_ERR_NON_FINITE);
            CHECK(px[0] == 7 && px[5] == 7); /* untouched on error */
        } else {
            CHECK_ERROR(flowmap_model_to_pixels(m, data, 1, px, c->dim), FLOWMAP_ERR_INVALID_ARGUMENT);
        }
        CHECK_ERROR(flowmap_model_to_pixels(m, data, 0, px, 0), FLOWMAP_ERR_INVALID_ARGUMENT);
        CHECK_ERROR(flowmap_model_to_pixels(NULL, data, 1, px, c->dim), FLOWMAP_ERR_NULL_POINTER);
        CHECK_ERROR(flowmap_model_to_pixels(m, NULL, 1, px, c->dim), FLOWMAP_ERR_NULL_POINTER);
        CHECK_ERROR(flowmap_model_to_pixels(m, data, 1, NULL, c->dim), FLOWMAP_ERR_NULL_POINTER);
    }

    CHECK_OK(flowmap_model_metadata_json(m, NULL, 0, &len));
    CHECK(len == meta_len);
    buf = (char *)xmalloc(len + 1);
    memset(buf, 'x', len + 1);
    CHECK_ERROR(flowmap_model_metadata_json(m, buf, len, &len), FLOWMAP_ERR_BUFFER_TOO_SMALL);
    CHECK(len == meta_len && buf[0] == 'x' && buf[len] == 'x');
    CHECK_OK(flowmap_model_metadata_json(m, buf, len + 1, &len));
    CHECK(len == meta_len && buf[len] == '\0' && strcmp(buf, expected_meta) == 0);
    free(buf);
    free(expected_meta);
}

/* Everything the Rust runtime computed for this model, compared bit for bit. */
static void test_results(const struct model_case *c, const flowmap_model *m, flowmap_workspace *ws) {
    size_t n = c->batch * c->dim;
    float *x = read_floats(c->prefix, "x.f32", n);
    float *noise = read_floats(c->prefix, "noise.f32", n);
    float *out = filled(n, -1.0f);
    float *expected;

    expected = read_floats(c->prefix, "map.f32", n);
    CHECK_OK(flowmap_map(m, ws, MAP_S, MAP_T, x, c->batch, out));
    CHECK(same_bits(out, expected, n));
    memcpy(out, x, n * sizeof(float)); /* in place */
    CHECK_OK(flowmap_map(m, ws, MAP_S, MAP_T, out, c->batch, out));
    CHECK(same_bits(out, expected, n));
    free(expected);

    expected = read_floats(c->prefix, "velocity.f32", n);
    CHECK_OK(flowmap_velocity(m, ws, VEL_T, x, c->batch, out));
    CHECK(same_bits(out, expected, n));
    free(expected);

    expected = read_floats(c->prefix, "sample1.f32", n);
    CHECK_OK(flowmap_sample(m, ws, 1, noise, c->batch, out));
    CHECK(same_bits(out, expected, n));
    free(expected);

    expected = read_floats(c->prefix, "sample2.f32", n);
    CHECK_OK(flowmap_sample(m, ws, 2, noise, c->batch, out));
    CHECK(same_bits(out, expected, n));
    memcpy(out, noise, n * sizeof(float)); /* in place */
    CHECK_OK(flowmap_sample(m, ws, 2, out, c->batch, out));
    CHECK(same_bits(out, expected, n));
    free(expected);

    expected = read_floats(c->prefix, "sample_grid.f32", n);
    CHECK_OK(flowmap_sample_grid(m, ws, GRID, GRID_LEN, noise, c->batch, out));
    CHECK(same_bits(out, expected, n));
    free(expected);

    expected = read_floats(c->prefix, "seeded1.f32", n);
    CHECK_OK(flowmap_sample_seeded(m, ws, 1, SEED, c->batch, out));
    CHECK(same_bits(out, expected, n));
    free(expected);

    expected = read_floats(c->prefix, "seeded2.f32", n);
    CHECK_OK(flowmap_sample_seeded(m, ws, 2, SEED, c->batch, out));
    CHECK(same_bits(out, expected, n));
    free(expected);

    expected = read_floats(c->prefix, "seeded_grid.f32", n);
    CHECK_OK(flowmap_sample_seeded_grid(m, ws, GRID, GRID_LEN, SEED, c->batch, out));
    CHECK(same_bits(out, expected, n));
    free(expected);

    free(x);
    free(noise);
    free(out);
}

static void test_load_bytes(const struct model_case *c) {
    size_t len, n = c->batch * c->dim;
    unsigned char *bytes = read_fixture(c->prefix, "model.safetensors", &len);
    flowmap_model *m = NULL;
    flowmap_workspace *ws = NULL;
    float *out = filled(n, 0.0f);
    float *expected = read_floats(c->prefix, "seeded2.f32", n);

    CHECK_OK(flowmap_model_load_bytes(bytes, len, &m));
    memset(bytes, 0, len); /* the model must not depend on the buffer any more */
    free(bytes);
    CHECK(m != NULL);
    if (!m)
        return;
    CHECK(flowmap_model_dim(m) == c->dim);
    CHECK_OK(flowmap_workspace_new(m, 1, &ws)); /* smaller than the batch: grows */
    CHECK_OK(flowmap_sample_seeded(m, ws, 2, SEED, c->batch, out));
    CHECK(same_bits(out, expected, n));
    test_results(c, m, ws);
    flowmap_workspace_free(ws);
    flowmap_model_free(m);
    free(out);
    free(expected);
}

static void test_load_errors(void) {
    static const struct {
        const char *file;
        flowmap_status status;
        const char *message_part;
    } bad[] = {
        {"does_not_exist.safetensors", FLOWMAP_ERR_IO, "does_not_exist"},
        {"malformed.bin", FLOWMAP_ERR_MALFORMED_FILE, ""},
        {"truncated.safetensors", FLOWMAP_ERR_MALFORMED_FILE, ""},
        {"empty.bin", FLOWMAP_ERR_MALFORMED_FILE, ""},
        {"no_metadata.safetensors", FLOWMAP_ERR_MALFORMED_FILE, ""},
        {"unsupported_version.safetensors", FLOWMAP_ERR_UNSUPPORTED_VERSION, "999"},
        {"invalid_model.safetensors", FLOWMAP_ERR_INVALID_MODEL, "sigma"},
        {"shape_mismatch.safetensors", FLOWMAP_ERR_SHAPE_MISMATCH, "layers.0.weight"},
        {"nonfinite_weight.safetensors", FLOWMAP_ERR_NON_FINITE, "layers.1.bias"},
    };
    size_t i;
    flowmap_model *sentinel = (flowmap_model *)&passed; /* never dereferenced */
    flowmap_model *m;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *path = fixture_path("", bad[i].file);
        m = sentinel;
        CHECK_ERROR(flowmap_model_load(path, &m), bad[i].status);
        CHECK(m == sentinel); /* out-parameter untouched on failure */
        if (strstr(flowmap_last_error(), bad[i].message_part) == NULL) {
            failed++;
            fprintf(stderr, "%s: message \"%s\" lacks \"%s\"\n", bad[i].file,
                    flowmap_last_error(), bad[i].message_part);
        }
        if (strcmp(bad[i].file, "does_not_exist.safetensors") != 0) {
            size_t len;
            unsigned char *bytes = read_fixture("", bad[i].file, &len);
            m = sentinel;
            CHECK_ERROR(flowmap_model_load_bytes(bytes, len, &m), bad[i].status);
            CHECK(m == sentinel);
            free(bytes);
        }
        free(path);
    }

    m = sentinel;
    CHECK_ERROR(flowmap_model_load(NULL, &m), FLOWMAP_ERR_NULL_POINTER);
    CHECK(m == sentinel);
    CHECK_ERROR(flowmap_model_load("x", NULL), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_model_load("", &m), FLOWMAP_ERR_IO);
    CHECK_ERROR(flowmap_model_load(fixture_dir, &m), FLOWMAP_ERR_IO); /* a directory */
    CHECK_ERROR(flowmap_model_load_bytes(NULL, 0, &m), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_model_load_bytes(NULL, 100, &m), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_model_load_bytes((const uint8_t *)"abc", 3, NULL), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_model_load_bytes((const uint8_t *)"abc", 0, &m), FLOWMAP_ERR_MALFORMED_FILE);
    CHECK_ERROR(flowmap_model_load_bytes((const uint8_t *)"abc", SIZE_MAX, &m),
                FLOWMAP_ERR_SIZE_OVERFLOW);
    CHECK(m == sentinel);

    /* NULL handles are fine to free. */
    flowmap_model_free(NULL);
    flowmap_workspace_free(NULL);
}

static void test_query_errors(const flowmap_model *m) {
    size_t dims[4], rank = 12345, len = 12345;
    char buf[8];

    CHECK(flowmap_model_dim(NULL) == 0);
    CHECK(flowmap_last_error()[0] != '\0');
    CHECK(flowmap_model_dim(m) > 0);
    CHECK(flowmap_last_error()[0] == '\0');
    CHECK(flowmap_model_format_version(NULL) == 0);
    CHECK(flowmap_last_error()[0] != '\0');

    CHECK_ERROR(flowmap_model_data_shape(NULL, dims, 4, &rank), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_model_data_shape(m, dims, 4, NULL), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_model_data_shape(m, NULL, 4, &rank), FLOWMAP_ERR_NULL_POINTER);
    CHECK(rank == 12345);

    CHECK_ERROR(flowmap_model_metadata_json(NULL, buf, sizeof buf, &len), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_model_metadata_json(m, buf, sizeof buf, NULL), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_model_metadata_json(m, NULL, 10, &len), FLOWMAP_ERR_NULL_POINTER);
    CHECK(len == 12345);
    CHECK_ERROR(flowmap_model_metadata_json(m, buf, sizeof buf, &len), FLOWMAP_ERR_BUFFER_TOO_SMALL);
    CHECK(len > sizeof buf);
}

static void test_eval_errors(const struct model_case *c, const flowmap_model *m) {
    size_t n = c->batch * c->dim;
    flowmap_workspace *ws = NULL;
    flowmap_workspace *ws_sentinel = (flowmap_workspace *)&failed; /* never dereferenced */
    flowmap_workspace *w;
    float *x = read_floats(c->prefix, "x.f32", n);
    float *out = filled(n, 42.0f);
    const size_t huge = SIZE_MAX / c->dim + 1;    /* batch * dim overflows size_t */
    const size_t too_big = SIZE_MAX / 4 / c->dim; /* fits size_t, not the address space */
    const float nan = (float)NAN;
    const float inf = (float)INFINITY;
    const float bad_order[] = {0.0f, 0.6f, 0.5f, 1.0f};
    const float bad_range[] = {0.0f, 1.5f};
    float bad_value[3] = {0.0f, 0.5f, 1.0f};

    /* workspace creation */
    w = ws_sentinel;
    CHECK_ERROR(flowmap_workspace_new(NULL, 4, &w), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_workspace_new(m, 4, NULL), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_workspace_new(m, 0, &w), FLOWMAP_ERR_INVALID_ARGUMENT);
    CHECK_ERROR(flowmap_workspace_new(m, huge, &w), FLOWMAP_ERR_SIZE_OVERFLOW);
    CHECK(w == ws_sentinel);
    CHECK_OK(flowmap_workspace_new(m, c->batch, &ws));

    /* map: NULLs, batch 0, overflowing batch, non-finite times and inputs */
    CHECK_ERROR(flowmap_map(NULL, ws, 0.0f, 1.0f, x, c->batch, out), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_map(m, NULL, 0.0f, 1.0f, x, c->batch, out), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_map(m, ws, 0.0f, 1.0f, NULL, c->batch, out), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_map(m, ws, 0.0f, 1.0f, x, c->batch, NULL), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_map(m, ws, 0.0f, 1.0f, x, 0, out), FLOWMAP_ERR_INVALID_ARGUMENT);
    CHECK_ERROR(flowmap_map(m, ws, 0.0f, 1.0f, x, huge, out), FLOWMAP_ERR_SIZE_OVERFLOW);
    CHECK_ERROR(flowmap_map(m, ws, 0.0f, 1.0f, x, SIZE_MAX, out), FLOWMAP_ERR_SIZE_OVERFLOW);
    CHECK_ERROR(flowmap_map(m, ws, 0.0f, 1.0f, x, too_big, out), FLOWMAP_ERR_SIZE_OVERFLOW);
    CHECK_ERROR(flowmap_map(m, ws, nan, 1.0f, x, c->batch, out), FLOWMAP_ERR_NON_FINITE);
    CHECK_ERROR(flowmap_map(m, ws, 0.0f, inf, x, c->batch, out), FLOWMAP_ERR_NON_FINITE);
    x[n - 1] = nan;
    CHECK_ERROR(flowmap_map(m, ws, 0.0f, 1.0f, x, c->batch, out), FLOWMAP_ERR_NON_FINITE);
    CHECK_ERROR(flowmap_velocity(m, ws, 0.5f, x, c->batch, out), FLOWMAP_ERR_NON_FINITE);
    CHECK_ERROR(flowmap_sample(m, ws, 1, x, c->batch, out), FLOWMAP_ERR_NON_FINITE);
    x[n - 1] = 0.0f;
    CHECK(all_equal(out, n, 42.0f)); /* outputs written only on success */

    /* velocity */
    CHECK_ERROR(flowmap_velocity(NULL, ws, 0.5f, x, c->batch, out), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_velocity(m, NULL, 0.5f, x, c->batch, out), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_velocity(m, ws, 0.5f, NULL, c->batch, out), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_velocity(m, ws, 0.5f, x, c->batch, NULL), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_velocity(m, ws, 0.5f, x, 0, out), FLOWMAP_ERR_INVALID_ARGUMENT);
    CHECK_ERROR(flowmap_velocity(m, ws, 0.5f, x, huge, out), FLOWMAP_ERR_SIZE_OVERFLOW);
    CHECK_ERROR(flowmap_velocity(m, ws, nan, x, c->batch, out), FLOWMAP_ERR_NON_FINITE);

    /* sample from noise */
    CHECK_ERROR(flowmap_sample(NULL, ws, 1, x, c->batch, out), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_sample(m, NULL, 1, x, c->batch, out), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_sample(m, ws, 1, NULL, c->batch, out), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_sample(m, ws, 1, x, c->batch, NULL), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_sample(m, ws, 0, x, c->batch, out), FLOWMAP_ERR_INVALID_GRID);
    CHECK_ERROR(flowmap_sample(m, ws, 1, x, 0, out), FLOWMAP_ERR_INVALID_ARGUMENT);
    CHECK_ERROR(flowmap_sample(m, ws, 1, x, huge, out), FLOWMAP_ERR_SIZE_OVERFLOW);

    /* custom grids */
    CHECK_ERROR(flowmap_sample_grid(m, ws, NULL, 2, x, c->batch, out), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_sample_grid(m, ws, GRID, 0, x, c->batch, out), FLOWMAP_ERR_INVALID_GRID);
    CHECK_ERROR(flowmap_sample_grid(m, ws, GRID, 1, x, c->batch, out), FLOWMAP_ERR_INVALID_GRID);
    CHECK_ERROR(flowmap_sample_grid(m, ws, bad_order, 4, x, c->batch, out), FLOWMAP_ERR_INVALID_GRID);
    CHECK_ERROR(flowmap_sample_grid(m, ws, bad_range, 2, x, c->batch, out), FLOWMAP_ERR_INVALID_GRID);
    bad_value[1] = nan;
    CHECK_ERROR(flowmap_sample_grid(m, ws, bad_value, 3, x, c->batch, out), FLOWMAP_ERR_INVALID_GRID);
    bad_value[1] = inf;
    CHECK_ERROR(flowmap_sample_grid(m, ws, bad_value, 3, x, c->batch, out), FLOWMAP_ERR_INVALID_GRID);
    CHECK_ERROR(flowmap_sample_grid(m, ws, GRID, SIZE_MAX, x, c->batch, out),
                FLOWMAP_ERR_SIZE_OVERFLOW);

    /* seeded */
    CHECK_ERROR(flowmap_sample_seeded(NULL, ws, 1, SEED, c->batch, out), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_sample_seeded(m, NULL, 1, SEED, c->batch, out), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_sample_seeded(m, ws, 1, SEED, c->batch, NULL), FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_sample_seeded(m, ws, 0, SEED, c->batch, out), FLOWMAP_ERR_INVALID_GRID);
    CHECK_ERROR(flowmap_sample_seeded(m, ws, 1, SEED, 0, out), FLOWMAP_ERR_INVALID_ARGUMENT);
    CHECK_ERROR(flowmap_sample_seeded(m, ws, 1, SEED, huge, out), FLOWMAP_ERR_SIZE_OVERFLOW);
    CHECK_ERROR(flowmap_sample_seeded(m, ws, 1, SEED, too_big, out), FLOWMAP_ERR_SIZE_OVERFLOW);
    CHECK_ERROR(flowmap_sample_seeded_grid(m, ws, NULL, 2, SEED, c->batch, out),
                FLOWMAP_ERR_NULL_POINTER);
    CHECK_ERROR(flowmap_sample_seeded_grid(m, ws, bad_order, 4, SEED, c->batch, out),
                FLOWMAP_ERR_INVALID_GRID);
    CHECK_ERROR(flowmap_sample_seeded_grid(m, ws, GRID, 1, SEED, c->batch, out),
                FLOWMAP_ERR_INVALID_GRID);
    CHECK(all_equal(out, n, 42.0f)); /* still untouched after all the failures */

    /* A failure leaves the workspace usable. */
    CHECK_OK(flowmap_sample_seeded(m, ws, 1, SEED, c->batch, out));
    CHECK(!all_equal(out, n, 42.0f));

    flowmap_workspace_free(ws);
    free(x);
    free(out);
}

static void test_last_error_copy(void) {
    char small[8], big[512];
    size_t len, full;
    CHECK_ERROR(flowmap_model_load(NULL, NULL), FLOWMAP_ERR_NULL_POINTER);
    full = strlen(flowmap_last_error());
    CHECK(full > sizeof small);
    CHECK(flowmap_last_error_copy(NULL, 0) == full);
    memset(small, 'x', sizeof small);
    len = flowmap_last_error_copy(small, sizeof small);
    CHECK(len == full);
    CHECK(small[sizeof small - 1] == '\0');
    CHECK(strncmp(small, flowmap_last_error(), sizeof small - 1) == 0);
    len = flowmap_last_error_copy(big, sizeof big);
    CHECK(len == full && strcmp(big, flowmap_last_error()) == 0);
    CHECK(flowmap_last_error_copy(big, 1) == full && big[0] == '\0');
}

/* The last error is per thread. */
static void *error_thread(void *arg) {
    int *ok = (int *)arg;
    *ok = flowmap_last_error()[0] == '\0';
    *ok = *ok && flowmap_model_load(NULL, NULL) == FLOWMAP_ERR_NULL_POINTER;
    *ok = *ok && strstr(flowmap_last_error(), "path") != NULL;
    return NULL;
}

static void test_last_error_threads(void) {
    pthread_t th;
    int ok = 0;
    const char *before;
    CHECK_ERROR(flowmap_workspace_new(NULL, 1, NULL), FLOWMAP_ERR_NULL_POINTER);
    before = flowmap_last_error();
    CHECK(strstr(before, "model") != NULL);
    CHECK(pthread_create(&th, NULL, error_thread, &ok) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(ok);
    CHECK(strstr(flowmap_last_error(), "model") != NULL);
}

/* ---- concurrent sampling: 8 threads, one shared const model ---------------------------- */
struct thread_job {
    const flowmap_model *model;
    const struct model_case *c;
    unsigned index;
    const float *expected;      /* what the Rust runtime computed for this thread's seed */
    const float *single_thread; /* what this program computed before starting threads */
    const float *noise;
    const float *noise_expected;
    int mismatches;
    int errors;
};

static void *sampling_thread(void *arg) {
    struct thread_job *job = (struct thread_job *)arg;
    size_t n = job->c->batch * job->c->dim;
    float *out = (float *)xmalloc(n * sizeof(float));
    flowmap_workspace *ws = NULL;
    int r;
    if (flowmap_workspace_new(job->model, job->c->batch, &ws) != FLOWMAP_OK) {
        job->errors++;
        free(out);
        return NULL;
    }
    for (r = 0; r < THREAD_REPEATS; r++) {
        uint64_t seed = THREAD_SEED_BASE + job->index;
        if (flowmap_sample_seeded(job->model, ws, THREAD_STEPS, seed, job->c->batch, out) !=
            FLOWMAP_OK)
            job->errors++;
        else if (!same_bits(out, job->expected, n) || !same_bits(out, job->single_thread, n))
            job->mismatches++;
        if (flowmap_sample(job->model, ws, 2, job->noise, job->c->batch, out) != FLOWMAP_OK)
            job->errors++;
        else if (!same_bits(out, job->noise_expected, n))
            job->mismatches++;
    }
    flowmap_workspace_free(ws);
    free(out);
    return NULL;
}

static void test_threads(const struct model_case *c, const flowmap_model *m) {
    size_t n = c->batch * c->dim;
    struct thread_job jobs[THREADS];
    pthread_t threads[THREADS];
    float *single[THREADS];
    float *expected[THREADS];
    float *noise = read_floats(c->prefix, "noise.f32", n);
    float *noise_expected = read_floats(c->prefix, "sample2.f32", n);
    flowmap_workspace *ws = NULL;
    unsigned i;
    char name[64];

    CHECK_OK(flowmap_workspace_new(m, c->batch, &ws));
    for (i = 0; i < THREADS; i++) {
        snprintf(name, sizeof name, "thread%u.f32", i);
        expected[i] = read_floats(c->prefix, name, n);
        single[i] = filled(n, 0.0f);
        CHECK_OK(flowmap_sample_seeded(m, ws, THREAD_STEPS, THREAD_SEED_BASE + i, c->batch,
                                       single[i]));
        CHECK(same_bits(single[i], expected[i], n));
    }
    flowmap_workspace_free(ws);

    for (i = 0; i < THREADS; i++) {
        jobs[i].model = m;
        jobs[i].c = c;
        jobs[i].index = i;
        jobs[i].expected = expected[i];
        jobs[i].single_thread = single[i];
        jobs[i].noise = noise;
        jobs[i].noise_expected = noise_expected;
        jobs[i].mismatches = 0;
        jobs[i].errors = 0;
        CHECK(pthread_create(&threads[i], NULL, sampling_thread, &jobs[i]) == 0);
    }
    for (i = 0; i < THREADS; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
        CHECK(jobs[i].errors == 0);
        CHECK(jobs[i].mismatches == 0);
        free(expected[i]);
        free(single[i]);
    }
    free(noise);
    free(noise_expected);
}

/* ---- hostile files (written by tests/c_malformed/mod.rs) -------------------------------- */
/* Every file of malformed/manifest.txt ("<status> <file>" per line), loaded from memory and
 * from its path, gives the listed status; a failure leaves the out-parameter untouched and
 * sets a message; a file that loads is usable and freed. Under valgrind: no leak, no invalid
 * read, for every one of them. */
static void test_malformed_corpus(void) {
    char *manifest_path = fixture_path("", "malformed/manifest.txt");
    FILE *f = fopen(manifest_path, "r");
    flowmap_model *sentinel = (flowmap_model *)&passed; /* never dereferenced */
    int expected, files = 0, mismatches = 0;
    char name[256], rel[300];
    CHECK(f != NULL);
    if (f == NULL) {
        free(manifest_path);
        return;
    }
    while (fscanf(f, "%d %255s", &expected, name) == 2) {
        size_t len;
        unsigned char *bytes;
        char *path;
        flowmap_model *m = sentinel;
        flowmap_status st;
        snprintf(rel, sizeof rel, "malformed/%s", name);
        bytes = read_fixture("", rel, &len);
        path = fixture_path("", rel);
        files++;
        /* len 0: read_fixture still returns a valid (non-NULL) buffer */
        st = flowmap_model_load_bytes(bytes, len, &m);
        if ((int)st != expected) {
            mismatches++;
            fprintf(stderr, "%s: load_bytes gave %s, expected %s (%s)\n", name,
                    flowmap_status_name(st), flowmap_status_name(expected), flowmap_last_error());
        }
        if (st == FLOWMAP_OK) {
            float out[4 * 16]; /* batch 4 */
            flowmap_workspace *ws = NULL;
            /* The MLP variants have dim 2, the U-Net ones (1x4x4) dim 16. */
            CHECK(m != sentinel && m != NULL &&
                  (flowmap_model_dim(m) == 2 || flowmap_model_dim(m) == 16));
            CHECK_OK(flowmap_workspace_new(m, 4, &ws));
            st = flowmap_sample_seeded(m, ws, 2, SEED, 4, out);
            CHECK(st == FLOWMAP_OK || st == FLOWMAP_ERR_NON_FINITE_OUTPUT);
            flowmap_workspace_free(ws);
            flowmap_model_free(m);
        } else {
            CHECK(m == sentinel);
            CHECK(flowmap_last_error()[0] != '\0');
        }
        m = sentinel;
        st = flowmap_model_load(path, &m);
        if ((int)st != expected) {
            mismatches++;
            fprintf(stderr, "%s: load gave %s, expected %s (%s)\n", name,
                    flowmap_status_name(st), flowmap_status_name(expected), flowmap_last_error());
        }
        if (st == FLOWMAP_OK)
            flowmap_model_free(m);
        else
            CHECK(m == sentinel);
        free(bytes);
        free(path);
    }
    fclose(f);
    free(manifest_path);
    CHECK(files >= 200);
    CHECK(mismatches == 0);
}

/* Misuse beyond test_eval_errors: infinite inputs and noise (not only NaN), -inf times, a
 * model that overflows, and load/free churn (valgrind sees any leak). */
static void test_more_misuse(const struct model_case *c, const flowmap_model *m) {
    size_t n = c->batch * c->dim, i;
    float *x = read_floats(c->prefix, "x.f32", n);
    float *out = filled(n, 42.0f);
    flowmap_workspace *ws = NULL;
    const float vals[] = {(float)INFINITY, -(float)INFINITY, (float)NAN, -(float)NAN};
    CHECK_OK(flowmap_workspace_new(m, c->batch, &ws));
    for (i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        float keep = x[0];
        x[0] = vals[i];
        CHECK_ERROR(flowmap_map(m, ws, 0.0f, 1.0f, x, c->batch, out), FLOWMAP_ERR_NON_FINITE);
        CHECK_ERROR(flowmap_velocity(m, ws, 0.5f, x, c->batch, out), FLOWMAP_ERR_NON_FINITE);
        CHECK_ERROR(flowmap_sample(m, ws, 2, x, c->batch, out), FLOWMAP_ERR_NON_FINITE);
        CHECK_ERROR(flowmap_sample_grid(m, ws, GRID, GRID_LEN, x, c->batch, out),
                    FLOWMAP_ERR_NON_FINITE);
        x[0] = keep;
        CHECK_ERROR(flowmap_map(m, ws, vals[i], 1.0f, x, c->batch, out), FLOWMAP_ERR_NON_FINITE);
        CHECK_ERROR(flowmap_velocity(m, ws, vals[i], x, c->batch, out), FLOWMAP_ERR_NON_FINITE);
    }
    /* Finite but huge inputs: either a result or FLOWMAP_ERR_NON_FINITE_OUTPUT, never a
     * non-finite number reported as success. */
    for (i = 0; i < n; i++)
        x[i] = 3.0e38f;
    {
        flowmap_status st = flowmap_map(m, ws, 0.0f, 1.0f, x, c->batch, out);
        CHECK(st == FLOWMAP_OK || st == FLOWMAP_ERR_NON_FINITE_OUTPUT);
        if (st == FLOWMAP_OK)
            for (i = 0; i < n; i++)
                CHECK(isfinite(out[i]));
    }
    flowmap_workspace_free(ws);
    free(x);
    free(out);
}

static void test_load_free_churn(const struct model_case *c) {
    size_t len;
    int i;
    unsigned char *bytes = read_fixture(c->prefix, "model.safetensors", &len);
    for (i = 0; i < 50; i++) {
        flowmap_model *m = NULL;
        flowmap_workspace *ws = NULL;
        CHECK_OK(flowmap_model_load_bytes(bytes, len, &m));
        CHECK_OK(flowmap_workspace_new(m, (size_t)i + 1, &ws));
        /* The workspace may outlive the model that sized it (documented as independent). */
        flowmap_model_free(m);
        flowmap_workspace_free(ws);
    }
    free(bytes);
}

/* A pool splits a seeded batch over 1, 2, 3 and 8 threads: the output equals the Rust
 * runtime's one-thread samples bit for bit (batches up to 37 rows, fewer rows than threads
 * for model b); bad arguments are statuses, with `out` and `*out_pool` untouched. */
static void test_pool(const struct model_case *c, const flowmap_model *m) {
    static const size_t pool_threads[] = {1, 2, 3, 8};
    size_t n = c->batch * c->dim, k;
    const size_t huge = SIZE_MAX / c->dim + 1; /* batch * dim overflows size_t */
    float *expected = read_floats(c->prefix, "seeded2.f32", n);
    float *out = filled(n, 42.0f);
    flowmap_pool *sentinel = (flowmap_pool *)&failed; /* never dereferenced */
    flowmap_pool *pool = sentinel;
    int rep;

    CHECK_ERROR(flowmap_pool_new(0, &pool), FLOWMAP_ERR_INVALID_ARGUMENT);
    CHECK_ERROR(flowmap_pool_new(1025, &pool), FLOWMAP_ERR_INVALID_ARGUMENT);
    CHECK_ERROR(flowmap_pool_new(SIZE_MAX, &pool), FLOWMAP_ERR_INVALID_ARGUMENT);
    CHECK_ERROR(flowmap_pool_new(2, NULL), FLOWMAP_ERR_NULL_POINTER);
    CHECK(pool == sentinel);
    flowmap_pool_free(NULL);

    for (k = 0; k < sizeof pool_threads / sizeof pool_threads[0]; k++) {
        pool = NULL;
        CHECK_OK(flowmap_pool_new(pool_threads[k], &pool));
        CHECK(pool != NULL);
        if (!pool)
            continue;
        for (rep = 0; rep < 3; rep++) { /* the first call sizes the pool, later ones reuse it */
            memset(out, 0, n * sizeof(float));
            CHECK_OK(flowmap_pool_sample_seeded(m, pool, 2, SEED, c->batch, out));
            CHECK(same_bits(out, expected, n));
        }
        /* Errors as flowmap_sample_seeded() reports them; `out` keeps the last result. */
        CHECK_ERROR(flowmap_pool_sample_seeded(NULL, pool, 2, SEED, c->batch, out),
                    FLOWMAP_ERR_NULL_POINTER);
        CHECK_ERROR(flowmap_pool_sample_seeded(m, NULL, 2, SEED, c->batch, out),
                    FLOWMAP_ERR_NULL_POINTER);
        CHECK_ERROR(flowmap_pool_sample_seeded(m, pool, 2, SEED, c->batch, NULL),
                    FLOWMAP_ERR_NULL_POINTER);
        CHECK_ERROR(flowmap_pool_sample_seeded(m, pool, 0, SEED, c->batch, out),
                    FLOWMAP_ERR_INVALID_GRID);
        CHECK_ERROR(flowmap_pool_sample_seeded(m, pool, 2, SEED, 0, out),
                    FLOWMAP_ERR_INVALID_ARGUMENT);
        CHECK_ERROR(flowmap_pool_sample_seeded(m, pool, 2, SEED, huge, out),
                    FLOWMAP_ERR_SIZE_OVERFLOW);
        CHECK(same_bits(out, expected, n));
        flowmap_pool_free(pool);
    }
    free(expected);
    free(out);
}

/* One workspace serves several models (it grows to fit). */
static void test_shared_workspace(const flowmap_model *const *models) {
    flowmap_workspace *ws = NULL;
    size_t k;
    CHECK_OK(flowmap_workspace_new(models[0], 1, &ws));
    for (k = 0; k < NUM_CASES; k++)
        test_results(&CASES[k], models[k], ws);
    flowmap_workspace_free(ws);
}

int main(int argc, char **argv) {
    flowmap_model *models[NUM_CASES];
    size_t k;
    if (argc != 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
        return 2;
    }
    fixture_dir = argv[1];

    test_version_and_names();
    test_load_errors();
    test_last_error_copy();
    test_last_error_threads();
    test_malformed_corpus();
    for (k = 0; k < NUM_CASES; k++) {
        flowmap_workspace *ws = NULL;
        models[k] = load_case(&CASES[k]);
        test_queries(&CASES[k], models[k]);
        test_query_errors(models[k]);
        CHECK_OK(flowmap_workspace_new(models[k], CASES[k].batch, &ws));
        test_results(&CASES[k], models[k], ws);
        flowmap_workspace_free(ws);
        test_load_bytes(&CASES[k]);
        test_eval_errors(&CASES[k], models[k]);
        test_threads(&CASES[k], models[k]);
        test_pool(&CASES[k], models[k]);
        test_more_misuse(&CASES[k], models[k]);
        test_load_free_churn(&CASES[k]);
    }
    test_shared_workspace((const flowmap_model *const *)models);
    for (k = 0; k < NUM_CASES; k++)
        flowmap_model_free(models[k]);

    printf("flowmap C suite (%s): %d passed, %d failed\n",
#ifdef __cplusplus
           "C++",
#else
           "C",
#endif
           passed, failed);
    return failed == 0 ? 0 : 1;
}
