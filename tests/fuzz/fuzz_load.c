/* libFuzzer target: every input is fed to the checkpoint loader (ZIP or legacy stream) and
 * the safetensors parser; both must return a value or a clean error, never crash, hang,
 * leak or allocate more than the input justifies. Built by tools/test.sh with
 * clang -fsanitize=fuzzer,address,undefined when clang is available, and run from a corpus of
 * real torch checkpoints generated at test time (tools/make_fuzz_corpus.py). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ctorch/ctorch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const extra[] = {"my.mod.Thing"};
    ct_load_options opts = {extra, 1, false, 0, NULL, NULL};
    ct_value *v = ct_load_buffer(data, size, &opts);
    ct_value_release(v);
    ct_clear_error();
    /* the same bytes as data.pkl of a valid archive: reaches the unpickler directly */
    ct_zip_writer *w = ct_zip_writer_new(NULL, "archive");
    static const unsigned char storage[64];
    void *zip = NULL;
    size_t zlen = 0;
    if (w && !ct_zip_writer_add(w, "data.pkl", data, size) && !ct_zip_writer_add(w, "data/0", storage, sizeof storage) &&
        !ct_zip_writer_add(w, "version", "3\n", 2) && !ct_zip_writer_finish(w, &zip, &zlen)) {
        v = ct_load_buffer(zip, zlen, &opts);
        ct_value_release(v);
        free(zip);
    } else if (w) {
        ct_zip_writer_abort(w);
    }
    ct_clear_error();
    ct_st_file *f = ct_st_open_mem(data, size);
    if (f) {
        for (size_t i = 0; i < ct_st_count(f); i++) {
            ct_tensor *t = ct_st_get_tensor(f, ct_st_entry_at(f, i)->name, false);
            ct_tensor_release(t);
        }
        ct_st_close(f);
    }
    ct_clear_error();
    return 0;
}
