// SASL PLAIN decoding; see sasl_plain.hh.
#include "posthorn/core/text.hh"
#include "proto/pop3/sasl_plain.hh"

#include <cstdint>

namespace posthorn::proto::pop3 {
namespace {

constexpr size_t k_field_bytes_max = 255;

int sextet(char c) noexcept { return core::base64_value(c); }

}  // namespace

std::optional<std::string> base64_decode(std::string_view in) {
    if (in.size() % 4 != 0) return std::nullopt;
    std::string out;
    out.reserve(in.size() / 4 * 3);
    for (size_t i = 0; i < in.size(); i += 4) {
        bool last = i + 4 == in.size();
        int pad = 0;
        uint32_t v = 0;
        for (size_t j = 0; j < 4; ++j) {
            char c = in[i + j];
            if (c == '=' && last && j >= 2) {
                ++pad;
                v <<= 6;
                continue;
            }
            int s = sextet(c);
            if (s < 0 || pad) return std::nullopt;  // a digit after '=' is malformed
            v = (v << 6) | static_cast<uint32_t>(s);
        }
        out.push_back(static_cast<char>(v >> 16));
        if (pad < 2) out.push_back(static_cast<char>((v >> 8) & 0xff));
        if (pad < 1) out.push_back(static_cast<char>(v & 0xff));
    }
    return out;
}

std::optional<plain_credentials> parse_sasl_plain(std::string_view base64) {
    auto raw = base64_decode(base64);
    if (!raw) return std::nullopt;
    std::string_view s = *raw;
    size_t a = s.find('\0');
    if (a == std::string_view::npos) return std::nullopt;
    size_t b = s.find('\0', a + 1);
    if (b == std::string_view::npos) return std::nullopt;
    plain_credentials c;
    c.authzid = s.substr(0, a);
    c.authcid = s.substr(a + 1, b - a - 1);
    c.password = s.substr(b + 1);
    if (c.authcid.empty() || c.password.find('\0') != std::string::npos) return std::nullopt;
    if (c.authzid.size() > k_field_bytes_max || c.authcid.size() > k_field_bytes_max ||
        c.password.size() > k_field_bytes_max)
        return std::nullopt;
    return c;
}

}  // namespace posthorn::proto::pop3
