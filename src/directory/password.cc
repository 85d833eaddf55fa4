// Password checks for logins (POP3, IMAP): "{PLAIN}secret" for tests and
// small setups, crypt(3) strings otherwise (`posthorn mkpasswd` makes
// yescrypt ones). Comparisons run in constant time over the expected
// length, so timing tells a client nothing about how much of a guess was
// right. crypt_rn keeps its state in a caller-owned crypt_data, so this is
// thread-safe; the struct is large (~32 KiB), hence on the heap.
#include "posthorn/directory.hh"

#include "posthorn/core/text.hh"

#include <crypt.h>

#include <cstdlib>
#include <cstring>
#include <memory>

namespace posthorn::directory {
namespace {

constexpr std::string_view k_plain_prefix = "{PLAIN}";
// The embedded demo's scheme: plain text compared without ASCII case, so
// the seed's Lab 3 (`USER USER1`, `PASS USER1`) and the README's
// user1/user1 both log in. Warned about at start, like {PLAIN}.
constexpr std::string_view k_demo_prefix = "{DEMO}";
// Longer passwords are refused outright rather than handed to crypt.
constexpr size_t k_password_bytes_max = 1024;

// Equal iff same length and bytes; the time depends only on the lengths.
bool equal_constant_time(std::string_view a, std::string_view b) noexcept {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    size_t n = a.size() < b.size() ? a.size() : b.size();
    for (size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

bool equal_ignoring_case_constant_time(std::string_view a, std::string_view b) noexcept {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    size_t n = a.size() < b.size() ? a.size() : b.size();
    for (size_t i = 0; i < n; ++i)
        diff |= static_cast<unsigned char>(core::ascii_lower(a[i]) ^ core::ascii_lower(b[i]));
    return diff == 0;
}

}  // namespace

bool verify_password(const user& u, std::string_view password) {
    const std::string& hash = u.password_hash;
    if (hash.empty() || password.size() > k_password_bytes_max) return false;
    if (std::string_view(hash).substr(0, k_plain_prefix.size()) == k_plain_prefix)
        return equal_constant_time(std::string_view(hash).substr(k_plain_prefix.size()), password);
    if (std::string_view(hash).substr(0, k_demo_prefix.size()) == k_demo_prefix)
        return equal_ignoring_case_constant_time(std::string_view(hash).substr(k_demo_prefix.size()), password);
    // crypt wants a NUL-terminated phrase; a NUL inside the password would
    // cut it short, so such a password cannot match.
    if (password.find('\0') != std::string_view::npos) return false;
    std::string phrase(password);
    auto data = std::make_unique<crypt_data>();
    const char* out = crypt_rn(phrase.c_str(), hash.c_str(), data.get(), sizeof(crypt_data));
    // crypt_rn returns null (or a "*" failure token) for an unusable setting.
    bool ok = out && out[0] != '*' && equal_constant_time(out, hash);
    explicit_bzero(phrase.data(), phrase.size());
    explicit_bzero(data.get(), sizeof(crypt_data));
    return ok;
}

bool password_check_is_cheap(const user* u) noexcept {
    if (!u) return false;  // the nobody check costs a yescrypt
    std::string_view h = u->password_hash;
    return h.empty() || h.starts_with(k_plain_prefix) || h.starts_with(k_demo_prefix);
}

bool verify_password_of_nobody(std::string_view password) {
    // A yescrypt hash with the default cost, made once per process from a
    // random salt: crypt spends the time a real user's check would.
    static const user nobody = [] {
        user u;
        char* salt = crypt_gensalt_ra("$y$", 0, nullptr, 0);
        if (salt) {
            auto data = std::make_unique<crypt_data>();
            if (const char* h = crypt_rn("posthorn-nobody", salt, data.get(), sizeof(crypt_data)); h && h[0] != '*')
                u.password_hash = h;
            std::free(salt);
        }
        return u;
    }();
    (void)verify_password(nobody, password);
    return false;
}

}  // namespace posthorn::directory
