// The chunk pool: one anonymous mapping cut into equal chunks. Pages are
// touched only when a chunk is first used, so an idle shard stays small.
#include "posthorn/core/chunk.hh"
#include "posthorn/core/panic.hh"

#include <sys/mman.h>

namespace posthorn::core {

chunk_pool::chunk_pool(uint32_t chunk_bytes, uint32_t chunk_count) : _chunk_bytes(chunk_bytes) {
    PH_ASSERT(chunk_bytes > 0 && chunk_count > 0);
    _region_bytes = static_cast<size_t>(chunk_bytes) * chunk_count;
    void* p = ::mmap(nullptr, _region_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) panic(__FILE__, __LINE__, "chunk pool mmap failed");
    _region = static_cast<char*>(p);
    _chunks.resize(chunk_count);
    _in_ring.assign(chunk_count, false);
    _free.reserve(chunk_count);
    for (uint32_t i = 0; i < chunk_count; ++i) {
        _chunks[i] = chunk{_region + static_cast<size_t>(i) * chunk_bytes, chunk_bytes, 0, i, this};
        _free.push_back(chunk_count - 1 - i);  // hand out low indexes first
    }
}

chunk_pool::~chunk_pool() {
    if (_region) ::munmap(_region, _region_bytes);
}

chunk_ref chunk_pool::acquire() noexcept {
    if (_free.empty()) return {};
    uint32_t i = _free.back();
    _free.pop_back();
    return chunk_ref(&_chunks[i]);
}

chunk_ref chunk_pool::adopt(uint32_t index) noexcept {
    PH_ASSERT(index < _chunks.size() && _chunks[index].refs == 0);
    return chunk_ref(&_chunks[index]);
}

uint32_t chunk_pool::take_for_ring() noexcept {
    if (_free.empty()) return UINT32_MAX;
    uint32_t i = _free.back();
    _free.pop_back();
    _in_ring[i] = true;
    return i;
}

void chunk_pool::on_last_release(chunk* c) noexcept {
    if (_in_ring[c->index] && _hook) {
        _hook(_hook_ctx, c);
        return;
    }
    _free.push_back(c->index);
}

}  // namespace posthorn::core
