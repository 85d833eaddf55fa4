// IMAP mailbox names; see mailbox_names.hh.
#include "proto/imap/mailbox_names.hh"

#include "posthorn/core/text.hh"
#include "posthorn/store.hh"
#include "proto/imap/cursor.hh"

#include <bitset>
#include <charconv>

namespace posthorn::proto::imap {

bool list_match(std::string_view pattern, std::string_view name) noexcept {
    constexpr size_t k_max = 256;
    if (name.size() >= k_max) return false;
    const bool fold = core::iequals(name.substr(0, 5), store::inbox) && (name.size() == 5 || name[5] == k_delimiter);
    // cur[j]: the pattern so far matches the first j bytes of name.
    std::bitset<k_max> cur, next;
    cur[0] = true;
    for (char pc : pattern) {
        next.reset();
        if (pc == '*') {
            bool any = false;
            for (size_t j = 0; j <= name.size(); ++j) next[j] = any = any || cur[j];
        } else if (pc == '%') {
            for (size_t j = 0; j <= name.size(); ++j)
                next[j] = cur[j] || (j > 0 && next[j - 1] && name[j - 1] != k_delimiter);
        } else {
            for (size_t j = 0; j < name.size(); ++j) {
                bool same = fold && j < 5 ? core::ascii_lower(pc) == core::ascii_lower(name[j]) : pc == name[j];
                next[j + 1] = cur[j] && same;
            }
        }
        cur = next;
        if (cur.none()) return false;
    }
    return cur[name.size()];
}

std::string_view special_use(std::string_view name) noexcept {
    struct row {
        std::string_view name, attr;
    };
    static constexpr row rows[] = {
        {"Sent", "\\Sent"}, {"Sent Messages", "\\Sent"}, {"Sent Items", "\\Sent"}, {"Drafts", "\\Drafts"},
        {"Trash", "\\Trash"}, {"Deleted Messages", "\\Trash"}, {"Junk", "\\Junk"}, {"Spam", "\\Junk"},
        {"Archive", "\\Archive"},
    };
    for (const row& r : rows)
        if (core::iequals(name, r.name)) return r.attr;
    return {};
}

void write_astring(std::string& out, std::string_view s) {
    bool atom = !s.empty() && !core::iequals(s, "NIL");
    bool quotable = true;
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (!cursor::atom_char(c)) atom = false;
        if (u == '\r' || u == '\n' || u == 0 || u >= 0x80) quotable = false;
    }
    if (atom) {
        out.append(s);
    } else if (quotable) {
        out.push_back('"');
        for (char c : s) {
            if (c == '"' || c == '\\') out.push_back('\\');
            out.push_back(c);
        }
        out.push_back('"');
    } else {
        char buf[24];
        auto r = std::to_chars(buf, buf + sizeof buf, s.size());
        out.push_back('{');
        out.append(buf, r.ptr).append("}\r\n").append(s);
    }
}

std::string_view canonical_mailbox(std::string_view name) noexcept {
    return core::iequals(name, store::inbox) ? store::inbox : name;
}

}  // namespace posthorn::proto::imap
