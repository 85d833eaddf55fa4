// Envelope encoding for the spool: version byte, then fixed fields and
// length-prefixed strings, little-endian. decode() rejects any malformed or
// trailing byte: this is our own disk, decoded strictly.
#include "posthorn/queue.hh"

#include <cstring>
#include <fmt/format.h>

namespace posthorn::queue {
namespace {
constexpr uint8_t k_version = 1;
constexpr uint32_t k_rcpts_max = 1u << 20;

void put_u64(std::string& out, uint64_t v) {
    char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
    out.append(b, 8);
}
void put_u32(std::string& out, uint32_t v) {
    char b[4];
    for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
    out.append(b, 4);
}
void put_str(std::string& out, std::string_view s) {
    put_u32(out, static_cast<uint32_t>(s.size()));
    out.append(s);
}

struct reader {
    std::string_view in;
    bool failed = false;

    bool take(size_t n, const char*& p) {
        if (failed || in.size() < n) { failed = true; return false; }
        p = in.data();
        in.remove_prefix(n);
        return true;
    }
    uint64_t u64() {
        const char* p;
        if (!take(8, p)) return 0;
        uint64_t v = 0;
        for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
        return v;
    }
    uint32_t u32() {
        const char* p;
        if (!take(4, p)) return 0;
        uint32_t v = 0;
        for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
        return v;
    }
    uint8_t u8() {
        const char* p;
        return take(1, p) ? static_cast<uint8_t>(p[0]) : 0;
    }
    std::string str() {
        uint32_t n = u32();
        const char* p;
        if (!take(n, p)) return {};
        return std::string(p, n);
    }
};
}  // namespace

void envelope::clear() noexcept {
    mail_from.clear();
    rcpts.clear();
    declared_size = 0;
    body = body_type::unspecified;
    smtputf8 = false;
    ret = dsn_ret::unspecified;
    envid.clear();
    received_unix_ms = 0;
}

void encode(const envelope& e, std::string& out) {
    out.push_back(static_cast<char>(k_version));
    put_u64(out, static_cast<uint64_t>(e.received_unix_ms));
    put_u64(out, e.declared_size);
    out.push_back(static_cast<char>(e.body));
    out.push_back(static_cast<char>(e.smtputf8 ? 1 : 0));
    out.push_back(static_cast<char>(e.ret));
    put_str(out, e.mail_from);
    put_str(out, e.helo);
    put_str(out, e.client_address);
    put_str(out, e.envid);
    put_u32(out, static_cast<uint32_t>(e.rcpts.size()));
    for (const auto& r : e.rcpts) {
        out.push_back(static_cast<char>(r.notify));
        put_str(out, r.address);
        put_str(out, r.orcpt);
    }
}

core::result<envelope> decode(std::string_view bytes) {
    reader r{bytes};
    envelope e;
    if (r.u8() != k_version) return core::error{core::e_corrupt, "envelope version"};
    e.received_unix_ms = static_cast<int64_t>(r.u64());
    e.declared_size = r.u64();
    uint8_t body = r.u8();
    uint8_t utf8 = r.u8();
    uint8_t ret = r.u8();
    if (body > 3 || utf8 > 1 || ret > 2) return core::error{core::e_corrupt, "envelope flags"};
    e.body = static_cast<body_type>(body);
    e.smtputf8 = utf8 == 1;
    e.ret = static_cast<dsn_ret>(ret);
    e.mail_from = r.str();
    e.helo = r.str();
    e.client_address = r.str();
    e.envid = r.str();
    uint32_t n = r.u32();
    if (r.failed || n > k_rcpts_max) return core::error{core::e_corrupt, "envelope recipients"};
    e.rcpts.reserve(n);
    for (uint32_t i = 0; i < n && !r.failed; ++i) {
        recipient rc;
        rc.notify = r.u8();
        rc.address = r.str();
        rc.orcpt = r.str();
        e.rcpts.push_back(std::move(rc));
    }
    if (r.failed || !r.in.empty()) return core::error{core::e_corrupt, "envelope length"};
    return e;
}

std::string format_queue_id(uint64_t id) { return fmt::format("{:016X}", id); }

}  // namespace posthorn::queue
