/*
 * Arrow record batches from a DuckDB streaming result, built in C (a Node-API addon).
 *
 * A fetch runs on a libuv worker thread: it takes DuckDB's chunks from the result, copies each
 * into Arrow's buffer layout (validity bits, values, UTF-8 offsets and bytes) until the batch
 * is full, and frees the chunk at once. The batch's buffers then go to JavaScript as external
 * ArrayBuffers, without a copy, unmapped when V8 collects them; batches.ts wraps them as
 * apache-arrow Data. Nothing here knows about Arrow's IPC format.
 *
 * Buffers are mappings of their own (mmap, grown by mremap without a copy), not malloc's:
 * freeing one gives its memory back to the system at once, where batches of a few megabytes
 * filled on worker threads and freed on the JavaScript thread could linger in malloc's
 * per-thread arenas (docs/benchmarks.md, Memory).
 *
 * The result and chunks come as the N-API externals of @duckdb/node-bindings, whose data
 * pointers are the `duckdb_result *` and the `duckdb_data_chunk`. This addon links to the
 * same libduckdb.so, which @duckdb/node-bindings has loaded before (native.ts sees to that).
 */
#define _GNU_SOURCE /* mremap */
#define NAPI_VERSION 8
#include <node_api.h>
#include <sys/mman.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "duckdb-capi.h"

/* Column kinds, numbered as in native.ts. */
enum column_kind {
  KIND_FIXED = 0,   /* values already in Arrow's layout: integers, floats, date, timestamps */
  KIND_BOOL = 1,    /* one byte per value in DuckDB, one bit in Arrow */
  KIND_UTF8 = 2,    /* duckdb_string_t to offsets and bytes */
  KIND_DECIMAL = 3  /* to float64, by DuckDB's own duckdb_decimal_to_double */
};

/* Offsets of a batch's strings are int32 (Arrow's Utf8). */
#define MAX_UTF8_BYTES ((size_t)INT32_MAX)

typedef struct {
  uint8_t *data;
  size_t length;   /* bytes in use */
  size_t capacity;
} buffer;

typedef struct {
  enum column_kind kind;
  uint32_t width;  /* bytes per value in DuckDB's vector (FIXED, DECIMAL) */
  uint8_t decimal_width;
  uint8_t decimal_scale;
  buffer validity; /* Arrow validity bits; allocated at the batch's first null */
  buffer values;   /* fixed-width values, bits (BOOL), UTF-8 bytes */
  buffer offsets;  /* UTF8: int32 end offsets after offsets[0] = 0 */
  size_t nulls;
  size_t values_hint; /* the largest batch so far: the next one starts that big */
  size_t offsets_hint;
} column;

typedef struct {
  duckdb_result *result;
  napi_ref result_ref;  /* keeps the result's external, so the result, alive */
  size_t column_count;
  column *columns;
  size_t rows;          /* rows of the batch being built */
  bool ended;           /* the result gave its last chunk */
  bool busy;            /* a fetch is running on a worker thread */
  napi_async_work work; /* the fetch in flight */
  napi_deferred deferred;
  napi_ref self_ref;    /* keeps this scan alive while its fetch runs */
  size_t max_rows;
  size_t max_bytes;
  char error[1024];     /* what went wrong on the worker thread */
} scan;

/* -- buffers ------------------------------------------------------------------------------ */

static size_t page_size;
/* Bytes mapped for buffers, in batches being built or handed over and not yet collected. */
static _Atomic int64_t mapped_bytes;

static size_t whole_pages(size_t bytes) {
  return (bytes + page_size - 1) & ~(page_size - 1);
}

static bool reserve(buffer *b, size_t extra, size_t hint) {
  size_t needed = b->length + extra;
  if (needed <= b->capacity) return true;
  size_t capacity = b->capacity ? b->capacity * 2 : whole_pages(hint > page_size ? hint : page_size);
  while (capacity < needed) capacity *= 2;
  void *grown = b->capacity ? mremap(b->data, b->capacity, capacity, MREMAP_MAYMOVE)
                            : mmap(NULL, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (grown == MAP_FAILED) return false;
  mapped_bytes += (int64_t)(capacity - b->capacity);
  b->data = grown;
  b->capacity = capacity;
  return true;
}

static void unmap(void *data, size_t capacity) {
  munmap(data, capacity);
  mapped_bytes -= (int64_t)capacity;
}

static void release(buffer *b) {
  if (b->capacity) unmap(b->data, b->capacity);
  *b = (buffer){0};
}

/* Grows a bit buffer to hold `bits` bits, the new bytes zeroed (bits are OR-ed in). */
static bool grow_bits(buffer *b, size_t bits, size_t hint) {
  size_t bytes = (bits + 7) >> 3;
  if (bytes <= b->length) return true;
  if (!reserve(b, bytes - b->length, hint)) return false;
  memset(b->data + b->length, 0, bytes - b->length);
  b->length = bytes;
  return true;
}

static void set_ones(uint8_t *bits, size_t at, size_t n) {
  size_t end = at + n;
  for (; at < end && (at & 7); at++) bits[at >> 3] |= (uint8_t)(1u << (at & 7));
  if (end - at >= 8) {
    memset(bits + (at >> 3), 0xff, (end - at) >> 3);
    at += (end - at) & ~(size_t)7;
  }
  for (; at < end; at++) bits[at >> 3] |= (uint8_t)(1u << (at & 7));
}

/* ORs n bits of `source` (LSB first, as DuckDB's validity words on a little-endian machine)
 * into zeroed `bits` from bit `at` on. */
static void copy_bits(uint8_t *bits, size_t at, const uint8_t *source, size_t n) {
  uint8_t *out = bits + (at >> 3);
  unsigned shift = at & 7;
  size_t whole = n >> 3;
  unsigned rest = n & 7;
  if (shift == 0) {
    memcpy(out, source, whole);
    if (rest) out[whole] = source[whole] & (uint8_t)((1u << rest) - 1);
    return;
  }
  for (size_t i = 0; i < whole; i++) {
    out[i] |= (uint8_t)(source[i] << shift);
    out[i + 1] = (uint8_t)(source[i] >> (8 - shift));
  }
  if (rest) {
    uint8_t last = source[whole] & (uint8_t)((1u << rest) - 1);
    out[whole] |= (uint8_t)(last << shift);
    if (shift + rest > 8) out[whole + 1] = (uint8_t)(last >> (8 - shift));
  }
}

static inline bool is_valid(const uint64_t *mask, size_t row) {
  return !mask || ((mask[row >> 6] >> (row & 63)) & 1);
}

static size_t count_nulls(const uint64_t *mask, size_t n) {
  if (!mask) return 0;
  size_t valid = 0;
  for (size_t w = 0; w < (n >> 6); w++) valid += (size_t)__builtin_popcountll(mask[w]);
  if (n & 63) valid += (size_t)__builtin_popcountll(mask[n >> 6] & ((UINT64_C(1) << (n & 63)) - 1));
  return n - valid;
}

/* -- one chunk into the batch ------------------------------------------------------------- */

static bool fail(scan *s, const char *message) {
  snprintf(s->error, sizeof s->error, "%s", message);
  return false;
}

/* Validity of rows [at, at + n); returns false when out of memory. */
static bool append_validity(column *c, size_t at, const uint64_t *mask, size_t n, size_t nulls) {
  if (!c->validity.data) {
    if (nulls == 0) return true;
    /* The batch's first null: the rows before it were all valid. */
    if (!grow_bits(&c->validity, at + n, 0)) return false;
    set_ones(c->validity.data, 0, at);
  } else if (!grow_bits(&c->validity, at + n, 0)) {
    return false;
  }
  if (nulls == 0) set_ones(c->validity.data, at, n);
  else copy_bits(c->validity.data, at, (const uint8_t *)mask, n);
  c->nulls += nulls;
  return true;
}

static bool append_column(scan *s, column *c, duckdb_vector vector, size_t at, size_t n) {
  const uint8_t *data = duckdb_vector_get_data(vector);
  const uint64_t *mask = duckdb_vector_get_validity(vector);
  size_t nulls = count_nulls(mask, n);
  if (nulls == 0) mask = NULL;
  if (!append_validity(c, at, mask, n, nulls)) return fail(s, "out of memory for a validity bitmap");

  switch (c->kind) {
    case KIND_FIXED: {
      size_t bytes = n * c->width;
      if (!reserve(&c->values, bytes, c->values_hint)) return fail(s, "out of memory for column values");
      uint8_t *out = c->values.data + c->values.length;
      memcpy(out, data, bytes);
      /* What DuckDB's memory holds under a null is whatever was there before (another row's
       * value, possibly one a row filter removed): it does not leave the service. */
      if (mask) {
        for (size_t r = 0; r < n; r++) {
          if (!is_valid(mask, r)) memset(out + r * c->width, 0, c->width);
        }
      }
      c->values.length += bytes;
      return true;
    }
    case KIND_BOOL: {
      if (!grow_bits(&c->values, at + n, c->values_hint)) return fail(s, "out of memory for column values");
      for (size_t r = 0; r < n; r++) {
        if (data[r] && is_valid(mask, r)) c->values.data[(at + r) >> 3] |= (uint8_t)(1u << ((at + r) & 7));
      }
      return true;
    }
    case KIND_DECIMAL: {
      if (!reserve(&c->values, n * sizeof(double), c->values_hint)) return fail(s, "out of memory for column values");
      double *out = (double *)(c->values.data + c->values.length);
      for (size_t r = 0; r < n; r++) {
        if (!is_valid(mask, r)) {
          out[r] = 0;
          continue;
        }
        duckdb_decimal decimal = {.width = c->decimal_width, .scale = c->decimal_scale};
        const uint8_t *value = data + r * c->width;
        int64_t small = 0;
        switch (c->width) {
          case 2: { int16_t v; memcpy(&v, value, 2); small = v; break; }
          case 4: { int32_t v; memcpy(&v, value, 4); small = v; break; }
          case 8: { memcpy(&small, value, 8); break; }
          default: memcpy(&decimal.value, value, sizeof decimal.value); break;
        }
        if (c->width != 16) {
          decimal.value.lower = (uint64_t)small;
          decimal.value.upper = small < 0 ? -1 : 0;
        }
        out[r] = duckdb_decimal_to_double(decimal);
      }
      c->values.length += n * sizeof(double);
      return true;
    }
    case KIND_UTF8: {
      const duckdb_string_inlined *strings = (const duckdb_string_inlined *)data;
      if (c->offsets.length == 0) {
        if (!reserve(&c->offsets, sizeof(int32_t), c->offsets_hint)) return fail(s, "out of memory for string offsets");
        memset(c->offsets.data, 0, sizeof(int32_t));
        c->offsets.length = sizeof(int32_t);
      }
      size_t bytes = 0;
      for (size_t r = 0; r < n; r++) {
        if (is_valid(mask, r)) bytes += strings[r].length;
      }
      if (c->values.length + bytes > MAX_UTF8_BYTES) return fail(s, "over 2 GiB of text in one column of one batch");
      if (!reserve(&c->values, bytes, c->values_hint) || !reserve(&c->offsets, n * sizeof(int32_t), c->offsets_hint)) {
        return fail(s, "out of memory for strings");
      }
      int32_t *offsets = (int32_t *)(c->offsets.data + c->offsets.length);
      uint8_t *out = c->values.data;
      size_t end = c->values.length;
      for (size_t r = 0; r < n; r++) {
        if (is_valid(mask, r)) {
          uint32_t length = strings[r].length;
          const char *source = length <= DUCKDB_STRING_INLINE_LENGTH
                                   ? strings[r].inlined
                                   : ((const duckdb_string_pointer *)&strings[r])->pointer;
          memcpy(out + end, source, length);
          end += length;
        }
        offsets[r] = (int32_t)end;
      }
      c->values.length = end;
      c->offsets.length += n * sizeof(int32_t);
      return true;
    }
  }
  return fail(s, "unknown column kind");
}

static bool append_chunk(scan *s, duckdb_data_chunk chunk) {
  size_t n = duckdb_data_chunk_get_size(chunk);
  if (duckdb_data_chunk_get_column_count(chunk) != s->column_count) return fail(s, "a chunk's columns differ from the result's");
  for (size_t i = 0; i < s->column_count; i++) {
    if (!append_column(s, &s->columns[i], duckdb_data_chunk_get_vector(chunk, i), s->rows, n)) return false;
  }
  s->rows += n;
  return true;
}

static size_t batch_bytes(const scan *s) {
  size_t bytes = 0;
  for (size_t i = 0; i < s->column_count; i++) {
    const column *c = &s->columns[i];
    bytes += c->values.length + c->offsets.length + c->validity.length;
  }
  return bytes;
}

/* -- the batch to JavaScript -------------------------------------------------------------- */

/* The finalizer of a handed-over buffer: its capacity comes as the hint. */
static void unmap_buffer(napi_env env, void *data, void *capacity) {
  int64_t ignored;
  unmap(data, (size_t)capacity);
  napi_adjust_external_memory(env, -(int64_t)(size_t)capacity, &ignored);
}

/* The buffer as an ArrayBuffer JavaScript owns (no copy); the column starts a new one. */
static napi_status hand_over(napi_env env, buffer *b, napi_value *out) {
  napi_status status;
  if (b->length == 0) {
    release(b);
    return napi_create_arraybuffer(env, 0, NULL, out);
  }
  status = napi_create_external_arraybuffer(env, b->data, b->length, unmap_buffer, (void *)b->capacity, out);
  if (status != napi_ok) release(b);
  else {
    int64_t ignored;
    napi_adjust_external_memory(env, (int64_t)b->capacity, &ignored);
  }
  *b = (buffer){0};
  return status;
}

/* [rows, ended, then per column: nulls, validity (null when none), offsets, values] */
static napi_value take_batch(napi_env env, scan *s) {
  napi_value array, value;
  uint32_t index = 0;
  if (napi_create_array_with_length(env, 2 + 4 * s->column_count, &array) != napi_ok) return NULL;
  napi_create_double(env, (double)s->rows, &value);
  napi_set_element(env, array, index++, value);
  napi_get_boolean(env, s->ended, &value);
  napi_set_element(env, array, index++, value);
  for (size_t i = 0; i < s->column_count; i++) {
    column *c = &s->columns[i];
    if (c->values.length > c->values_hint) c->values_hint = c->values.length;
    if (c->offsets.length > c->offsets_hint) c->offsets_hint = c->offsets.length;
    napi_create_double(env, (double)c->nulls, &value);
    napi_set_element(env, array, index++, value);
    if (c->nulls == 0) {
      release(&c->validity);
      napi_get_null(env, &value);
    } else if (hand_over(env, &c->validity, &value) != napi_ok) {
      return NULL;
    }
    napi_set_element(env, array, index++, value);
    if (hand_over(env, &c->offsets, &value) != napi_ok) return NULL;
    napi_set_element(env, array, index++, value);
    if (hand_over(env, &c->values, &value) != napi_ok) return NULL;
    napi_set_element(env, array, index++, value);
    c->nulls = 0;
  }
  s->rows = 0;
  return array;
}

/* -- Node-API functions ------------------------------------------------------------------- */

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, "WARDEN_NATIVE_ARROW", message);
  return NULL;
}

/* The batch being built, dropped: after a failure its rows will not be sent. */
static void drop_batch(scan *s) {
  for (size_t i = 0; i < s->column_count; i++) {
    column *c = &s->columns[i];
    release(&c->validity);
    release(&c->values);
    release(&c->offsets);
    c->nulls = 0;
  }
  s->rows = 0;
}

static void free_scan(napi_env env, void *data, void *hint) {
  (void)hint;
  scan *s = data;
  drop_batch(s);
  free(s->columns);
  if (s->result_ref) napi_delete_reference(env, s->result_ref);
  free(s);
}

static scan *scan_of(napi_env env, napi_value value) {
  void *data = NULL;
  if (napi_get_value_external(env, value, &data) != napi_ok || !data) {
    throw_error(env, "not a native scan");
    return NULL;
  }
  return data;
}

/* open(result: external, spec: Int32Array of [kind, width, decimalWidth, decimalScale] per
 * column, ended: whether JavaScript already saw the result's last chunk): scan */
static napi_value open_scan(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *result = NULL;
  bool ended = false;
  if (argc < 3 || napi_get_value_external(env, argv[0], &result) != napi_ok || !result ||
      napi_get_value_bool(env, argv[2], &ended) != napi_ok) {
    return throw_error(env, "open: takes a DuckDB result external, an Int32Array and a boolean");
  }
  napi_typedarray_type type;
  size_t length;
  void *spec;
  if (napi_get_typedarray_info(env, argv[1], &type, &length, &spec, NULL, NULL) != napi_ok || type != napi_int32_array || length % 4) {
    return throw_error(env, "open: the second argument must be an Int32Array of 4 numbers per column");
  }
  scan *s = calloc(1, sizeof *s);
  if (!s) return throw_error(env, "open: out of memory");
  s->result = result;
  s->ended = ended;
  s->column_count = length / 4;
  s->columns = calloc(s->column_count ? s->column_count : 1, sizeof *s->columns);
  if (!s->columns) {
    free(s);
    return throw_error(env, "open: out of memory");
  }
  const int32_t *fields = spec;
  for (size_t i = 0; i < s->column_count; i++) {
    column *c = &s->columns[i];
    c->kind = (enum column_kind)fields[4 * i];
    c->width = (uint32_t)fields[4 * i + 1];
    c->decimal_width = (uint8_t)fields[4 * i + 2];
    c->decimal_scale = (uint8_t)fields[4 * i + 3];
    bool known = (c->kind == KIND_FIXED && (c->width == 1 || c->width == 2 || c->width == 4 || c->width == 8)) ||
                 c->kind == KIND_BOOL || c->kind == KIND_UTF8 ||
                 (c->kind == KIND_DECIMAL && (c->width == 2 || c->width == 4 || c->width == 8 || c->width == 16));
    if (!known) {
      free(s->columns);
      free(s);
      return throw_error(env, "open: a column kind or width this addon does not know");
    }
  }
  napi_value external;
  if (napi_create_reference(env, argv[0], 1, &s->result_ref) != napi_ok ||
      napi_create_external(env, s, free_scan, NULL, &external) != napi_ok) {
    free_scan(env, s, NULL);
    return throw_error(env, "open: could not create the scan");
  }
  return external;
}

/* append(scan, chunk: external): copies a chunk fetched by JavaScript into the batch. */
static napi_value append(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  scan *s = argc < 2 ? NULL : scan_of(env, argv[0]);
  if (!s) return NULL;
  void *chunk = NULL;
  if (napi_get_value_external(env, argv[1], &chunk) != napi_ok || !chunk) return throw_error(env, "append: not a DuckDB chunk external");
  if (s->busy) return throw_error(env, "append: a fetch is running");
  s->error[0] = 0;
  if (!append_chunk(s, chunk)) return throw_error(env, s->error);
  return NULL;
}

static void fetch_execute(napi_env env, void *data) {
  (void)env;
  scan *s = data;
  while (!s->ended && s->rows < s->max_rows && batch_bytes(s) < s->max_bytes) {
    duckdb_data_chunk chunk = duckdb_fetch_chunk(*s->result);
    if (!chunk || duckdb_data_chunk_get_size(chunk) == 0) {
      if (chunk) duckdb_destroy_data_chunk(&chunk);
      s->ended = true;
      /* A stream that failed ends as one that is exhausted: only the result's error tells a
       * truncated answer from a complete one (engine/duckdb/open-stream.ts, nextChunk). */
      const char *error = duckdb_result_error(s->result);
      if (error) fail(s, error);
      return;
    }
    bool ok = append_chunk(s, chunk);
    duckdb_destroy_data_chunk(&chunk);
    if (!ok) {
      s->ended = true;
      return;
    }
  }
}

static void fetch_complete(napi_env env, napi_status status, void *data) {
  scan *s = data;
  napi_deferred deferred = s->deferred;
  napi_delete_async_work(env, s->work);
  s->busy = false;
  napi_value outcome = NULL;
  if (status == napi_ok && !s->error[0]) outcome = take_batch(env, s);
  if (outcome) {
    napi_resolve_deferred(env, deferred, outcome);
  } else {
    drop_batch(s);
    napi_value message, error;
    napi_create_string_utf8(env, s->error[0] ? s->error : "the fetch failed", NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &error);
    napi_reject_deferred(env, deferred, error);
  }
  napi_delete_reference(env, s->self_ref);
  s->self_ref = NULL;
}

/* fetch(scan, maxRows, maxBytes): Promise of the next batch (see take_batch), built on a
 * worker thread from the chunks appended so far and as many more as fill it. */
static napi_value fetch(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  scan *s = argc < 3 ? NULL : scan_of(env, argv[0]);
  if (!s) return NULL;
  if (s->busy) return throw_error(env, "fetch: a fetch is running");
  double max_rows, max_bytes;
  if (napi_get_value_double(env, argv[1], &max_rows) != napi_ok || napi_get_value_double(env, argv[2], &max_bytes) != napi_ok ||
      max_rows < 1 || max_bytes < 1) {
    return throw_error(env, "fetch: maxRows and maxBytes must be positive numbers");
  }
  s->max_rows = (size_t)max_rows;
  s->max_bytes = (size_t)max_bytes;
  s->error[0] = 0;
  napi_value promise, name;
  napi_create_string_utf8(env, "warden:duckdb-arrow-fetch", NAPI_AUTO_LENGTH, &name);
  if (napi_create_promise(env, &s->deferred, &promise) != napi_ok ||
      napi_create_reference(env, argv[0], 1, &s->self_ref) != napi_ok ||
      napi_create_async_work(env, NULL, name, fetch_execute, fetch_complete, s, &s->work) != napi_ok ||
      napi_queue_async_work(env, s->work) != napi_ok) {
    return throw_error(env, "fetch: could not start the fetch");
  }
  s->busy = true;
  return promise;
}

/* mappedBytes(): bytes of buffers this addon holds (built, or handed over and not collected). */
static napi_value mapped(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value value;
  napi_create_double(env, (double)mapped_bytes, &value);
  return value;
}

NAPI_MODULE_INIT() {
  page_size = (size_t)sysconf(_SC_PAGESIZE);
  napi_property_descriptor functions[] = {
      {"open", NULL, open_scan, NULL, NULL, NULL, napi_default, NULL},
      {"append", NULL, append, NULL, NULL, NULL, napi_default, NULL},
      {"fetch", NULL, fetch, NULL, NULL, NULL, napi_default, NULL},
      {"mappedBytes", NULL, mapped, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
  return exports;
}
