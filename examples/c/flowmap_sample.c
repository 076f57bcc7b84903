/*
 * flowmap_sample: generate samples from a flow-map model with libflowmap, in C.
 *
 *   flowmap_sample MODEL [--n 20000] [--steps 1,2] [--seed 7] [--out DIR] [--size 256]
 *
 * Loads MODEL (a .safetensors file written by flowmap-train), draws N samples from the seed
 * in each number of steps listed, and writes DIR/samples_<k>step.csv (one sample per row).
 * For 2-D data it also writes DIR/density_<k>step.ppm, a log-scaled density picture (all
 * pictures share the same axes). Prints a short summary.
 *
 * Build: make examples   (or, after make install:
 *        cc -std=c99 flowmap_sample.c $(pkg-config --cflags --libs flowmap) -lm)
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "flowmap.h"

#define MAX_STEP_COUNTS 16

struct options {
    const char *model;
    size_t n;
    size_t steps[MAX_STEP_COUNTS];
    size_t num_steps;
    uint64_t seed;
    const char *out_dir;
    int size;
};

static void usage(FILE *f, const char *argv0) {
    fprintf(f,
            "usage: %s MODEL [--n N] [--steps K1,K2,...] [--seed S] [--out DIR] [--size PX]\n"
            "\n"
            "  MODEL        model file (.safetensors) written by flowmap-train\n"
            "  --n N        number of samples (default 20000)\n"
            "  --steps LIST numbers of flow-map steps, comma-separated (default 1,2)\n"
            "  --seed S     random seed (default 7)\n"
            "  --out DIR    output directory, created if missing (default .)\n"
            "  --size PX    density picture size for 2-D data (default 256)\n",
            argv0);
}

static int parse_size(const char *s, size_t *out) {
    char *end;
    unsigned long long v;
    if (!s || !*s || *s == '-')
        return 0;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v == 0 || v > SIZE_MAX)
        return 0;
    *out = (size_t)v;
    return 1;
}

static int parse_steps(const char *s, struct options *o) {
    char buf[256];
    char *tok, *save = NULL;
    if (!s || strlen(s) >= sizeof buf)
        return 0;
    strcpy(buf, s);
    o->num_steps = 0;
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (o->num_steps == MAX_STEP_COUNTS || !parse_size(tok, &o->steps[o->num_steps]))
            return 0;
        o->num_steps++;
    }
    return o->num_steps > 0;
}

static int parse_args(int argc, char **argv, struct options *o) {
    int i;
    size_t v;
    o->model = NULL;
    o->n = 20000;
    o->steps[0] = 1;
    o->steps[1] = 2;
    o->num_steps = 2;
    o->seed = 7;
    o->out_dir = ".";
    o->size = 256;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout, argv[0]);
            exit(0);
        } else if (!strcmp(a, "--n")) {
            if (!parse_size(val, &o->n))
                return fprintf(stderr, "--n needs a positive integer\n"), 0;
            i++;
        } else if (!strcmp(a, "--steps")) {
            if (!parse_steps(val, o))
                return fprintf(stderr, "--steps needs a list like 1,2\n"), 0;
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
        } else if (!strcmp(a, "--out")) {
            if (!val)
                return fprintf(stderr, "--out needs a directory\n"), 0;
            o->out_dir = val;
            i++;
        } else if (!strcmp(a, "--size")) {
            if (!parse_size(val, &v) || v > 4096)
                return fprintf(stderr, "--size needs an integer in 1..4096\n"), 0;
            o->size = (int)v;
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
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int make_dir(const char *dir) {
    struct stat st;
    if (stat(dir, &st) == 0)
        return S_ISDIR(st.st_mode);
    return mkdir(dir, 0777) == 0;
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = (char *)malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int write_csv(const char *path, const float *x, size_t n, size_t dim) {
    FILE *f = fopen(path, "w");
    size_t i, j;
    if (!f)
        return 0;
    for (j = 0; j < dim; j++)
        fprintf(f, "%sx%zu", j ? "," : "", j);
    fputc('\n', f);
    for (i = 0; i < n; i++) {
        for (j = 0; j < dim; j++)
            fprintf(f, "%s%.9g", j ? "," : "", (double)x[i * dim + j]); /* round-trips f32 */
        fputc('\n', f);
    }
    return fclose(f) == 0;
}

/* A dark-to-bright colour ramp (black, purple, orange, pale yellow). */
static void colour(double v, unsigned char rgb[3]) {
    static const double stops[4][3] = {
        {0, 0, 4}, {120, 28, 109}, {237, 105, 37}, {252, 255, 164}};
    double p = v * 3.0;
    int k = p >= 3.0 ? 2 : (int)p;
    double f = p - k;
    int c;
    for (c = 0; c < 3; c++)
        rgb[c] = (unsigned char)(stops[k][c] + f * (stops[k + 1][c] - stops[k][c]) + 0.5);
}

/* Log-scaled 2-D histogram of x (n points) over [lo, hi] per axis, as a binary PPM. */
static int write_density(const char *path, const float *x, size_t n, const double lo[2],
                         const double hi[2], int size) {
    size_t cells = (size_t)size * (size_t)size, i;
    unsigned *count = (unsigned *)calloc(cells, sizeof *count);
    unsigned char *img = (unsigned char *)malloc(cells * 3);
    unsigned max = 0;
    FILE *f;
    int ok;
    if (!count || !img) {
        free(count);
        free(img);
        return 0;
    }
    for (i = 0; i < n; i++) {
        double u = (x[2 * i] - lo[0]) / (hi[0] - lo[0]);
        double v = (x[2 * i + 1] - lo[1]) / (hi[1] - lo[1]);
        int col, row;
        if (!(u >= 0.0 && u < 1.0 && v >= 0.0 && v < 1.0))
            continue;
        col = (int)(u * size);
        row = size - 1 - (int)(v * size); /* y up */
        if (++count[(size_t)row * size + col] > max)
            max = count[(size_t)row * size + col];
    }
    for (i = 0; i < cells; i++)
        colour(max ? log1p((double)count[i]) / log1p((double)max) : 0.0, &img[3 * i]);
    f = fopen(path, "wb");
    ok = f != NULL;
    if (ok) {
        fprintf(f, "P6\n%d %d\n255\n", size, size);
        ok = fwrite(img, 1, cells * 3, f) == cells * 3;
        ok = (fclose(f) == 0) && ok;
    }
    free(count);
    free(img);
    return ok;
}

static void fail(const char *what, flowmap_status st) {
    fprintf(stderr, "error: %s: %s (%s)\n", what, flowmap_last_error(), flowmap_status_name(st));
    exit(1);
}

int main(int argc, char **argv) {
    struct options o;
    flowmap_model *model = NULL;
    flowmap_workspace *ws = NULL;
    flowmap_status st;
    size_t dim, rank = 0, shape[8], i, j, k;
    float **samples;
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};

    if (!parse_args(argc, argv, &o)) {
        usage(stderr, argv[0]);
        return 2;
    }
    if (strcmp(flowmap_version(), FLOWMAP_VERSION_STRING) != 0)
        fprintf(stderr, "warning: header %s, library %s\n", FLOWMAP_VERSION_STRING,
                flowmap_version());

    if ((st = flowmap_model_load(o.model, &model)) != FLOWMAP_OK)
        fail(o.model, st);
    dim = flowmap_model_dim(model);
    if ((st = flowmap_model_data_shape(model, shape, 8, &rank)) != FLOWMAP_OK)
        fail("data shape", st);
    if (o.n > SIZE_MAX / sizeof(float) / dim) {
        fprintf(stderr, "error: --n %zu is too large\n", o.n);
        return 1;
    }
    if (!make_dir(o.out_dir)) {
        fprintf(stderr, "error: cannot create directory %s: %s\n", o.out_dir, strerror(errno));
        return 1;
    }
    printf("flowmap %s: model %s (format v%u), data shape [", flowmap_version(), o.model,
           (unsigned)flowmap_model_format_version(model));
    for (j = 0; j < rank; j++)
        printf("%s%zu", j ? ", " : "", shape[j]);
    printf("], dim %zu\n", dim);
    printf("sampling %zu points, seed %llu\n", o.n, (unsigned long long)o.seed);

    if ((st = flowmap_workspace_new(model, o.n, &ws)) != FLOWMAP_OK)
        fail("workspace", st);
    samples = (float **)calloc(o.num_steps, sizeof *samples);
    if (!samples)
        return 1;

    for (k = 0; k < o.num_steps; k++) {
        double t0, ms, mean[2] = {0, 0}, var[2] = {0, 0};
        char name[64], *path;
        samples[k] = (float *)malloc(o.n * dim * sizeof(float));
        if (!samples[k]) {
            fprintf(stderr, "error: out of memory\n");
            return 1;
        }
        t0 = now_ms();
        st = flowmap_sample_seeded(model, ws, o.steps[k], o.seed, o.n, samples[k]);
        ms = now_ms() - t0;
        if (st != FLOWMAP_OK)
            fail("sample", st);

        snprintf(name, sizeof name, "samples_%zustep.csv", o.steps[k]);
        path = join(o.out_dir, name);
        if (!path || !write_csv(path, samples[k], o.n, dim)) {
            fprintf(stderr, "error: cannot write %s\n", path ? path : name);
            return 1;
        }
        printf("  %zu step%s: %8.2f ms (%.3f us/sample)  -> %s\n", o.steps[k],
               o.steps[k] == 1 ? " " : "s", ms, 1e3 * ms / (double)o.n, path);
        free(path);

        /* Mean and standard deviation of the first (up to) two coordinates; 2-D bounds. */
        for (j = 0; j < dim && j < 2; j++) {
            for (i = 0; i < o.n; i++)
                mean[j] += samples[k][i * dim + j];
            mean[j] /= (double)o.n;
            for (i = 0; i < o.n; i++) {
                double d = samples[k][i * dim + j] - mean[j];
                var[j] += d * d;
            }
            var[j] /= (double)o.n;
            printf("      x%zu: mean %+.4f  std %.4f\n", j, mean[j], sqrt(var[j]));
            if (dim == 2) {
                /* Picture bounds: mean +- 4 std of every run, clipped to the data range. */
                double a = mean[j] - 4.0 * sqrt(var[j]), b = mean[j] + 4.0 * sqrt(var[j]);
                double mn = INFINITY, mx = -INFINITY;
                for (i = 0; i < o.n; i++) {
                    double v = samples[k][i * dim + j];
                    mn = v < mn ? v : mn;
                    mx = v > mx ? v : mx;
                }
                lo[j] = fmin(lo[j], fmax(a, mn));
                hi[j] = fmax(hi[j], fmin(b, mx));
            }
        }
    }

    if (dim == 2) {
        for (j = 0; j < 2; j++) { /* 5% margin; avoid an empty range */
            double pad = 0.05 * (hi[j] - lo[j]) + 1e-6;
            lo[j] -= pad;
            hi[j] += pad;
        }
        for (k = 0; k < o.num_steps; k++) {
            char name[64], *path;
            snprintf(name, sizeof name, "density_%zustep.ppm", o.steps[k]);
            path = join(o.out_dir, name);
            if (!path || !write_density(path, samples[k], o.n, lo, hi, o.size)) {
                fprintf(stderr, "error: cannot write %s\n", path ? path : name);
                return 1;
            }
            printf("  density (%d x %d, x in [%.3g, %.3g], y in [%.3g, %.3g]) -> %s\n", o.size,
                   o.size, lo[0], hi[0], lo[1], hi[1], path);
            free(path);
        }
    }

    for (k = 0; k < o.num_steps; k++)
        free(samples[k]);
    free(samples);
    flowmap_workspace_free(ws);
    flowmap_model_free(model);
    return 0;
}
