/*
 * The part of DuckDB's stable C API (duckdb.h) that arrow-batches.c uses, declared here so that
 * the addon builds against the libduckdb.so that @duckdb/node-bindings ships, which comes
 * without its header. Layouts and signatures are those of duckdb.h since 1.0 (the C API's
 * stable part keeps them); the tests (duckdb-native.test.ts, demo-scan-paths.test.ts) check
 * them in practice.
 */
#ifndef WARDEN_DUCKDB_CAPI_H
#define WARDEN_DUCKDB_CAPI_H

#include <stdint.h>

typedef uint64_t idx_t;

typedef struct {
  idx_t deprecated_column_count;
  idx_t deprecated_row_count;
  idx_t deprecated_rows_changed;
  void *deprecated_columns;
  char *deprecated_error_message;
  void *internal_data;
} duckdb_result;

typedef struct _duckdb_data_chunk { void *internal_ptr; } *duckdb_data_chunk;
typedef struct _duckdb_vector { void *internal_ptr; } *duckdb_vector;

typedef struct {
  uint64_t lower;
  int64_t upper;
} duckdb_hugeint;

typedef struct {
  uint8_t width;
  uint8_t scale;
  duckdb_hugeint value;
} duckdb_decimal;

/* duckdb_string_t: a length, then up to 12 bytes inline, or a 4-byte prefix and a pointer. */
typedef struct {
  uint32_t length;
  char inlined[12];
} duckdb_string_inlined;

typedef struct {
  uint32_t length;
  char prefix[4];
  const char *pointer;
} duckdb_string_pointer;

#define DUCKDB_STRING_INLINE_LENGTH 12

duckdb_data_chunk duckdb_fetch_chunk(duckdb_result result);
void duckdb_destroy_data_chunk(duckdb_data_chunk *chunk);
idx_t duckdb_data_chunk_get_size(duckdb_data_chunk chunk);
idx_t duckdb_data_chunk_get_column_count(duckdb_data_chunk chunk);
duckdb_vector duckdb_data_chunk_get_vector(duckdb_data_chunk chunk, idx_t column);
void *duckdb_vector_get_data(duckdb_vector vector);
uint64_t *duckdb_vector_get_validity(duckdb_vector vector);
const char *duckdb_result_error(duckdb_result *result);
double duckdb_decimal_to_double(duckdb_decimal value);

#endif
