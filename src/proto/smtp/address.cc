// Path and parameter parsing: byte classes, then a single left-to-right walk.
#include "proto/smtp/address.hh"

namespace posthorn::proto::smtp {
namespace {

constexpr size_t k_local_bytes_max = 64;    // RFC 5321 §4.5.3.1.1
constexpr size_t k_domain_bytes_max = 255;  // RFC 5321 §4.5.3.1.2
constexpr size_t k_envid_bytes_max = 100;   // RFC 3461 §4.4
constexpr size_t k_orcpt_bytes_max = 500;   // RFC 3461 §4.2

constexpr auto lower = core::ascii_lower;


bool is_alnum(unsigned char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// RFC 5322 atext.
bool is_atext(unsigned char c) noexcept {
    if (is_alnum(c)) return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '/': case '=': case '?': case '^': case '_': case '`': case '{':
    case '|': case '}': case '~':
        return true;
    default:
        return false;
    }
}

bool is_hex(char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

std::string_view skip_spaces(std::string_view s) noexcept {
    size_t i = 0;
    while (i < s.size() && s[i] == ' ') ++i;
    return s.substr(i);
}

// Local part: a dot-string (dots are not policed, as Postfix does not) or a
// quoted string. Returns its length in `s`, 0 when malformed.
size_t scan_local(std::string_view s, bool& non_ascii) noexcept {
    size_t i = 0;
    if (!s.empty() && s[0] == '"') {
        for (i = 1; i < s.size(); ++i) {
            unsigned char c = static_cast<unsigned char>(s[i]);
            if (c == '"') return i + 1;
            if (c == '\\') {
                if (++i == s.size()) return 0;
                c = static_cast<unsigned char>(s[i]);
                if (c < 0x20 || c == 0x7f) return 0;
            } else if (c < 0x20 || c == 0x7f) {
                return 0;
            }
            if (c >= 0x80) non_ascii = true;
        }
        return 0;  // no closing quote
    }
    for (; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '@') break;
        if (c >= 0x80) {
            non_ascii = true;
        } else if (!is_atext(c) && c != '.') {
            return 0;
        }
    }
    return i;
}

// A domain (letters, digits, hyphens, dots; UTF-8 U-labels) or an address
// literal in brackets. The whole of `s` must be the domain.
bool valid_domain(std::string_view s, bool& non_ascii) noexcept {
    if (s.empty() || s.size() > k_domain_bytes_max) return false;
    if (s.front() == '[') {
        if (s.size() < 3 || s.back() != ']') return false;
        for (char ch : s.substr(1, s.size() - 2)) {
            unsigned char c = static_cast<unsigned char>(ch);
            if (c < 0x21 || c > 0x7e || c == '[' || c == ']' || c == '\\') return false;
        }
        return true;
    }
    for (char ch : s) {
        unsigned char c = static_cast<unsigned char>(ch);
        if (c >= 0x80) {
            non_ascii = true;
        } else if (!is_alnum(c) && c != '-' && c != '.') {
            return false;
        }
    }
    return true;
}

bool parse_mailbox(std::string_view s, path& out) noexcept {
    size_t n = scan_local(s, out.non_ascii);
    if (n == 0 || n > k_local_bytes_max) return false;
    out.local = s.substr(0, n);
    if (n == s.size()) return true;  // unqualified
    if (s[n] != '@') return false;
    out.domain = s.substr(n + 1);
    return valid_domain(out.domain, out.non_ascii);
}

// The end of a bracketed path: the '>' outside a quoted string.
size_t find_close(std::string_view s) noexcept {
    bool quoted = false;
    for (size_t i = 1; i < s.size(); ++i) {
        char c = s[i];
        if (quoted && c == '\\') {
            ++i;
        } else if (c == '"') {
            quoted = !quoted;
        } else if (c == '>' && !quoted) {
            return i;
        }
    }
    return std::string_view::npos;
}

// RFC 5321 §4.1.2 A-d-l: "@one,@two:" before the mailbox; checked, then ignored.
bool strip_route(std::string_view& s) noexcept {
    if (s.empty() || s[0] != '@') return true;
    size_t colon = s.find(':');
    if (colon == std::string_view::npos) return false;
    std::string_view route = s.substr(0, colon);
    while (!route.empty()) {
        if (route[0] != '@') return false;
        size_t comma = route.find(',');
        bool ignored = false;
        if (!valid_domain(route.substr(1, comma == std::string_view::npos ? comma : comma - 1), ignored))
            return false;
        route = comma == std::string_view::npos ? std::string_view() : route.substr(comma + 1);
    }
    s = s.substr(colon + 1);
    return true;
}

template <typename F>
param_error for_each_param(std::string_view text, F&& on_param) noexcept {
    while (true) {
        text = skip_spaces(text);
        if (text.empty()) return {};
        size_t sp = text.find(' ');
        std::string_view word = text.substr(0, sp);
        text = sp == std::string_view::npos ? std::string_view() : text.substr(sp);
        size_t eq = word.find('=');
        std::string_view key = word.substr(0, eq);
        bool has_value = eq != std::string_view::npos;
        std::string_view value = has_value ? word.substr(eq + 1) : std::string_view();
        param_error e = on_param(key, has_value, value);
        if (e.reply != reply_id::none) return e;
    }
}

param_error unsupported(std::string_view key) noexcept { return {reply_id::unsupported_param, key}; }
param_error bad(std::string_view key) noexcept { return {reply_id::bad_parameter, key}; }

}  // namespace

bool strip_keyword(std::string_view& s, std::string_view keyword) noexcept {
    if (s.size() < keyword.size() || !iequals(s.substr(0, keyword.size()), keyword)) return false;
    s.remove_prefix(keyword.size());
    return true;
}

bool parse_path(std::string_view in, path& out, std::string_view& params) noexcept {
    out = path{};
    std::string_view s = skip_spaces(in);
    std::string_view rest;
    if (!s.empty() && s[0] == '<') {
        size_t close = find_close(s);
        if (close == std::string_view::npos) return false;
        std::string_view inner = s.substr(1, close - 1);
        rest = s.substr(close + 1);
        if (inner.empty()) {
            out.null = true;
        } else if (!strip_route(inner) || !parse_mailbox(inner, out)) {
            return false;
        }
    } else {
        // The lenient form: the path is everything up to the first space.
        size_t sp = s.find(' ');
        std::string_view token = s.substr(0, sp);
        rest = sp == std::string_view::npos ? std::string_view() : s.substr(sp);
        if (token.empty() || !parse_mailbox(token, out)) return false;
    }
    if (!rest.empty() && rest[0] != ' ') return false;
    params = skip_spaces(rest);
    return true;
}

void qualify(const path& p, std::string_view primary_domain, std::string& out) {
    out.clear();
    if (p.null) return;
    std::string_view domain = p.domain.empty() ? primary_domain : p.domain;
    out.reserve(p.local.size() + 1 + domain.size());
    out.append(p.local);
    out.push_back('@');
    for (char c : domain) out.push_back(lower(c));
}

bool is_postmaster(const path& p) noexcept { return !p.null && iequals(p.local, "postmaster"); }

bool is_xtext(std::string_view s) noexcept {
    for (size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x21 || c > 0x7e || c == '=') return false;
        if (c == '+') {
            if (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) return false;
            i += 2;
        }
    }
    return true;
}

param_error parse_mail_params(std::string_view text, mail_params& out) noexcept {
    out = mail_params{};
    bool seen_size = false, seen_body = false, seen_ret = false, seen_envid = false;
    return for_each_param(text, [&](std::string_view key, bool has_value, std::string_view value) {
        if (iequals(key, "SIZE")) {  // RFC 1870 §6
            // size-value is 1*20DIGIT; one past uint64 saturates, and the
            // size check then answers 552 as for any value over the limit.
            if (seen_size || value.empty() || value.size() > 20) return bad(key);
            uint64_t n = 0;
            for (char c : value) {
                if (c < '0' || c > '9') return bad(key);
                uint64_t digit = static_cast<uint64_t>(c - '0');
                n = n > (UINT64_MAX - digit) / 10 ? UINT64_MAX : n * 10 + digit;
            }
            seen_size = true;
            out.size = n;
        } else if (iequals(key, "BODY")) {  // RFC 6152 §2, RFC 3030 §3
            if (seen_body) return bad(key);
            seen_body = true;
            if (iequals(value, "7BIT")) out.body = queue::body_type::seven_bit;
            else if (iequals(value, "8BITMIME")) out.body = queue::body_type::eight_bit_mime;
            else if (iequals(value, "BINARYMIME")) out.body = queue::body_type::binary_mime;
            else return bad(key);
        } else if (iequals(key, "SMTPUTF8")) {  // RFC 6531 §3.4
            if (has_value || out.smtputf8) return bad(key);
            out.smtputf8 = true;
        } else if (iequals(key, "RET")) {  // RFC 3461 §4.3
            if (seen_ret) return bad(key);
            seen_ret = true;
            if (iequals(value, "FULL")) out.ret = queue::dsn_ret::full;
            else if (iequals(value, "HDRS")) out.ret = queue::dsn_ret::headers;
            else return bad(key);
        } else if (iequals(key, "ENVID")) {  // RFC 3461 §4.4
            if (seen_envid || value.empty() || value.size() > k_envid_bytes_max || !is_xtext(value))
                return bad(key);
            seen_envid = true;
            out.envid = value;
        } else {
            return unsupported(key);
        }
        return param_error{};
    });
}

param_error parse_rcpt_params(std::string_view text, rcpt_params& out) noexcept {
    out = rcpt_params{};
    bool seen_orcpt = false;
    return for_each_param(text, [&](std::string_view key, bool, std::string_view value) {
        if (iequals(key, "NOTIFY")) {  // RFC 3461 §4.1: NEVER, or a list of the others
            if (out.notify != 0 || value.empty()) return bad(key);
            uint8_t bits = 0;
            while (!value.empty()) {
                size_t comma = value.find(',');
                std::string_view word = value.substr(0, comma);
                value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
                uint8_t bit = iequals(word, "NEVER")     ? queue::notify_never
                              : iequals(word, "SUCCESS") ? queue::notify_success
                              : iequals(word, "FAILURE") ? queue::notify_failure
                              : iequals(word, "DELAY")   ? queue::notify_delay
                                                         : 0;
                if (bit == 0 || (bits & bit) != 0) return bad(key);
                if (comma != std::string_view::npos && value.empty()) return bad(key);
                bits |= bit;
            }
            if ((bits & queue::notify_never) != 0 && bits != queue::notify_never) return bad(key);
            out.notify = bits;
        } else if (iequals(key, "ORCPT")) {  // RFC 3461 §4.2: addr-type ";" xtext
            if (seen_orcpt || value.size() > k_orcpt_bytes_max) return bad(key);
            size_t semi = value.find(';');
            if (semi == 0 || semi == std::string_view::npos || semi + 1 == value.size())
                return bad(key);
            for (char c : value.substr(0, semi))
                if (!is_alnum(static_cast<unsigned char>(c)) && c != '-') return bad(key);
            if (!is_xtext(value.substr(semi + 1))) return bad(key);
            seen_orcpt = true;
            out.orcpt = value;
        } else {
            return unsupported(key);
        }
        return param_error{};
    });
}

}  // namespace posthorn::proto::smtp
