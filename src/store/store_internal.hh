// Internals shared by the store's files (store.cc, store_load.cc,
// store_append.cc): sizes, a whole-buffer write, a streamed append's state.
#pragma once

#include "posthorn/core/result.hh"
#include "posthorn/store.hh"
#include "spool/segment.hh"
#include "store/index_codec.hh"

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

namespace posthorn::store::detail {

inline constexpr uint64_t index_grow_bytes = 1ull << 20;
inline constexpr size_t hash_window_bytes = 256 * 1024;
inline constexpr size_t name_bytes_max = 255;
// The index is rewritten at open past this size when most records are dead.
inline constexpr uint64_t compact_min_bytes = 1ull << 20;

inline core::result<void> pwrite_all(int fd, const char* p, size_t n, uint64_t off) {
    iovec v{const_cast<char*>(p), n};
    return spool::write_all(fd, &v, 1, off);
}

}  // namespace posthorn::store::detail

namespace posthorn::store {

// A streamed APPEND between append_begin and append_commit/abort.
struct shard_store::pending_append {
    std::string user;
    uint32_t folder_id = 0;
    uint32_t flags = 0;
    int64_t internal_date = 0;
    uint64_t segment = 0;
    uint64_t offset = 0;
    uint64_t size = 0;
    uint64_t written = 0;
    content_hasher hasher;
    mime::parser parser;   // the skeleton, parsed in the same pass as the hash
};

}  // namespace posthorn::store
