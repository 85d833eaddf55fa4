// IMAP sequence sets (RFC 3501 §9 sequence-set): "1,3:5,7:*" over message
// sequence numbers or UIDs. `*` is the largest number in use, resolved
// when the set is used (RFC 3501 §6.4.8: "n:*" with n above it still
// names the largest).
//
// Threading: values. Limits: the text is bounded by the command's size.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace posthorn::proto::imap {

struct seq_range {
    uint32_t lo;
    uint32_t hi;   // inclusive
};

class seqset {
public:
    // False for anything but nz-number / "*" / ranges of them, comma-separated.
    bool parse(std::string_view text);
    bool contains(uint32_t n, uint32_t star) const noexcept;
    // Sorted, merged, inclusive ranges with `*` = star (empty when star is 0
    // and the set needs it). Reuses `out`.
    void resolve(uint32_t star, std::vector<seq_range>& out) const;
    bool empty() const noexcept { return _ranges.empty(); }
    // Every number at most n, and `*` only when n > 0 (RFC 3501 §9: a
    // sequence number past EXISTS, or `*` in an empty mailbox, is BAD).
    bool within(uint32_t n) const noexcept;

private:
    std::vector<seq_range> _ranges;   // 0 stands for `*`
};

// Appends a set in its shortest form ("1:3,7") to out; `numbers` ascending.
void write_set(std::string& out, const std::vector<uint32_t>& numbers);

}  // namespace posthorn::proto::imap
