// The index log's on-disk format: framing of one record, and a writer and a
// reader for the fields of record payloads. Pure functions over bytes.
//
// A record, little-endian, 8-byte aligned (the spool's framing, own magic):
//   0  u32 magic "PHIX"   4 u8 type   5 u8 0   6 u16 0
//   8  u32 payload bytes  12 u32 low half of xxh3-64 of bytes 0..11
//   16 payload, zero padding to 8 bytes, u64 xxh3-64 of header + payload.
// Payload fields: u8/u32/u64 little-endian, strings as u16 length + bytes.
//
// Threading: stateless, except index_reader (a cursor over one payload).
// Errors: decoders return false on any malformed byte (our own disk).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace posthorn::store {

enum class index_type : uint8_t {
    folder_create = 1,  // u32 folder id, u32 uidvalidity, str user, str name
    folder_rename = 2,  // u32 folder id, str user, str new name
    folder_delete = 3,  // u32 folder id, str user
    subscribe = 4,      // u8 on, str user, str name
    append = 5,         // u32 folder id, u32 uid, u32 flags, u64 date, u64 segment, u64 offset,
                        // u64 size, u64 content hash, u64 origin, str user
    flags = 6,          // u32 folder id, u32 uid, u32 flags, str user
    expunge = 7,        // u32 folder id, u32 count, count x u32 uid, str user
    mime = 8,           // u64 segment, u64 offset, then the MIME skeleton's encoding (the
                        // rest of the payload): for the append records with that content
    keyword = 9,        // u32 folder id, u8 slot, str user, str name: the folder's keyword
                        // `name` is flag bit keyword_bit(slot) from here on
    recent = 10,        // u32 folder id, u32 uid, str user: UIDs below uid are no longer
                        // \Recent (a session claimed them)
};
inline constexpr uint8_t index_type_max = 10;

inline constexpr uint32_t index_magic = 0x58494850;  // "PHIX" on disk
inline constexpr size_t index_header_bytes = 16;
inline constexpr uint32_t index_payload_max = 1u << 24;

inline constexpr uint64_t index_record_bytes(uint32_t payload) {
    return index_header_bytes + ((payload + 7) & ~uint32_t{7}) + 8;
}

// Appends one whole record (header, payload, padding, hash) to out.
void append_index_record(std::string& out, index_type t, std::string_view payload);

// Decodes the record at `p` (at most `avail` bytes). On success sets type,
// payload and the record's whole size. Any type but 0 decodes (those past
// index_type_max come from a newer version; the caller skips them).
bool decode_index_record(const char* p, uint64_t avail, uint8_t& type, std::string_view& payload,
                         uint64_t& record_bytes) noexcept;

// xxh3-64 of bytes; and a streaming form for content read in windows.
uint64_t content_hash(std::string_view bytes) noexcept;
class content_hasher {
public:
    content_hasher();
    ~content_hasher();
    content_hasher(const content_hasher&) = delete;
    content_hasher& operator=(const content_hasher&) = delete;
    void reset() noexcept;
    void update(std::string_view bytes) noexcept;
    uint64_t digest() const noexcept;

private:
    void* _state;
};

class index_writer {
public:
    explicit index_writer(std::string& out) : _out(out) { _out.clear(); }
    index_writer& u8(uint8_t v) { _out.push_back(static_cast<char>(v)); return *this; }
    index_writer& u32(uint32_t v);
    index_writer& u64(uint64_t v);
    index_writer& str(std::string_view s);  // at most 65535 bytes (callers check)

private:
    std::string& _out;
};

class index_reader {
public:
    explicit index_reader(std::string_view in) : _in(in) {}
    bool u8(uint8_t& v);
    bool u32(uint32_t& v);
    bool u64(uint64_t& v);
    bool str(std::string_view& v);
    bool done() const noexcept { return _in.empty(); }

private:
    std::string_view _in;
};

}  // namespace posthorn::store
