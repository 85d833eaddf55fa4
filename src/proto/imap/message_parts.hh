// What the IMAP session needs of one stored message's structure, over the
// store's MIME skeleton (store/mime.hh): its header block and body ranges,
// the bytes a FETCH section names, ENVELOPE and BODYSTRUCTURE, and the
// SEARCH header and content tests. One object per session,
// pointed at a message with reset() and reused for the next (its buffers
// stay, so FETCH/SEARCH loops do not allocate per message).
//
// Threading: shard-local (it reads through the store).
// Limits: the header block read for SEARCH HEADER is the skeleton's
// (cut at mime::header_bytes_max by the parser).
// Errors: a store read failure makes the accessors answer "nothing" (empty
// range, no match) and sets failed(); the session logs it.
#pragma once

#include "posthorn/store.hh"
#include "posthorn/store/text_decoder.hh"
#include "posthorn/store/mime.hh"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace posthorn::proto::imap {

class message_parts {
public:
    explicit message_parts(store::shard_store& s) : _store(s) {}

    void reset(const store::message& m) noexcept;
    bool failed() const noexcept { return _failed; }

    // The top-level header block (blank line included), read on demand.
    std::string_view header_block();
    store::mime::range header();
    store::mime::range body();
    // RFC 3501 §6.4.5; nullopt when the path names no part.
    std::optional<store::mime::range> locate(const store::mime::section& s);
    void write_envelope(std::string& out);
    void write_body_structure(std::string& out, bool extensible);
    bool field_contains(store::mime::skeleton::field f, std::string_view needle_lower);
    std::optional<int64_t> sent_date();
    // SEARCH HEADER: an unfolded field named `name` whose value contains the
    // needle (ASCII case-insensitive); an empty needle matches any such field.
    bool header_contains(std::string_view name, std::string_view needle_lower);
    // The bytes of [r] contain the needle (windows read from the store,
    // overlapping by the needle's length).
    bool content_contains(store::mime::range r, std::string_view needle_lower);
    // SEARCH BODY (with_header false) and TEXT (true): the needle is in the
    // decoded text of the message's text parts (skeleton::text_spans:
    // transfer encoding undone, charset converted to UTF-8), in an embedded
    // message's header, or (TEXT) in the top-level header.
    bool text_contains(std::string_view needle_lower, bool with_header);

    void release_buffers() noexcept;   // drop big buffers between commands

private:
    bool load_header();
    const store::mime::skeleton* skeleton();

    store::shard_store& _store;
    store::message _msg;
    const store::mime::skeleton* _skel = nullptr;   // _msg's (shared with the store)
    bool _header_loaded = false;
    bool _failed = false;
    std::string _header;
    std::string _window;
    std::string _decoded;   // text_contains: decoded text, the last needle's length kept
    store::mime::text_decoder _decoder;   // reset per text part; keeps its charset converter
    std::vector<store::mime::skeleton::text_span> _spans;
};

// ASCII case-insensitive substring test; `needle_lower` already lower-case.
bool icontains(std::string_view hay, std::string_view needle_lower) noexcept;

}  // namespace posthorn::proto::imap
