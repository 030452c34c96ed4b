/* ctorch/serialize.h — checkpoints (PyTorch's .pt/.pth ZIP + pickle format, and the legacy
 * pre-1.6 stream for reading), safetensors, and the value tree they are expressed in.
 *
 * A tour:
 *
 *     ct_value *sd = ct_value_dict(true);                      // OrderedDict
 *     ct_value_dict_set_str(sd, "fc.weight", ct_value_tensor(w, false, false));
 *     if (ct_save("model.pt", sd)) fprintf(stderr, "%s\n", ct_last_error());
 *     ct_value_release(sd);
 *
 *     ct_value *root = ct_load("model.pt", NULL);               // new reference or NULL
 *     ct_value *w2 = ct_value_dict_get_str(root, "fc.weight");  // borrowed
 *
 * All readers are written for hostile input: every size and offset is checked against the
 * bytes that are really there, nothing is allocated that the file cannot justify, only an
 * allow-list of globals is understood (nothing from a file is ever imported or called), and
 * failures set the thread-local error: CT_ERR_UNPICKLING for a bad pickle, CT_ERR_RUNTIME
 * for a bad archive/header, CT_ERR_IO for the file system.
 */
#ifndef CTORCH_SERIALIZE_H
#define CTORCH_SERIALIZE_H

#include "ctorch/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ value tree */

typedef enum ct_value_kind {
    CT_VAL_NONE = 0,
    CT_VAL_BOOL,
    CT_VAL_INT,     /* int64 */
    CT_VAL_FLOAT,   /* double */
    CT_VAL_STR,     /* UTF-8, s.data NUL-terminated, s.len bytes */
    CT_VAL_BYTES,
    CT_VAL_TUPLE,
    CT_VAL_LIST,
    CT_VAL_DICT,    /* insertion ordered; flags & CT_VALF_ORDERED for OrderedDict */
    CT_VAL_SET,
    CT_VAL_TENSOR,  /* flags: CT_VALF_PARAMETER, CT_VALF_REQUIRES_GRAD */
    CT_VAL_DTYPE,   /* i = ct_dtype */
    CT_VAL_DEVICE,  /* s = "cpu", "cuda:0", ... */
    CT_VAL_GLOBAL,  /* a user-allowed global, s = "module.name" (never resolved in C) */
    CT_VAL_OBJECT   /* obj.func (a GLOBAL) applied: REDUCE f(*args) or NEWOBJ cls.__new__(cls, *args);
                       obj.state set by BUILD (or NULL) */
} ct_value_kind;

enum {
    CT_VALF_ORDERED = 1,       /* dict: collections.OrderedDict */
    CT_VALF_PARAMETER = 2,     /* tensor: nn.Parameter */
    CT_VALF_REQUIRES_GRAD = 4, /* tensor */
    CT_VALF_NEWOBJ = 8,        /* object: made by NEWOBJ rather than REDUCE */
};

typedef struct ct_value ct_value;
struct ct_value {
    int64_t refcount;
    int kind;        /* ct_value_kind */
    uint32_t flags;
    union {
        bool b;
        int64_t i;
        double f;
        struct { char *data; size_t len; } s;
        struct { ct_value **items; size_t n, cap; } seq;           /* tuple, list, set */
        struct { ct_value **keys, **vals; size_t n, cap; uint32_t *index; size_t index_cap; } dict;
        ct_tensor *tensor;                                          /* owned reference */
        struct { ct_value *func, *args, *state; } obj;
    } u;
    ct_value *attrs; /* dict: attributes set by BUILD (OrderedDict._metadata); else NULL */
    uint32_t mark;   /* scratch for graph walks */
};

/* Constructors: new references (NULL with error set on out-of-memory). */
CT_API ct_value *ct_value_none(void);
CT_API ct_value *ct_value_bool(bool b);
CT_API ct_value *ct_value_int(int64_t i);
CT_API ct_value *ct_value_float(double f);
CT_API ct_value *ct_value_str(const char *s, size_t len);   /* copies; len (size_t)-1: strlen */
CT_API ct_value *ct_value_bytes(const void *p, size_t len);
CT_API ct_value *ct_value_tuple(size_t n);   /* n slots, fill with ct_value_seq_set */
CT_API ct_value *ct_value_list(void);
CT_API ct_value *ct_value_dict(bool ordered);
/* Borrows t (retains it). is_param: nn.Parameter. */
CT_API ct_value *ct_value_tensor(ct_tensor *t, bool is_param, bool requires_grad);
CT_API ct_value *ct_value_dtype(int dtype);
CT_API ct_value *ct_value_device(const char *s);  /* "cpu" */
CT_API ct_value *ct_value_set(void);

CT_API void ct_value_retain(ct_value *v);
CT_API void ct_value_release(ct_value *v);   /* NULL-safe */

/* Containers. The *steal* variants take over the caller's reference to item/key/val, also
 * on failure. Return 0 or -1. */
CT_API int ct_value_seq_set(ct_value *tuple, size_t i, ct_value *item);     /* steals item */
CT_API int ct_value_list_append(ct_value *list, ct_value *item);            /* steals item */
CT_API int ct_value_dict_set(ct_value *d, ct_value *key, ct_value *val);    /* steals both */
CT_API int ct_value_dict_set_str(ct_value *d, const char *key, ct_value *val); /* steals val */
/* Borrowed value for a str key, or NULL (no error set) when absent / d is not a dict. */
CT_API ct_value *ct_value_dict_get_str(const ct_value *d, const char *key);

/* ------------------------------------------------------------------ checkpoints */

typedef struct ct_load_options {
    /* Extra allowed globals as "module.name" (ctorch.serialization.add_safe_globals). They
     * come back as CT_VAL_GLOBAL / CT_VAL_OBJECT nodes for the caller to interpret. */
    const char *const *extra_globals;
    size_t n_extra_globals;
    bool mmap;        /* path loads: storages map the file (copy-on-write) instead of copying */
    size_t max_depth; /* nesting limit of the result (0: 1000) */
    /* map_location: called once per storage record after it is read, with the location the
     * file tags it with ("cpu", "cuda:0", ...). Returns the storage to use instead (a new
     * reference: s itself retained, or another storage of at least s's size), or NULL with a
     * ct error set to fail the load. NULL: every storage is used as read, whatever its location.
     * For legacy (pre-1.6) files the storage is still zero-filled when the hook sees it; its
     * bytes are read into the returned storage afterwards. */
    ct_storage *(*map_storage)(void *map_ctx, ct_storage *s, const char *location);
    void *map_ctx;
} ct_load_options;

/* Write value (a weights-only-compatible tree: dict/list/tuple/str/bytes/int/float/bool/None/
 * tensor/dtype) in PyTorch's ZIP layout. Path saves are atomic: a temporary file in the same
 * directory is written, fsync'ed and renamed over path. 0 or -1. */
CT_API int ct_save(const char *path, const ct_value *value);
/* Same into memory: *out is malloc'ed (free with free()). */
CT_API int ct_save_buffer(const ct_value *value, void **out, size_t *out_len);
/* Load a ZIP (torch >= 1.6) or legacy checkpoint. New reference or NULL. opts may be NULL. */
CT_API ct_value *ct_load(const char *path, const ct_load_options *opts);
CT_API ct_value *ct_load_buffer(const void *data, size_t len, const ct_load_options *opts);

/* State dicts (name -> tensor). ct_save_state_dict writes an OrderedDict. */
typedef struct ct_state_dict {
    size_t n;
    char **names;        /* owned */
    ct_tensor **tensors; /* owned references */
} ct_state_dict;
CT_API int ct_save_state_dict(const char *path, const char *const *names, ct_tensor *const *tensors, size_t n);
/* Loads a file whose root is a dict; entries whose value is a tensor are collected in order
 * (nested dicts are flattened with "." joins, e.g. {"model": {"w": t}} -> "model.w"). */
CT_API int ct_load_state_dict(const char *path, ct_state_dict *out);
CT_API void ct_state_dict_free(ct_state_dict *sd);

/* ------------------------------------------------------------------ building blocks */

/* CRC-32 (zlib): start with crc = 0. */
CT_API uint32_t ct_crc32(uint32_t crc, const void *data, size_t len);

/* ZIP writer in PyTorch's layout (stored, 64-byte aligned payloads, data descriptors,
 * ZIP64 end records). path NULL: in memory. */
typedef struct ct_zip_writer ct_zip_writer;
CT_API ct_zip_writer *ct_zip_writer_new(const char *path, const char *archive_name);
CT_API int ct_zip_writer_add(ct_zip_writer *w, const char *record, const void *data, size_t len);
/* Writes the central directory. For memory writers *out and *out_len receive the malloc'ed
 * archive; for path writers they may be NULL. Frees w (also on failure). */
CT_API int ct_zip_writer_finish(ct_zip_writer *w, void **out, size_t *out_len);
CT_API void ct_zip_writer_abort(ct_zip_writer *w); /* NULL-safe; removes a partial file */

/* ZIP reader over memory (borrowed; must outlive the reader) or a file (mapped). */
typedef struct ct_zip_reader ct_zip_reader;
CT_API ct_zip_reader *ct_zip_reader_open_mem(const void *data, size_t len);
CT_API ct_zip_reader *ct_zip_reader_open_file(const char *path);
CT_API void ct_zip_reader_close(ct_zip_reader *r);
CT_API size_t ct_zip_reader_count(const ct_zip_reader *r);
/* Record name (archive prefix stripped; borrowed), payload (borrowed) and size of entry i. */
CT_API const char *ct_zip_reader_name(const ct_zip_reader *r, size_t i);
/* Finds a record by name (prefix stripped). Returns 0 and sets *data and *len, or -1 (no error
 * set) when absent. */
CT_API int ct_zip_reader_find(const ct_zip_reader *r, const char *record, const void **data, size_t *len);
/* A storage over the record's bytes: a copy, or (mapped file readers) a copy-on-write
 * mapping that keeps the file mapped while it lives. New reference. */
CT_API ct_storage *ct_zip_reader_storage(ct_zip_reader *r, const char *record, bool share);

/* Pickle layer (used by the Python binding for the non-weights-only path too). */
/* Unpickle data.pkl of an open archive. New reference or NULL. */
CT_API ct_value *ct_unpickle_zip(ct_zip_reader *r, const ct_load_options *opts);
/* Pickle value (protocol 2, memoized as Python does) and the storages it references into a
 * writer: data.pkl first, then the bookkeeping records, data/N, version, serialization id. */
CT_API int ct_pickle_to_zip(ct_zip_writer *w, const ct_value *value);

/* ------------------------------------------------------------------ safetensors */

typedef struct ct_st_entry {
    char *name;
    char dtype[16];      /* "F32", ... */
    int ct_dtype;        /* -1 when ctorch has no such dtype */
    int ndim;
    int64_t shape[CT_MAX_DIM];
    uint64_t begin, end; /* relative to the data buffer */
} ct_st_entry;

typedef struct ct_st_file ct_st_file;
/* Parse and validate (FORMATS.md 3.2). open_mem borrows data; open_file maps the file. */
CT_API ct_st_file *ct_st_open_mem(const void *data, size_t len);
CT_API ct_st_file *ct_st_open_file(const char *path);
CT_API void ct_st_close(ct_st_file *f);
CT_API size_t ct_st_count(const ct_st_file *f);
CT_API const ct_st_entry *ct_st_entry_at(const ct_st_file *f, size_t i); /* header order */
CT_API const ct_st_entry *ct_st_find(const ct_st_file *f, const char *name);
CT_API size_t ct_st_metadata_count(const ct_st_file *f);
CT_API int ct_st_metadata_at(const ct_st_file *f, size_t i, const char **key, const char **val);
/* Tensor for an entry (a copy, or a mapping for file readers when share). New reference. */
CT_API ct_tensor *ct_st_get_tensor(ct_st_file *f, const char *name, bool share);
/* Write tensors (any layout; written contiguous) and metadata. path NULL: into *out
 * (malloc'ed). 0 or -1. */
CT_API int ct_st_save(const char *path, const char *const *names, ct_tensor *const *tensors, size_t n,
                      const char *const *meta_keys, const char *const *meta_vals, size_t n_meta, void **out,
                      size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
