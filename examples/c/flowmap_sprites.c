/*
 * flowmap_sprites: a sprite sheet of one-step samples from an image flow-map model, in C.
 *
 *   flowmap_sprites MODEL [--n 64] [--cols 8] [--steps 1] [--seed 7] [--threads 1]
 *                   [--out sprites.ppm]
 *
 * Loads MODEL (a format-2 U-Net, or any model whose data shape is [C, H, W] with C in 1..4),
 * draws N images from the seed in STEPS flow-map steps, converts them to 8-bit pixels with
 * flowmap_model_to_pixels (the model's pixel range), lays them out COLS per row and writes a
 * binary PPM (P6; grey is replicated to RGB, alpha is composited over black). Prints the
 * sheet's size and the time per image. With --threads T > 1 the batch is split over T
 * threads (a flowmap_pool); the sheet is the same, bit for bit.
 *
 * Build: make examples   (or, after make install:
 *        cc -std=c99 flowmap_sprites.c $(pkg-config --cflags --libs flowmap))
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flowmap.h"

struct options {
    const char *model;
    size_t n, cols, steps, threads;
    uint64_t seed;
    const char *out;
};

static void usage(FILE *f, const char *argv0) {
    fprintf(f,
            "usage: %s MODEL [--n N] [--cols C] [--steps K] [--seed S] [--threads T]\n"
            "       [--out FILE]\n"
            "\n"
            "  MODEL      image model file (.safetensors), data shape [C, H, W], C in 1..4\n"
            "  --n N      number of sprites (default 64)\n"
            "  --cols C   sprites per row of the sheet (default 8)\n"
            "  --steps K  flow-map steps per sample (default 1)\n"
            "  --seed S   random seed (default 7)\n"
            "  --threads T  threads to sample with (default 1; same sheet for any T)\n"
            "  --out FILE output picture, binary PPM (default sprites.ppm)\n",
            argv0);
}

static int parse_count(const char *s, size_t max, size_t *out) {
    char *end;
    unsigned long long v;
    if (!s || !*s || *s == '-')
        return 0;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v == 0 || v > max)
        return 0;
    *out = (size_t)v;
    return 1;
}

static int parse_args(int argc, char **argv, struct options *o) {
    int i;
    o->model = NULL;
    o->n = 64;
    o->cols = 8;
    o->steps = 1;
    o->seed = 7;
    o->threads = 1;
    o->out = "sprites.ppm";
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout, argv[0]);
            exit(0);
        } else if (!strcmp(a, "--n")) {
            if (!parse_count(val, 1u << 20, &o->n))
                return fprintf(stderr, "--n needs an integer in 1..1048576\n"), 0;
            i++;
        } else if (!strcmp(a, "--cols")) {
            if (!parse_count(val, 4096, &o->cols))
                return fprintf(stderr, "--cols needs an integer in 1..4096\n"), 0;
            i++;
        } else if (!strcmp(a, "--steps")) {
            if (!parse_count(val, 1000, &o->steps))
                return fprintf(stderr, "--steps needs an integer in 1..1000\n"), 0;
            i++;
        } else if (!strcmp(a, "--seed")) {
            char *end;
            if (!val || !*val || *val == '-')
                return fprintf(stderr, "--seed needs a non-negative integer\n"), 0;
            errno = 0;
            o->seed = (uint64_t)strtoull(val, &end, 10);
            if (errno || *end)
                return fprintf(stderr, "--seed needs a non-negative integer\n"), 0;
            i++;
        } else if (!strcmp(a, "--threads")) {
            if (!parse_count(val, 1024, &o->threads))
                return fprintf(stderr, "--threads needs an integer in 1..1024\n"), 0;
            i++;
        } else if (!strcmp(a, "--out")) {
            if (!val)
                return fprintf(stderr, "--out needs a file name\n"), 0;
            o->out = val;
            i++;
        } else if (a[0] == '-' && a[1] != '\0') {
            return fprintf(stderr, "unknown option %s\n", a), 0;
        } else if (!o->model) {
            o->model = a;
        } else {
            return fprintf(stderr, "unexpected argument %s\n", a), 0;
        }
    }
    if (!o->model)
        return fprintf(stderr, "missing MODEL\n"), 0;
    return 1;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int fail(const char *what, flowmap_status st) {
    fprintf(stderr, "%s: %s (%s)\n", what, flowmap_status_name(st), flowmap_last_error());
    return 1;
}

int main(int argc, char **argv) {
    struct options o;
    flowmap_model *model = NULL;
    flowmap_workspace *ws = NULL;
    flowmap_pool *pool = NULL;
    flowmap_status st;
    size_t dims[4], rank = 0, c, h, w, dim, rows, sw, sh, i, x, y;
    float *data = NULL;
    unsigned char *px = NULL, *sheet = NULL;
    double t0, ms;
    FILE *f;
    int rc = 1;

    if (!parse_args(argc, argv, &o)) {
        usage(stderr, argv[0]);
        return 2;
    }
    if ((st = flowmap_model_load(o.model, &model)) != FLOWMAP_OK)
        return fail(o.model, st);
    if ((st = flowmap_model_data_shape(model, dims, 4, &rank)) != FLOWMAP_OK || rank != 3 ||
        dims[0] < 1 || dims[0] > 4) {
        fprintf(stderr, "%s: not an image model (data shape must be [C, H, W], C in 1..4)\n",
                o.model);
        goto done;
    }
    c = dims[0];
    h = dims[1];
    w = dims[2];
    dim = c * h * w;
    rows = (o.n + o.cols - 1) / o.cols;
    sw = (o.n < o.cols ? o.n : o.cols) * w;
    sh = rows * h;
    data = (float *)malloc(o.n * dim * sizeof *data);
    px = (unsigned char *)malloc(o.n * dim);
    sheet = (unsigned char *)calloc(sw * sh * 3, 1);
    if (!data || !px || !sheet) {
        fprintf(stderr, "out of memory\n");
        goto done;
    }
    /* One thread: a workspace. More: a pool of threads that splits the batch (its threads
     * start here, once; a program sampling repeatedly keeps the pool). */
    if (o.threads == 1)
        st = flowmap_workspace_new(model, o.n, &ws);
    else
        st = flowmap_pool_new(o.threads, &pool);
    if (st != FLOWMAP_OK) {
        fail(o.threads == 1 ? "workspace" : "pool", st);
        goto done;
    }
    t0 = now_ms();
    if (pool)
        st = flowmap_pool_sample_seeded(model, pool, o.steps, o.seed, o.n, data);
    else
        st = flowmap_sample_seeded(model, ws, o.steps, o.seed, o.n, data);
    ms = now_ms() - t0;
    if (st != FLOWMAP_OK) {
        fail("sampling", st);
        goto done;
    }
    if ((st = flowmap_model_to_pixels(model, data, o.n, px, o.n * dim)) != FLOWMAP_OK) {
        fail("pixels", st);
        goto done;
    }
    /* Sprite i at column i % cols, row i / cols; pixels are interleaved [H, W, C]. */
    for (i = 0; i < o.n; i++) {
        const unsigned char *img = px + i * dim;
        size_t ox = (i % o.cols) * w, oy = (i / o.cols) * h;
        for (y = 0; y < h; y++) {
            for (x = 0; x < w; x++) {
                const unsigned char *p = img + (y * w + x) * c;
                unsigned char *q = sheet + ((oy + y) * sw + ox + x) * 3;
                unsigned a = (c == 2 || c == 4) ? p[c - 1] : 255u;
                unsigned r = p[0], g = c >= 3 ? p[1] : p[0], b = c >= 3 ? p[2] : p[0];
                q[0] = (unsigned char)((r * a + 127) / 255);
                q[1] = (unsigned char)((g * a + 127) / 255);
                q[2] = (unsigned char)((b * a + 127) / 255);
            }
        }
    }
    f = fopen(o.out, "wb");
    if (!f || fprintf(f, "P6\n%zu %zu\n255\n", sw, sh) < 0 ||
        fwrite(sheet, 1, sw * sh * 3, f) != sw * sh * 3) {
        fprintf(stderr, "%s: cannot write\n", o.out);
        if (f)
            fclose(f);
        goto done;
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "%s: cannot write\n", o.out);
        goto done;
    }
    printf("%s: %zu sprites of %zux%zu (%zu channel%s), %zu step%s, sheet %zux%zu\n", o.out,
           o.n, h, w, c, c == 1 ? "" : "s", o.steps, o.steps == 1 ? "" : "s", sw, sh);
    printf("time per image: %.3f ms (batch %zu, %zu thread%s)\n", ms / (double)o.n, o.n,
           o.threads, o.threads == 1 ? "" : "s");
    rc = 0;
done:
    flowmap_workspace_free(ws);
    flowmap_pool_free(pool);
    flowmap_model_free(model);
    free(data);
    free(px);
    free(sheet);
    return rc;
}
