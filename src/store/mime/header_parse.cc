// Header blocks (RFC 5322 §2.2: fields, folding) and the MIME fields with
// parameters (RFC 2045 §5.1 Content-Type, RFC 2183 Content-Disposition,
// RFC 2231 continuations, RFC 3282 Content-Language).
//
// Limits: a value is read as far as it is well formed; junk inside a
// parameter list skips to the next ';'. At most params_max parameters.
// Threading: stateless.
#include "store/mime/internal.hh"

#include "posthorn/core/text.hh"

#include <algorithm>
#include <cstring>

namespace posthorn::store::mime {

namespace {

constexpr size_t params_max = 64;

bool is_wsp(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_wsp(s.back())) s.remove_suffix(1);
    return s;
}

// RFC 2045 tspecials, plus controls and space: what ends a token.
bool is_token_char(char c) noexcept {
    auto u = static_cast<unsigned char>(c);
    if (u <= 32 || u == 127) return false;
    return std::strchr("()<>@,;:\\\"/[]?=", c) == nullptr;
}

// A cursor over a structured value: skips whitespace and (nested)
// comments, reads tokens and quoted strings.
struct lexer {
    std::string_view in;
    size_t at = 0;

    void skip_cfws() {
        while (at < in.size()) {
            if (is_wsp(in[at])) {
                ++at;
            } else if (in[at] == '(') {
                int depth = 0;
                while (at < in.size()) {
                    char c = in[at++];
                    if (c == '\\') ++at;
                    else if (c == '(') ++depth;
                    else if (c == ')' && --depth == 0) break;
                }
            } else {
                break;
            }
        }
        at = std::min(at, in.size());
    }
    bool eat(char c) {
        skip_cfws();
        if (at < in.size() && in[at] == c) {
            ++at;
            return true;
        }
        return false;
    }
    std::string_view token() {
        skip_cfws();
        size_t start = at;
        while (at < in.size() && is_token_char(in[at])) ++at;
        return in.substr(start, at - start);
    }
    // A token or a quoted string (unescaped into out); false if neither.
    bool value(std::string& out) {
        skip_cfws();
        out.clear();
        if (at < in.size() && in[at] == '"') {
            ++at;
            while (at < in.size() && in[at] != '"') {
                if (in[at] == '\\' && at + 1 < in.size()) ++at;
                out.push_back(in[at++]);
            }
            if (at < in.size()) ++at;  // an unterminated string ends the value
            return true;
        }
        // Tolerated: a value with '/' or '@' or '?' etc. unquoted, read to
        // the next ';' or whitespace, as mailers write it.
        size_t start = at;
        while (at < in.size() && in[at] != ';' && !is_wsp(in[at]) && in[at] != '"' && in[at] != '(') ++at;
        out.assign(in.substr(start, at - start));
        return at > start;
    }
    void skip_to_semicolon() {
        while (at < in.size() && in[at] != ';') {
            if (in[at] == '"') {
                std::string junk;
                value(junk);
            } else {
                ++at;
            }
        }
    }
};

// RFC 2231 §3-4: name*0="a" name*1="b" -> name="ab"; name*0*=us-ascii''a
// name*1*=%62 -> name*="us-ascii''a%62". Unsplit parameters pass as they are.
void join_continuations(param_list& params) {
    param_list out;
    std::vector<bool> used(params.size(), false);
    for (size_t i = 0; i < params.size(); ++i) {
        if (used[i]) continue;
        const std::string& n = params[i].first;
        auto star = n.find('*');
        if (star == std::string::npos || star == 0) {
            out.push_back(params[i]);
            continue;
        }
        const std::string base = n.substr(0, star);
        // Collect the sections of this base name by number.
        std::vector<std::pair<int, size_t>> sections;  // (number, index); -1: unnumbered "name*"
        bool extended = false;
        for (size_t j = i; j < params.size(); ++j) {
            const std::string& m = params[j].first;
            if (used[j] || m.size() <= base.size() || m.compare(0, base.size(), base) != 0 || m[base.size()] != '*')
                continue;
            // After "name*": "" (extended, unsplit), "N" or "N*" (section N).
            std::string_view rest = std::string_view(m).substr(base.size() + 1);
            bool ext = rest.empty() || rest.back() == '*';
            if (!rest.empty() && ext) rest.remove_suffix(1);
            int number = -1;
            if (!rest.empty() || m.back() != '*' || m.size() != base.size() + 1) {
                if (rest.empty() || rest.size() > 3 ||
                    !std::all_of(rest.begin(), rest.end(), [](char c) { return c >= '0' && c <= '9'; }))
                    continue;
                number = std::stoi(std::string(rest));
            }
            if (number <= 0) extended = ext;
            used[j] = true;
            sections.emplace_back(number, j);
        }
        std::stable_sort(sections.begin(), sections.end());
        std::string value;
        for (auto& [number, j] : sections) value += params[j].second;
        out.emplace_back(extended ? base + "*" : base, std::move(value));
    }
    params = std::move(out);
}

void parse_params(lexer& lx, param_list& params) {
    while (params.size() < params_max) {
        lx.skip_cfws();
        if (lx.at >= lx.in.size()) break;
        if (!lx.eat(';')) {
            lx.skip_to_semicolon();
            if (!lx.eat(';')) break;
        }
        std::string_view name = lx.token();
        if (name.empty()) continue;  // ";;" or a trailing ';'
        if (!lx.eat('=')) {
            lx.skip_to_semicolon();
            continue;
        }
        std::string v;
        if (!lx.value(v)) {
            lx.skip_to_semicolon();
            continue;
        }
        std::string lower(name);
        for (char& c : lower) c = core::ascii_lower(c);
        params.emplace_back(std::move(lower), std::move(v));
    }
    join_continuations(params);
}

}  // namespace

void for_each_field(std::string_view block, void (*f)(void*, std::string_view, std::string_view), void* ctx) {
    std::string value;
    size_t at = 0;
    while (at < block.size()) {
        size_t eol = block.find('\n', at);
        size_t next = eol == std::string_view::npos ? block.size() : eol + 1;
        std::string_view line = block.substr(at, next - at);
        at = next;
        if (line.empty() || line[0] == ' ' || line[0] == '\t') continue;  // a stray continuation
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string_view name = trim(line.substr(0, colon));
        if (name.empty()) continue;
        value.assign(line.substr(colon + 1));
        // Folded lines (RFC 5322 §2.2.3): joined, the line break removed.
        while (at < block.size() && (block[at] == ' ' || block[at] == '\t')) {
            eol = block.find('\n', at);
            next = eol == std::string_view::npos ? block.size() : eol + 1;
            value.append(block.substr(at, next - at));
            at = next;
        }
        std::erase_if(value, [](char c) { return c == '\r' || c == '\n'; });
        f(ctx, name, trim(value));
    }
}

bool parse_content_type(std::string_view v, std::string& type, std::string& subtype, param_list& params) {
    lexer lx{v};
    params.clear();
    std::string_view t = lx.token();
    if (t.empty() || !lx.eat('/')) return false;
    std::string_view s = lx.token();
    if (s.empty()) return false;
    type.assign(t);
    subtype.assign(s);
    parse_params(lx, params);
    return true;
}

bool parse_disposition(std::string_view v, std::string& type, param_list& params) {
    lexer lx{v};
    params.clear();
    std::string_view t = lx.token();
    if (t.empty()) return false;
    type.assign(t);
    parse_params(lx, params);
    return true;
}

std::vector<std::string> parse_language(std::string_view v) {
    std::vector<std::string> out;
    lexer lx{v};
    while (out.size() < params_max) {
        std::string_view t = lx.token();
        if (!t.empty()) out.emplace_back(t);
        lx.skip_cfws();
        if (lx.at >= lx.in.size()) break;
        if (!lx.eat(',')) ++lx.at;  // junk: skip a byte
    }
    return out;
}

}  // namespace posthorn::store::mime
