/*
 * flowmap — run learned flow maps (consistency models) in one or two steps.
 *
 * C API of libflowmap (libflowmap.so / libflowmap.a). Generated from ffi/src by cbindgen;
 * do not edit. Regenerate with: FLOWMAP_BLESS=1 cargo test -p flowmap-ffi --test header
 *
 * Conventions
 *  - Every fallible function returns a flowmap_status; FLOWMAP_OK (0) means success. On
 *    failure flowmap_last_error() describes what went wrong (per thread).
 *  - The caller owns every buffer. Data are row-major float arrays of batch * dim values
 *    (one data point per row, in data space). Outputs are written only on success.
 *  - Every pointer argument is checked for NULL (FLOWMAP_ERR_NULL_POINTER); sizes are
 *    size_t and checked for overflow (FLOWMAP_ERR_SIZE_OVERFLOW). No Rust panic ever
 *    crosses the boundary (FLOWMAP_ERR_PANIC).
 *
 * Threads
 *  - A loaded model is immutable: one `const flowmap_model *` may be used from any number
 *    of threads at once, without locking.
 *  - A flowmap_workspace holds scratch memory and is NOT thread-safe: give each thread its
 *    own workspace (it may be moved between threads, but used by one at a time).
 *  - A flowmap_pool (flowmap_pool_new()) splits one batch over several threads, with the
 *    same results as one thread; like a workspace, it is used by one thread at a time.
 *  - The last-error message is thread-local.
 */

#ifndef FLOWMAP_H
#define FLOWMAP_H

#include <stddef.h>
#include <stdint.h>

/* Version of this header; flowmap_version() gives the library's. */
#define FLOWMAP_VERSION_MAJOR 0
#define FLOWMAP_VERSION_MINOR 1
#define FLOWMAP_VERSION_PATCH 0
#define FLOWMAP_VERSION_STRING "0.1.0"

/**
 * Result of a flowmap call. `FLOWMAP_OK` (0) is success; every other value is an error
 * whose detail is in flowmap_last_error(). The numeric values are part of the ABI: they
 * never change and are never reused for another meaning. New codes may be added.
 */
enum flowmap_status
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : int32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * Success.
     */
    FLOWMAP_OK = 0,
    /**
     * A required pointer argument was NULL.
     */
    FLOWMAP_ERR_NULL_POINTER = 1,
    /**
     * An argument is out of its domain: batch or max_batch 0, a misaligned pointer, a
     * handle that is not a live flowmap object, a path that is not valid on this platform.
     */
    FLOWMAP_ERR_INVALID_ARGUMENT = 2,
    /**
     * A size computation overflowed (batch * dim does not fit in size_t, or the buffer would
     * exceed PTRDIFF_MAX bytes).
     */
    FLOWMAP_ERR_SIZE_OVERFLOW = 3,
    /**
     * A caller buffer is too small; the required size was reported through the size
     * out-parameter.
     */
    FLOWMAP_ERR_BUFFER_TOO_SMALL = 4,
    /**
     * Memory for a workspace could not be allocated.
     */
    FLOWMAP_ERR_OUT_OF_MEMORY = 5,
    /**
     * The model file could not be read.
     */
    FLOWMAP_ERR_IO = 6,
    /**
     * The bytes are not a well-formed flowmap model file (bad safetensors container, missing
     * or unparsable "flowmap" metadata, unsupported dtype, bad offsets, ...).
     */
    FLOWMAP_ERR_MALFORMED_FILE = 7,
    /**
     * The file's model-format version (or its architecture family) is newer than this
     * library reads (see flowmap_supported_format_version()).
     */
    FLOWMAP_ERR_UNSUPPORTED_VERSION = 8,
    /**
     * The metadata parsed but describes an invalid model (empty or zero data shape, bad
     * widths, sigma, normalisation, time embedding, ...).
     */
    FLOWMAP_ERR_INVALID_MODEL = 9,
    /**
     * The weight tensors do not match the declared architecture (missing, unexpected, or
     * wrongly shaped tensors).
     */
    FLOWMAP_ERR_SHAPE_MISMATCH = 10,
    /**
     * A value is NaN or infinite: a weight in the file, a time argument, or an element of the
     * caller's input (state or noise).
     */
    FLOWMAP_ERR_NON_FINITE = 11,
    /**
     * The result overflowed to NaN or infinity although every input was finite.
     */
    FLOWMAP_ERR_NON_FINITE_OUTPUT = 12,
    /**
     * The time grid is invalid: 0 steps, fewer than 2 points, a point that is not finite or
     * outside [0, 1], or a decreasing step.
     */
    FLOWMAP_ERR_INVALID_GRID = 13,
    /**
     * An internal error (a Rust panic) was caught at the boundary. Please report it.
     */
    FLOWMAP_ERR_PANIC = 14,
    /**
     * The runtime reported an error this version of the C layer does not classify.
     */
    FLOWMAP_ERR_UNKNOWN = 15,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum flowmap_status flowmap_status;
#else
typedef int32_t flowmap_status;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * A loaded model (opaque). Immutable once loaded: a `const flowmap_model *` may be used by
 * any number of threads at the same time. Create with flowmap_model_load() or
 * flowmap_model_load_bytes(), release with flowmap_model_free().
 */
typedef struct flowmap_model flowmap_model;

/**
 * A pool of threads that splits one batch over several cores (opaque). Create with
 * flowmap_pool_new(), release with flowmap_pool_free(). Like a workspace, a pool is used by
 * one thread at a time (it may be moved between threads); it holds each of its threads'
 * scratch memory and is not tied to one model.
 */
typedef struct flowmap_pool flowmap_pool;

/**
 * Scratch memory for evaluating a model (opaque). Not thread-safe: one workspace per
 * thread. Create with flowmap_workspace_new(), release with flowmap_workspace_free().
 */
typedef struct flowmap_workspace flowmap_workspace;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * The library version as a static NUL-terminated string, "MAJOR.MINOR.PATCH". Compare it
 * with FLOWMAP_VERSION_STRING to detect a header/library mismatch at run time.
 */
const char *flowmap_version(void);

/**
 * The newest model-format version this library reads (it reads every version from 1 up to
 * this one: 1 = MLP files, 2 = also U-Nets; files of any other version are rejected with
 * FLOWMAP_ERR_UNSUPPORTED_VERSION).
 */
uint32_t flowmap_supported_format_version(void);

/**
 * The name of a status value as a static NUL-terminated string ("FLOWMAP_OK",
 * "FLOWMAP_ERR_NULL_POINTER", ...); "FLOWMAP_STATUS_UNRECOGNIZED" for a value this library
 * does not define. Never returns NULL.
 */
const char *flowmap_status_name(int32_t status);

/**
 * The detail message of the last failed call on this thread, as a NUL-terminated UTF-8
 * string; "" when the last call succeeded. Never returns NULL.
 *
 * Every function that returns a flowmap_status (and flowmap_model_dim(),
 * flowmap_model_format_version()) sets this message when it fails and clears it when it
 * succeeds. The pointer stays valid until the next such call on the same thread, or until
 * the thread exits; copy the text (or use flowmap_last_error_copy()) to keep it longer.
 */
const char *flowmap_last_error(void);

/**
 * Copies this thread's last error message into `buf` (capacity `capacity` bytes, including
 * the terminating NUL), truncating if needed; the copy is always NUL-terminated when
 * `capacity` > 0. Returns the full length of the message (excluding the NUL), like
 * snprintf: the copy was complete when the result is < `capacity`. `buf` may be NULL when
 * `capacity` is 0 (a size query); a NULL `buf` is never written. Does not change the last
 * error.
 *
 * # Safety
 * `buf` is NULL or valid for writes of `capacity` bytes.
 */
size_t flowmap_last_error_copy(char *buf, size_t capacity);

/**
 * Loads a model from a file (a safetensors file written by flowmap-train). The whole file is
 * validated before it is accepted. On success stores a new model in `*out_model`; on
 * failure `*out_model` is left unchanged.
 *
 * Errors: FLOWMAP_ERR_NULL_POINTER, FLOWMAP_ERR_IO, FLOWMAP_ERR_MALFORMED_FILE,
 * FLOWMAP_ERR_UNSUPPORTED_VERSION, FLOWMAP_ERR_INVALID_MODEL, FLOWMAP_ERR_SHAPE_MISMATCH,
 * FLOWMAP_ERR_NON_FINITE (a weight is NaN or infinite).
 *
 * # Safety
 * `path` is NULL or a NUL-terminated path; `out_model` is NULL or valid for one write.
 */
flowmap_status flowmap_model_load(const char *path, struct flowmap_model **out_model);

/**
 * Loads a model from `len` bytes in memory (the contents of a model file). The bytes are
 * copied as needed: the buffer may be freed as soon as this returns. On success stores a
 * new model in `*out_model`; on failure `*out_model` is left unchanged.
 *
 * Errors: as flowmap_model_load(), without FLOWMAP_ERR_IO.
 *
 * # Safety
 * `data` is NULL or valid for reads of `len` bytes; `out_model` is NULL or valid for one
 * write.
 */
flowmap_status flowmap_model_load_bytes(const uint8_t *data,
                                        size_t len,
                                        struct flowmap_model **out_model);

/**
 * Releases a model. NULL is ignored. Workspaces are independent objects: free them with
 * flowmap_workspace_free(), before or after their model.
 *
 * # Safety
 * `model` is NULL or a model from flowmap_model_load*() not freed yet, which no other thread
 * uses any more.
 */
void flowmap_model_free(struct flowmap_model *model);

/**
 * The number of floats in one data point (the product of the data shape); 0 if `model` is
 * NULL (then flowmap_last_error() says so).
 *
 * # Safety
 * `model` is NULL or a live model.
 */
size_t flowmap_model_dim(const struct flowmap_model *model);

/**
 * The model-format version of the file the model was loaded from; 0 if `model` is NULL.
 *
 * # Safety
 * `model` is NULL or a live model.
 */
uint32_t flowmap_model_format_version(const struct flowmap_model *model);

/**
 * The shape of one data point, e.g. {2} or {1, 8, 8}. Stores the rank in `*rank` and, when
 * it fits (`capacity` >= rank), the dimensions in `dims[0..rank]`.
 *
 * A size query passes `dims` = NULL and `capacity` = 0: returns FLOWMAP_OK with `*rank` set.
 * Otherwise, if `capacity` < rank, returns FLOWMAP_ERR_BUFFER_TOO_SMALL with `*rank` set and
 * `dims` untouched.
 *
 * # Safety
 * `model` is NULL or a live model; `dims` is NULL or valid for `capacity` writes; `rank` is
 * NULL or valid for one write.
 */
flowmap_status flowmap_model_data_shape(const struct flowmap_model *model,
                                        size_t *dims,
                                        size_t capacity,
                                        size_t *rank);

/**
 * The model's metadata (architecture, interpolant, sigma, normalisation, provenance) as a
 * JSON object, NUL-terminated UTF-8. Stores the JSON length (without the NUL) in `*len` and,
 * when it fits (`capacity` >= length + 1), the text in `buf`.
 *
 * A size query passes `buf` = NULL and `capacity` = 0: returns FLOWMAP_OK with `*len` set.
 * Otherwise, if the text does not fit, returns FLOWMAP_ERR_BUFFER_TOO_SMALL with `*len` set
 * and `buf` untouched.
 *
 * # Safety
 * `model` is NULL or a live model; `buf` is NULL or valid for `capacity` writes; `len` is
 * NULL or valid for one write.
 */
flowmap_status flowmap_model_metadata_json(const struct flowmap_model *model,
                                           char *buf,
                                           size_t capacity,
                                           size_t *len);

/**
 * Converts `batch` samples in data space (`[C, H, W]` each, row-major, as the sampling
 * functions write them) to 8-bit pixels, interleaved per pixel (row-major `[H, W, C]`: grey,
 * grey + alpha, RGB or RGBA — ready for an image writer or a texture upload), into `pixels`
 * (`pixels_len` = batch * dim bytes).
 *
 * A value v becomes floor(255 * clamp((v - lo) / (hi - lo), 0, 1) + 0.5), where [lo, hi] is
 * the model's pixel range: the file's `pixel_range` (format-2 U-Nets may declare one), else
 * [0, 1]. Does not allocate; `pixels` is untouched on error.
 *
 * Errors: FLOWMAP_ERR_NULL_POINTER, FLOWMAP_ERR_INVALID_ARGUMENT (batch 0, or the data shape
 * is not [C, H, W] with C in 1..=4), FLOWMAP_ERR_SIZE_OVERFLOW,
 * FLOWMAP_ERR_BUFFER_TOO_SMALL (pixels_len != batch * dim), FLOWMAP_ERR_NON_FINITE.
 *
 * # Safety
 * `model` is NULL or a live model; `data` is NULL or valid for batch * dim reads; `pixels`
 * is NULL or valid for `pixels_len` writes.
 */
flowmap_status flowmap_model_to_pixels(const struct flowmap_model *model,
                                       const float *data,
                                       size_t batch,
                                       uint8_t *pixels,
                                       size_t pixels_len);

/**
 * Creates a workspace sized for evaluating `model` on batches of up to `max_batch` points
 * without allocating. Larger batches still work (the workspace grows on first use, and
 * never shrinks). On success stores it in `*out_workspace`; on failure leaves it unchanged.
 *
 * A workspace is used by one thread at a time (one per thread). It is not tied to `model`
 * (it grows to fit whichever model uses it) and does not keep it alive: free it before or
 * after the model.
 *
 * Errors: FLOWMAP_ERR_NULL_POINTER, FLOWMAP_ERR_INVALID_ARGUMENT (max_batch 0),
 * FLOWMAP_ERR_SIZE_OVERFLOW.
 *
 * # Safety
 * `model` is NULL or a live model; `out_workspace` is NULL or valid for one write.
 */
flowmap_status flowmap_workspace_new(const struct flowmap_model *model,
                                     size_t max_batch,
                                     struct flowmap_workspace **out_workspace);

/**
 * Releases a workspace. NULL is ignored.
 *
 * # Safety
 * `workspace` is NULL or a workspace from flowmap_workspace_new() not freed yet, which no
 * other thread uses any more.
 */
void flowmap_workspace_free(struct flowmap_workspace *workspace);

/**
 * Applies the flow map: out = X_{s,t}(x) for each of the `batch` points in `x`. With s < t
 * this transports points from time s to time t (t = 1 is data, t = 0 is noise).
 *
 * `x` and `out` hold batch * dim floats (data space, row-major). They may be the same
 * buffer (in-place), or overlap.
 *
 * Errors: FLOWMAP_ERR_NULL_POINTER, FLOWMAP_ERR_INVALID_ARGUMENT (batch 0),
 * FLOWMAP_ERR_SIZE_OVERFLOW, FLOWMAP_ERR_NON_FINITE (s, t or an input is NaN/inf),
 * FLOWMAP_ERR_NON_FINITE_OUTPUT, FLOWMAP_ERR_OUT_OF_MEMORY.
 *
 * # Safety
 * `model` is NULL or a live model; `workspace` is NULL or a live workspace, used by no
 * other thread during the call; `x` is NULL or valid for reads of
 * batch * dim floats; `out` is NULL or valid for writes of batch * dim floats.
 */
flowmap_status flowmap_map(const struct flowmap_model *model,
                           struct flowmap_workspace *workspace,
                           float s,
                           float t,
                           const float *x,
                           size_t batch,
                           float *out);

/**
 * Evaluates the velocity of the flow: out = b_t(x) = v_{t,t}(x) for each of the `batch`
 * points in `x` (the tangent of the flow map at s = t).
 *
 * Buffers, errors and safety as for flowmap_map().
 *
 * # Safety
 * As flowmap_map().
 */
flowmap_status flowmap_velocity(const struct flowmap_model *model,
                                struct flowmap_workspace *workspace,
                                float t,
                                const float *x,
                                size_t batch,
                                float *out);

/**
 * Generates `batch` samples from the caller's standard-normal `noise` in `steps` steps of
 * the flow map on the uniform grid t_k = k / steps (1 or 2 steps are typical for a flow-map
 * model). The base scale sigma and the normalisation are applied inside: pass N(0, I) noise.
 *
 * `noise` and `out` hold batch * dim floats; they may be the same buffer.
 *
 * Errors: as flowmap_map(), plus FLOWMAP_ERR_INVALID_GRID (steps 0).
 *
 * # Safety
 * `model` is NULL or a live model; `workspace` is NULL or a live workspace, used by no
 * other thread during the call; `noise` is NULL or valid for reads
 * of batch * dim floats; `out` is NULL or valid for writes of batch * dim floats.
 */
flowmap_status flowmap_sample(const struct flowmap_model *model,
                              struct flowmap_workspace *workspace,
                              size_t steps,
                              const float *noise,
                              size_t batch,
                              float *out);

/**
 * Like flowmap_sample() on a custom time grid: `grid` holds `grid_len` >= 2 times in [0, 1],
 * non-decreasing, normally from 0 to 1; the sampler applies X_{grid[k], grid[k+1]} in turn.
 *
 * Errors: as flowmap_sample(); FLOWMAP_ERR_NULL_POINTER for a NULL `grid`,
 * FLOWMAP_ERR_INVALID_GRID for a bad one.
 *
 * # Safety
 * As flowmap_sample(); `grid` is NULL or valid for reads of `grid_len` floats.
 */
flowmap_status flowmap_sample_grid(const struct flowmap_model *model,
                                   struct flowmap_workspace *workspace,
                                   const float *grid,
                                   size_t grid_len,
                                   const float *noise,
                                   size_t batch,
                                   float *out);

/**
 * Generates `batch` samples in `steps` uniform steps from noise drawn by flowmap's own
 * deterministic generator seeded with `seed`: the same model, seed, batch and steps give
 * bit-identical output on the same machine, whatever the thread.
 *
 * Errors: as flowmap_sample().
 *
 * # Safety
 * `model` is NULL or a live model; `workspace` is NULL or a live workspace, used by no
 * other thread during the call; `out` is NULL or valid for writes
 * of batch * dim floats.
 */
flowmap_status flowmap_sample_seeded(const struct flowmap_model *model,
                                     struct flowmap_workspace *workspace,
                                     size_t steps,
                                     uint64_t seed,
                                     size_t batch,
                                     float *out);

/**
 * Like flowmap_sample_seeded() on a custom time grid (see flowmap_sample_grid()).
 *
 * # Safety
 * As flowmap_sample_seeded(); `grid` is NULL or valid for reads of `grid_len` floats.
 */
flowmap_status flowmap_sample_seeded_grid(const struct flowmap_model *model,
                                          struct flowmap_workspace *workspace,
                                          const float *grid,
                                          size_t grid_len,
                                          uint64_t seed,
                                          size_t batch,
                                          float *out);

/**
 * Creates a pool of `threads` threads in all: the calling thread and `threads` - 1 worker
 * threads, started now and kept until flowmap_pool_free(). flowmap_pool_sample_seeded()
 * splits a batch into `threads` contiguous parts (fewer when the batch is smaller) and
 * evaluates them at the same time; its results are bit-identical to
 * flowmap_sample_seeded()'s. Choose `threads` up to the number of cores the program may
 * use. On success stores the pool in `*out_pool`; on failure leaves it unchanged.
 *
 * Errors: FLOWMAP_ERR_NULL_POINTER, FLOWMAP_ERR_INVALID_ARGUMENT (threads 0 or more than
 * 1024), FLOWMAP_ERR_OUT_OF_MEMORY (the system refused to start a thread).
 *
 * # Safety
 * `out_pool` is NULL or valid for one write.
 */
flowmap_status flowmap_pool_new(size_t threads, struct flowmap_pool **out_pool);

/**
 * Releases a pool: stops and joins its threads. NULL is ignored.
 *
 * # Safety
 * `pool` is NULL or a pool from flowmap_pool_new() not freed yet, which no other thread
 * uses any more.
 */
void flowmap_pool_free(struct flowmap_pool *pool);

/**
 * flowmap_sample_seeded() split over the threads of `pool`: the calling thread draws the
 * noise, then every thread of the pool samples its part of the batch. The output is
 * bit-identical to flowmap_sample_seeded()'s for the same model, steps, seed and batch,
 * whatever the number of threads. Allocates nothing once the pool has run a batch this
 * large.
 *
 * Errors: as flowmap_sample_seeded().
 *
 * # Safety
 * `model` is NULL or a live model; `pool` is NULL or a live pool, used by no other thread
 * during the call; `out` is NULL or valid for writes of batch * dim floats.
 */
flowmap_status flowmap_pool_sample_seeded(const struct flowmap_model *model,
                                          struct flowmap_pool *pool,
                                          size_t steps,
                                          uint64_t seed,
                                          size_t batch,
                                          float *out);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* FLOWMAP_H */
