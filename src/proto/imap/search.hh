// IMAP SEARCH (RFC 3501 §6.4.4): the search keys parsed into a small
// program (a flat vector of nodes; AND lists, OR, NOT and parentheses
// refer to children by index), evaluated per message. Keys that need the
// message's bytes or structure (FROM, HEADER, BODY, SENTON, ...) ask
// message_parts, only after the cheap keys of the same AND list passed.
// Keywords are looked up in the folder's keyword table at parse time; one
// the folder never saw matches no message (KEYWORD) or every one (UNKEYWORD).
//
// Threading: values; evaluation reads through message_parts.
// Limits: nesting (parentheses, NOT, OR) at most depth_max, or
// parse_error::too_deep — checked while parsing, so the evaluation's
// recursion is bounded by it too.
#pragma once

#include "posthorn/store.hh"
#include "proto/imap/cursor.hh"
#include "proto/imap/message_parts.hh"
#include "proto/imap/seqset.hh"

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace posthorn::proto::imap {

class search_program {
public:
    enum class parse_error : uint8_t { none, syntax, too_deep, charset };

    // `args`: [CHARSET x SP] key *(SP key), to the end of the command.
    // `folder`: the selected one, whose keyword table KEYWORD looks in
    // (null: no keywords).
    parse_error parse(cursor& args, uint32_t depth_max, std::deque<std::string>& arena,
                      const store::folder* folder);

    struct message_ctx {
        uint32_t seq;
        uint32_t uid;
        const store::message* msg;
        bool recent;
        uint32_t seq_max;   // `*` in sequence sets
        uint32_t uid_max;   // `*` in UID sets
    };
    bool matches(const message_ctx& m, message_parts& parts) const;

private:
    enum class op : uint8_t {
        all, and_list, or_, not_, flags_set, flags_clear, recent, new_, old, never, larger, smaller, before, on,
        since, sent_before, sent_on, sent_since, field, header, body, text, seq, uid
    };
    struct node {
        op what = op::all;
        uint32_t a = 0;   // child / first child in _kids / flag bits / field / set index
        uint32_t b = 0;   // second child / child count
        int64_t n = 0;    // size, day
        std::string_view s1, s2;   // header name; needle (lower-case)
    };
    int key(cursor& c, uint32_t depth);   // node index, -1 syntax, -2 too deep
    bool eval(uint32_t i, const message_ctx& m, message_parts& parts) const;

    std::vector<node> _nodes;
    std::vector<uint32_t> _kids;
    std::vector<seqset> _sets;
    std::deque<std::string>* _arena = nullptr;
    const store::folder* _folder = nullptr;
    uint32_t _depth_max = 0;
    bool _too_deep = false;
    uint32_t _root = 0;
};

}  // namespace posthorn::proto::imap
