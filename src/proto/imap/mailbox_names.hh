// IMAP mailbox names as the session shows and matches them: LIST/LSUB
// patterns (RFC 3501 §6.3.8: `*` matches anything, `%` anything but the
// hierarchy delimiter "/"), SPECIAL-USE attributes by folder name (RFC
// 6154), and writing a name as an astring. Names are modified UTF-7
// (RFC 3501 §5.1.3) passed through as they are; INBOX is
// case-insensitive.
//
// Threading: pure functions. Limits: a name is at most 255 bytes (the
// store's limit; longer names never match); no allocation.
#pragma once

#include <string>
#include <string_view>

namespace posthorn::proto::imap {

inline constexpr char k_delimiter = '/';

bool list_match(std::string_view pattern, std::string_view name) noexcept;
// "\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive" or "".
std::string_view special_use(std::string_view name) noexcept;
// atom when it can be, else a quoted string, else a literal.
void write_astring(std::string& out, std::string_view s);
// INBOX in any case becomes "INBOX"; other names as they are.
std::string_view canonical_mailbox(std::string_view name) noexcept;

}  // namespace posthorn::proto::imap
