// RFC 5322 §3.4 address lists for ENVELOPE: mailboxes, groups, display
// names, quoted local parts, comments, and the §4.4 obsolete forms (source
// routes, empty list elements, phrases with dots) tolerated.
//
// Limits: at most addresses_max addresses; tokens past what parses are
// skipped one at a time, so junk never loops or fails.
// Threading: stateless.
#include "store/mime/internal.hh"

#include <cstring>

namespace posthorn::store::mime {

namespace {

struct token {
    enum class kind : uint8_t { atom, quoted, literal, comment, special };
    kind what;
    std::string text;   // quoted/comment: unescaped; special: the character
    std::string raw;    // as written (quoted strings keep their quotes)
};

bool is_special(char c) noexcept { return std::strchr("<>@,:;", c) != nullptr; }

std::vector<token> tokenize(std::string_view in) {
    std::vector<token> out;
    size_t at = 0;
    while (at < in.size()) {
        char c = in[at];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            ++at;
        } else if (c == '"') {
            token t{token::kind::quoted, {}, {}};
            size_t start = at++;
            while (at < in.size() && in[at] != '"') {
                if (in[at] == '\\' && at + 1 < in.size()) ++at;
                t.text.push_back(in[at++]);
            }
            if (at < in.size()) ++at;
            t.raw.assign(in.substr(start, at - start));
            out.push_back(std::move(t));
        } else if (c == '(') {
            token t{token::kind::comment, {}, {}};
            int depth = 0;
            while (at < in.size()) {
                char d = in[at++];
                if (d == '\\' && at < in.size()) {
                    t.text.push_back(in[at++]);
                    continue;
                }
                if (d == '(' && depth++ == 0) continue;
                if (d == ')' && --depth == 0) break;
                t.text.push_back(d);
            }
            out.push_back(std::move(t));
        } else if (c == '[') {
            size_t end = in.find(']', at);
            end = end == std::string_view::npos ? in.size() : end + 1;
            std::string s(in.substr(at, end - at));
            out.push_back({token::kind::literal, s, s});
            at = end;
        } else if (is_special(c)) {
            out.push_back({token::kind::special, std::string(1, c), std::string(1, c)});
            ++at;
        } else {
            size_t start = at;
            while (at < in.size() && !std::strchr(" \t\r\n\"()[<>@,:;", in[at])) ++at;
            if (at == start) {  // a stray ')' or ']'
                ++at;
                continue;
            }
            std::string s(in.substr(start, at - start));
            out.push_back({token::kind::atom, s, s});
        }
    }
    return out;
}

bool is_word(const token& t) noexcept { return t.what == token::kind::atom || t.what == token::kind::quoted; }
bool is(const token& t, char c) noexcept { return t.what == token::kind::special && t.text[0] == c; }

struct reader {
    const std::vector<token>& toks;
    size_t at = 0;
    std::string comment;  // the last comment seen in the current address

    bool done() const noexcept { return at >= toks.size(); }
    // Skips comments (remembering the last); true if a token follows.
    bool more() {
        while (at < toks.size() && toks[at].what == token::kind::comment) {
            std::string_view c = toks[at].text;
            while (!c.empty() && (c.front() == ' ' || c.front() == '\t')) c.remove_prefix(1);
            while (!c.empty() && (c.back() == ' ' || c.back() == '\t')) c.remove_suffix(1);
            if (!c.empty()) comment.assign(c);
            ++at;
        }
        return at < toks.size();
    }
    // Words and dots as written, joined without spaces (local parts, domains).
    std::string joined_raw(bool domain) {
        std::string s;
        while (more() && (is_word(toks[at]) || (domain && toks[at].what == token::kind::literal))) s += toks[at++].raw;
        return s;
    }
};

std::string phrase_of(const std::vector<const token*>& words) {
    std::string s;
    for (const token* t : words) {
        if (!s.empty()) s.push_back(' ');
        s += t->text;
    }
    return s;
}

// After '<': [route ':'] local '@' domain '>'.
void angle_addr(reader& r, address& a) {
    if (r.more() && is(r.toks[r.at], '@')) {
        // Obsolete source route: "@a,@b:" kept as the ENVELOPE adl.
        while (r.more() && !is(r.toks[r.at], ':') && !is(r.toks[r.at], '>')) a.route += r.toks[r.at++].raw;
        if (r.more() && is(r.toks[r.at], ':')) ++r.at;
    }
    a.mailbox = r.joined_raw(false);
    if (r.more() && is(r.toks[r.at], '@')) {
        ++r.at;
        a.host = r.joined_raw(true);
    }
    while (r.more() && !is(r.toks[r.at], '>')) ++r.at;  // junk before '>'
    if (r.more()) ++r.at;
}

}  // namespace

std::vector<address> parse_addresses(std::string_view v) {
    std::vector<address> out;
    const std::vector<token> toks = tokenize(v);
    reader r{toks};
    bool in_group = false;
    while (out.size() < addresses_max && r.more()) {
        r.comment.clear();
        size_t item_start = r.at;
        std::vector<const token*> words;
        while (r.more() && is_word(toks[r.at])) words.push_back(&toks[r.at++]);
        const token* next = r.more() ? &toks[r.at] : nullptr;
        address a;
        if (next && is(*next, ':') && !in_group) {
            ++r.at;
            a.what = address::kind::group_start;
            a.mailbox = phrase_of(words);
            out.push_back(std::move(a));
            in_group = true;
            continue;
        }
        if (next && is(*next, '<')) {
            ++r.at;
            a.name = phrase_of(words);
            a.has_name = !words.empty();
            angle_addr(r, a);
        } else if (next && is(*next, '@') && !words.empty()) {
            r.at = item_start;
            a.mailbox = r.joined_raw(false);
            ++r.at;  // '@'
            a.host = r.joined_raw(true);
        } else if (!words.empty()) {
            // A local part with no domain ("To: postmaster").
            r.at = item_start;
            a.mailbox = r.joined_raw(false);
        } else if (next && is(*next, ';') && in_group) {
            ++r.at;
            out.push_back(address{address::kind::group_end, {}, {}, {}, {}, false});
            in_group = false;
            continue;
        } else {
            if (next) ++r.at;  // ',' of an empty element, or junk
            continue;
        }
        r.more();  // a trailing comment names an address without a display name
        if (!a.has_name && !r.comment.empty()) {
            a.name = r.comment;
            a.has_name = true;
        }
        if (a.host.empty() && !a.mailbox.empty()) a.host = ".MISSING-HOST-NAME.";
        out.push_back(std::move(a));
        while (r.more() && !is(toks[r.at], ',') && !is(toks[r.at], ';')) ++r.at;  // junk after an address
        if (r.more() && is(toks[r.at], ',')) ++r.at;
    }
    if (in_group && out.size() < addresses_max) out.push_back(address{address::kind::group_end, {}, {}, {}, {}, false});
    return out;
}

}  // namespace posthorn::store::mime
