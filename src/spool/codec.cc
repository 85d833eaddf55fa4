// Record codec: header and payload encodings (format in codec.hh), checksums
// with xxh3-64. Stateless apart from the hasher's one state.
#include "spool/codec.hh"

#include <xxhash.h>

namespace posthorn::spool {

const char* record_type_name(record_type t) noexcept {
    switch (t) {
    case record_type::body: return "body";
    case record_type::message: return "message";
    case record_type::rcpt_done: return "rcpt_done";
    case record_type::message_done: return "message_done";
    case record_type::abort: return "abort";
    }
    return "unknown";
}

namespace {
uint32_t header_check(const char* h) noexcept {
    char b[header_bytes - 4];
    std::memcpy(b, h, 12);
    std::memcpy(b + 12, h + 16, 8);
    return static_cast<uint32_t>(XXH3_64bits(b, sizeof b));
}
}  // namespace

void encode_header(const record_header& h, char out[header_bytes]) noexcept {
    put_u32(out, record_magic);
    out[4] = static_cast<char>(h.type);
    out[5] = static_cast<char>(h.flags);
    out[6] = 0;
    out[7] = 0;
    put_u32(out + 8, h.payload_bytes);
    put_u64(out + 16, h.id);
    put_u32(out + 12, header_check(out));
}

bool decode_header(const char* in, record_header& out, const char** why) noexcept {
    auto bad = [why](const char* w) { *why = w; return false; };
    if (get_u32(in) != record_magic) return bad("bad magic");
    if (get_u32(in + 12) != header_check(in)) return bad("bad header check");
    auto t = static_cast<uint8_t>(in[4]);
    if (t < static_cast<uint8_t>(record_type::body) || t > static_cast<uint8_t>(record_type::abort))
        return bad("unknown record type");
    if (in[5] != 0 || in[6] != 0 || in[7] != 0) return bad("reserved bits set");
    uint32_t len = get_u32(in + 8);
    if (len > payload_bytes_max) return bad("payload length over the limit");
    out.type = static_cast<record_type>(t);
    out.flags = 0;
    out.payload_bytes = len;
    out.id = get_u64(in + 16);
    return true;
}

bool all_zero(const char* p, size_t n) noexcept {
    // Word at a time; the tails byte by byte.
    while (n && (reinterpret_cast<uintptr_t>(p) & 7)) {
        if (*p) return false;
        ++p;
        --n;
    }
    while (n >= 8) {
        uint64_t w;
        std::memcpy(&w, p, 8);
        if (w) return false;
        p += 8;
        n -= 8;
    }
    while (n) {
        if (*p) return false;
        ++p;
        --n;
    }
    return true;
}

bool verify_record(const char* record, uint32_t payload_bytes) noexcept {
    size_t covered = header_bytes + payload_bytes;
    size_t pad = align8(payload_bytes) - payload_bytes;
    if (!all_zero(record + covered, pad)) return false;
    uint64_t want = get_u64(record + covered + pad);
    return XXH3_64bits(record, covered) == want;
}

hasher::hasher() : _state(XXH3_createState()) {}
hasher::~hasher() { XXH3_freeState(static_cast<XXH3_state_t*>(_state)); }
void hasher::reset() noexcept { XXH3_64bits_reset(static_cast<XXH3_state_t*>(_state)); }
void hasher::update(const void* p, size_t n) noexcept {
    XXH3_64bits_update(static_cast<XXH3_state_t*>(_state), p, n);
}
uint64_t hasher::digest() const noexcept { return XXH3_64bits_digest(static_cast<XXH3_state_t*>(_state)); }

void encode_message_prefix(const message_prefix& m, char out[message_prefix_bytes]) noexcept {
    put_u32(out, m.envelope_bytes);
    put_u32(out + 4, m.fragment_count);
    put_u32(out + 8, m.header_bytes);
    put_u32(out + 12, m.tail_bytes);
}

void encode_fragment_ref(const location& l, char out[fragment_ref_bytes]) noexcept {
    put_u64(out, l.segment);
    put_u64(out + 8, l.offset);
    put_u32(out + 16, l.length);
    put_u32(out + 20, 0);
}

bool decode_message(std::string_view payload, message_view& out, const char** why) {
    auto bad = [why](const char* w) { *why = w; return false; };
    if (payload.size() < message_prefix_bytes) return bad("message payload too short");
    const char* p = payload.data();
    uint64_t env = get_u32(p), count = get_u32(p + 4), head = get_u32(p + 8), tail = get_u32(p + 12);
    uint64_t want = message_prefix_bytes + env + count * fragment_ref_bytes + head + tail;
    if (want != payload.size()) return bad("message payload lengths disagree");
    uint64_t at = message_prefix_bytes;
    out.envelope = payload.substr(at, env);
    at += env;
    out.fragments.clear();
    out.fragments.reserve(count);
    for (uint64_t i = 0; i < count; ++i, at += fragment_ref_bytes) {
        const char* f = p + at;
        if (get_u32(f + 20) != 0) return bad("fragment ref reserved bits set");
        out.fragments.push_back(location{get_u64(f), get_u64(f + 8), get_u32(f + 16)});
    }
    out.header_offset = static_cast<uint32_t>(at);
    out.header_bytes = static_cast<uint32_t>(head);
    out.tail_offset = static_cast<uint32_t>(at + head);
    out.tail_bytes = static_cast<uint32_t>(tail);
    return true;
}

void encode_rcpt_done(uint32_t rcpt_index, rcpt_status status, char out[rcpt_done_bytes]) noexcept {
    put_u32(out, rcpt_index);
    out[4] = static_cast<char>(status);
    out[5] = out[6] = out[7] = 0;
}

bool decode_rcpt_done(std::string_view payload, uint32_t& rcpt_index, rcpt_status& status) noexcept {
    if (payload.size() != rcpt_done_bytes) return false;
    auto s = static_cast<uint8_t>(payload[4]);
    if (s != static_cast<uint8_t>(rcpt_status::delivered) && s != static_cast<uint8_t>(rcpt_status::bounced))
        return false;
    if (payload[5] || payload[6] || payload[7]) return false;
    rcpt_index = get_u32(payload.data());
    status = static_cast<rcpt_status>(s);
    return true;
}

}  // namespace posthorn::spool
