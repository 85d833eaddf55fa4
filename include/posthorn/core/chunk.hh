// Receive buffers: fixed-size chunks from one pool per shard, handed out as
// refcounted references and slices so a protocol session and the spool can
// hold received bytes without copying them (STYLE.md #9).
//
// Threading: shard-local, not thread-safe; refcounts are plain integers.
// Limits: the pool is a fixed number of chunks in one mapping made at start;
// acquire() returns an empty ref when none is free (the caller applies
// backpressure), it never grows. A chunk is never resized under a reader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace posthorn::core {

class chunk_pool;

struct chunk {
    char* data = nullptr;
    uint32_t capacity = 0;
    uint32_t refs = 0;
    uint32_t index = 0;          // position in the pool; the io_uring buffer id
    chunk_pool* pool = nullptr;
};

// An owning handle on a chunk (intrusive refcount).
class chunk_ref {
public:
    chunk_ref() = default;
    explicit chunk_ref(chunk* c) noexcept : _c(c) { if (_c) ++_c->refs; }
    chunk_ref(const chunk_ref& o) noexcept : _c(o._c) { if (_c) ++_c->refs; }
    chunk_ref(chunk_ref&& o) noexcept : _c(std::exchange(o._c, nullptr)) {}
    chunk_ref& operator=(chunk_ref o) noexcept { std::swap(_c, o._c); return *this; }
    ~chunk_ref() { reset(); }

    void reset() noexcept;
    explicit operator bool() const noexcept { return _c != nullptr; }
    chunk* get() const noexcept { return _c; }
    char* data() const noexcept { return _c->data; }
    uint32_t capacity() const noexcept { return _c->capacity; }

private:
    chunk* _c = nullptr;
};

// A range of bytes inside a chunk; keeps the chunk alive. The bytes are
// writable: a session may rewrite them in place (dot-unstuffing).
struct slice {
    chunk_ref owner;
    uint32_t offset = 0;
    uint32_t length = 0;

    char* data() const noexcept { return owner.data() + offset; }
    std::string_view view() const noexcept { return {data(), length}; }
    bool empty() const noexcept { return length == 0; }
    // The first n bytes / all but the first n bytes, sharing the chunk.
    slice prefix(uint32_t n) const { return slice{owner, offset, n}; }
    slice suffix_from(uint32_t n) const { return slice{owner, offset + n, length - n}; }
};

class chunk_pool {
public:
    // Called when the last reference to a chunk goes away, instead of putting
    // it on the free list (the io_uring backend returns it to its buffer ring).
    using release_hook = void (*)(void* ctx, chunk* c) noexcept;

    chunk_pool(uint32_t chunk_bytes, uint32_t chunk_count);
    ~chunk_pool();
    chunk_pool(const chunk_pool&) = delete;
    chunk_pool& operator=(const chunk_pool&) = delete;

    chunk_ref acquire() noexcept;              // empty when the pool is exhausted
    chunk_ref adopt(uint32_t index) noexcept;  // a chunk the kernel filled (buffer ring)
    // Takes a free chunk for good, e.g. to seed a buffer ring; returns its
    // index, or UINT32_MAX when none is free. From then on the chunk comes
    // back through the release hook, never to the free list.
    uint32_t take_for_ring() noexcept;

    void set_release_hook(release_hook hook, void* ctx) noexcept { _hook = hook; _hook_ctx = ctx; }
    void on_last_release(chunk* c) noexcept;

    chunk& at(uint32_t index) noexcept { return _chunks[index]; }
    uint32_t chunk_bytes() const noexcept { return _chunk_bytes; }
    uint32_t chunk_count() const noexcept { return static_cast<uint32_t>(_chunks.size()); }
    uint32_t free_count() const noexcept { return static_cast<uint32_t>(_free.size()); }
    char* region() const noexcept { return _region; }
    size_t region_bytes() const noexcept { return _region_bytes; }

private:
    char* _region = nullptr;
    size_t _region_bytes = 0;
    uint32_t _chunk_bytes;
    std::vector<chunk> _chunks;
    std::vector<uint32_t> _free;
    std::vector<bool> _in_ring;
    release_hook _hook = nullptr;
    void* _hook_ctx = nullptr;
};

inline void chunk_ref::reset() noexcept {
    if (_c && --_c->refs == 0) _c->pool->on_last_release(_c);
    _c = nullptr;
}

}  // namespace posthorn::core
