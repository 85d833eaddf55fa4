// Index log framing (see index_codec.hh), over xxHash.
#include "store/index_codec.hh"

#include "spool/codec.hh"

#include <xxhash.h>

#include <cstring>
#include <new>

namespace posthorn::store {

namespace {
uint32_t header_check(const char* h) noexcept {
    return static_cast<uint32_t>(XXH3_64bits(h, 12));
}
}  // namespace

void append_index_record(std::string& out, index_type t, std::string_view payload) {
    const auto n = static_cast<uint32_t>(payload.size());
    const size_t start = out.size();
    out.resize(start + index_record_bytes(n), '\0');
    char* p = out.data() + start;
    spool::put_u32(p, index_magic);
    p[4] = static_cast<char>(t);
    spool::put_u32(p + 8, n);
    spool::put_u32(p + 12, header_check(p));
    std::memcpy(p + index_header_bytes, payload.data(), n);
    spool::put_u64(p + index_record_bytes(n) - 8, XXH3_64bits(p, index_header_bytes + n));
}

bool decode_index_record(const char* p, uint64_t avail, uint8_t& type, std::string_view& payload,
                         uint64_t& record_bytes) noexcept {
    if (avail < index_header_bytes + 8) return false;
    if (spool::get_u32(p) != index_magic || p[5] != 0 || p[6] != 0 || p[7] != 0) return false;
    if (spool::get_u32(p + 12) != header_check(p)) return false;
    const uint8_t t = static_cast<uint8_t>(p[4]);
    const uint32_t n = spool::get_u32(p + 8);
    // A type above index_type_max is framed like any other: a newer
    // version wrote it, and replay skips it rather than taking it (and all
    // after it) for a torn tail.
    if (t == 0 || n > index_payload_max) return false;
    const uint64_t total = index_record_bytes(n);
    if (total > avail) return false;
    if (!spool::all_zero(p + index_header_bytes + n, total - 8 - index_header_bytes - n)) return false;
    if (XXH3_64bits(p, index_header_bytes + n) != spool::get_u64(p + total - 8)) return false;
    type = t;
    payload = std::string_view(p + index_header_bytes, n);
    record_bytes = total;
    return true;
}

uint64_t content_hash(std::string_view bytes) noexcept {
    return XXH3_64bits(bytes.data(), bytes.size());
}

content_hasher::content_hasher() : _state(XXH3_createState()) {
    if (!_state) throw std::bad_alloc();
    reset();
}
content_hasher::~content_hasher() { XXH3_freeState(static_cast<XXH3_state_t*>(_state)); }
void content_hasher::reset() noexcept { XXH3_64bits_reset(static_cast<XXH3_state_t*>(_state)); }
void content_hasher::update(std::string_view b) noexcept {
    XXH3_64bits_update(static_cast<XXH3_state_t*>(_state), b.data(), b.size());
}
uint64_t content_hasher::digest() const noexcept { return XXH3_64bits_digest(static_cast<XXH3_state_t*>(_state)); }

index_writer& index_writer::u32(uint32_t v) {
    char b[4];
    spool::put_u32(b, v);
    _out.append(b, 4);
    return *this;
}
index_writer& index_writer::u64(uint64_t v) {
    char b[8];
    spool::put_u64(b, v);
    _out.append(b, 8);
    return *this;
}
index_writer& index_writer::str(std::string_view s) {
    const auto n = static_cast<uint16_t>(s.size() > 65535 ? 65535 : s.size());
    _out.push_back(static_cast<char>(n & 0xff));
    _out.push_back(static_cast<char>(n >> 8));
    _out.append(s.data(), n);
    return *this;
}

bool index_reader::u8(uint8_t& v) {
    if (_in.empty()) return false;
    v = static_cast<uint8_t>(_in[0]);
    _in.remove_prefix(1);
    return true;
}
bool index_reader::u32(uint32_t& v) {
    if (_in.size() < 4) return false;
    v = spool::get_u32(_in.data());
    _in.remove_prefix(4);
    return true;
}
bool index_reader::u64(uint64_t& v) {
    if (_in.size() < 8) return false;
    v = spool::get_u64(_in.data());
    _in.remove_prefix(8);
    return true;
}
bool index_reader::str(std::string_view& v) {
    if (_in.size() < 2) return false;
    const size_t n = static_cast<unsigned char>(_in[0]) | (static_cast<size_t>(static_cast<unsigned char>(_in[1])) << 8);
    if (_in.size() < 2 + n) return false;
    v = _in.substr(2, n);
    _in.remove_prefix(2 + n);
    return true;
}

}  // namespace posthorn::store
