/* Shared-memory storages: a storage moved into a POSIX shared-memory object can be opened
 * by another process (DataLoader workers hand batches to the main process this way, so
 * tensor bytes are never pickled). The receiver unlinks the name after mapping it: a
 * shared storage is meant to be received once. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

typedef struct {
    size_t len;
    char name[96];
} shm_ctx;

static char shm_prefix[64] = "";
static int64_t shm_counter = 0;

void ct_shm_set_prefix(const char *prefix) { snprintf(shm_prefix, sizeof shm_prefix, "%s", prefix ? prefix : ""); }

static void shm_deleter(void *data, void *ctx) {
    shm_ctx *c = ctx;
    if (data && c->len) munmap(data, c->len);
    free(c);
}

bool ct_storage_is_shared(const ct_storage *s) { return s->deleter == shm_deleter; }

const char *ct_storage_shm_name(const ct_storage *s) {
    return ct_storage_is_shared(s) ? ((const shm_ctx *)s->deleter_ctx)->name : NULL;
}

/* Move s's bytes into a new shared-memory object (in place: every view sees it). */
int ct_storage_share(ct_storage *s) {
    if (ct_storage_is_shared(s)) return 0;
    if (!s->owned && s->deleter)
        return ct_errorf(CT_ERR_RUNTIME, "[share_memory_] cannot move a storage that wraps foreign memory");
    shm_ctx *c = calloc(1, sizeof *c);
    if (!c) return ct_errorf(CT_ERR_MEMORY, "[share_memory_] out of memory");
    int64_t k = __atomic_fetch_add(&shm_counter, 1, __ATOMIC_RELAXED);
    snprintf(c->name, sizeof c->name, "/ctorch.%s%d.%lld", shm_prefix, (int)getpid(), (long long)k);
    size_t len = s->nbytes ? s->nbytes : 1;
    int fd = shm_open(c->name, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0) {
        free(c);
        return ct_errorf(CT_ERR_IO, "[share_memory_] shm_open failed: %s", strerror(errno));
    }
    if (ftruncate(fd, (off_t)len) != 0) {
        int e = errno;
        close(fd);
        shm_unlink(c->name);
        free(c);
        return ct_errorf(CT_ERR_IO, "[share_memory_] ftruncate failed: %s", strerror(e));
    }
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        shm_unlink(c->name);
        free(c);
        return ct_errorf(CT_ERR_IO, "[share_memory_] mmap failed: %s", strerror(errno));
    }
    if (s->nbytes) memcpy(p, s->data, s->nbytes);
    if (s->owned && !s->inline_data) ct_free_bytes(s->data);
    c->len = len;
    s->data = p;
    s->owned = false;
    s->inline_data = false;
    s->deleter = shm_deleter;
    s->deleter_ctx = c;
    return 0;
}

/* Map a shared-memory object created by ct_storage_share in another process, and unlink
 * its name. New reference. */
ct_storage *ct_storage_open_shared(const char *name, size_t nbytes) {
    if (!name || name[0] != '/' || strchr(name + 1, '/'))
        return ct_error(CT_ERR_VALUE, "[shared storage] invalid name");
    int fd = shm_open(name, O_RDWR, 0600);
    if (fd < 0) return ct_error(CT_ERR_IO, "[shared storage] cannot open %s: %s", name, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < nbytes) {
        close(fd);
        shm_unlink(name);
        return ct_error(CT_ERR_IO, "[shared storage] %s is smaller than the %zu bytes expected", name, nbytes);
    }
    size_t len = (size_t)st.st_size;
    void *p = mmap(NULL, len ? len : 1, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    shm_unlink(name);
    if (p == MAP_FAILED) return ct_error(CT_ERR_IO, "[shared storage] mmap failed: %s", strerror(errno));
    shm_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        munmap(p, len ? len : 1);
        return ct_error(CT_ERR_MEMORY, "[shared storage] out of memory");
    }
    c->len = len ? len : 1;
    snprintf(c->name, sizeof c->name, "%s", name);
    ct_storage *s = ct_storage_wrap(p, nbytes, shm_deleter, c);
    if (!s) shm_deleter(p, c);
    return s;
}
