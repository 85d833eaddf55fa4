// Record codec: the on-disk format of one spool record, and the payload
// encodings of the record types. Pure functions over bytes; no I/O.
//
// A record, little-endian, 8-byte aligned:
//   0  u32 magic "PHSR"      4  u8 type     5  u8 flags (0)   6  u16 reserved (0)
//   8  u32 payload length    12 u32 header check: low half of xxh3-64 of
//                                   bytes 0..11 and 16..23 (so a skip by a
//                                   damaged length is never taken)
//   16 u64 message id
//   24 payload, then zero padding to 8 bytes, then u64 xxh3-64 of header+payload.
// Payloads:
//   body         raw bytes
//   message      u32 envelope bytes, u32 fragment count, u32 header bytes,
//                u32 tail bytes, envelope, fragment refs (u64 segment,
//                u64 offset, u32 length, u32 zero each), header, tail
//   rcpt_done    u32 recipient index, u8 status, 3 zero bytes
//   message_done, abort: empty
//
// Threading: hasher is owned by one writer; everything else is stateless.
// Errors: decoders return false (with a static reason) on any malformed byte:
// this is our own disk, decoded strictly.
#pragma once

#include "posthorn/spool.hh"

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace posthorn::spool {

inline constexpr uint32_t record_magic = 0x52534850;  // "PHSR" on disk
inline constexpr size_t header_bytes = 24;
inline constexpr size_t hash_bytes = 8;
inline constexpr size_t message_prefix_bytes = 16;
inline constexpr size_t fragment_ref_bytes = 24;
inline constexpr size_t rcpt_done_bytes = 8;

inline constexpr uint64_t align8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }
// The whole record on disk, padding and hash included.
inline constexpr uint64_t record_bytes(uint32_t payload_bytes) {
    return header_bytes + align8(payload_bytes) + hash_bytes;
}

inline void put_u32(char* p, uint32_t v) { for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i)); }
inline void put_u64(char* p, uint64_t v) { for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i)); }
inline uint32_t get_u32(const char* p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}
inline uint64_t get_u64(const char* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

struct record_header {
    record_type type = record_type::body;
    uint8_t flags = 0;
    uint32_t payload_bytes = 0;
    uint64_t id = 0;
};

void encode_header(const record_header& h, char out[header_bytes]) noexcept;
// Checks magic, header check, type, flags, reserved and the length limit.
bool decode_header(const char* in, record_header& out, const char** why) noexcept;
// Checks the trailing hash and the zero padding of a whole record.
bool verify_record(const char* record, uint32_t payload_bytes) noexcept;
bool all_zero(const char* p, size_t n) noexcept;

// Streaming xxh3-64 over header + payload pieces (one state, reused).
class hasher {
public:
    hasher();  // ok() is false when the state could not be allocated
    ~hasher();
    bool ok() const noexcept { return _state != nullptr; }
    hasher(const hasher&) = delete;
    hasher& operator=(const hasher&) = delete;
    void reset() noexcept;
    void update(const void* p, size_t n) noexcept;
    uint64_t digest() const noexcept;

private:
    void* _state;  // XXH3_state_t
};

struct message_prefix {
    uint32_t envelope_bytes = 0;
    uint32_t fragment_count = 0;
    uint32_t header_bytes = 0;
    uint32_t tail_bytes = 0;
};
void encode_message_prefix(const message_prefix& m, char out[message_prefix_bytes]) noexcept;
void encode_fragment_ref(const location& l, char out[fragment_ref_bytes]) noexcept;

// A decoded message payload; views point into the payload.
struct message_view {
    std::string_view envelope;
    std::vector<location> fragments;
    uint32_t header_offset = 0;  // within the payload
    uint32_t header_bytes = 0;
    uint32_t tail_offset = 0;
    uint32_t tail_bytes = 0;
};
bool decode_message(std::string_view payload, message_view& out, const char** why);

void encode_rcpt_done(uint32_t rcpt_index, rcpt_status status, char out[rcpt_done_bytes]) noexcept;
bool decode_rcpt_done(std::string_view payload, uint32_t& rcpt_index, rcpt_status& status) noexcept;

}  // namespace posthorn::spool
