// The skeleton's compact form, kept in the store's index: versioned,
// varint-packed, and decoded strictly — every count, string reference,
// parameter range, envelope index and the shape of the part tree is
// checked, so a damaged record gives an error, never a skeleton that
// renders out of bounds or loops.
//
//   u8 version (1)
//   varint nodes, envelopes, params, text bytes; the text bytes
//   per node:     varint header offset, header length, body offset, body
//                 length, lines, end, envelope + 1 (0: none), params begin,
//                 params count, disposition params begin, count; u8 kind;
//                 9 strings (type, subtype, id, description, encoding, md5,
//                 disposition, language, location)
//   per envelope: 10 strings; per parameter: 2 strings
//   a string:     varint offset + 1 (0: absent), varint length
//
// Threading: stateless. Errors: decode() returns e_corrupt.
#include "store/mime/internal.hh"

#include "posthorn/core/result.hh"

namespace posthorn::store::mime {

namespace {

constexpr uint8_t codec_version = 1;
constexpr uint64_t params_max_total = 1u << 20;

void put_varint(std::string& out, uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<char>((v & 0x7f) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}

void put_ref(std::string& out, text_ref r) {
    put_varint(out, r.present() ? uint64_t{r.off} + 1 : 0);
    put_varint(out, r.present() ? r.len : 0);
}

struct reader {
    std::string_view in;
    size_t text_bytes = 0;
    bool ok = true;

    uint64_t varint() {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (in.empty()) return fail();
            auto b = static_cast<uint8_t>(in[0]);
            in.remove_prefix(1);
            if (shift == 63 && b > 1) return fail();
            v |= uint64_t{b & 0x7fu} << shift;
            if (!(b & 0x80)) return v;
        }
        return fail();
    }
    uint32_t u32() {
        uint64_t v = varint();
        if (v > UINT32_MAX) return static_cast<uint32_t>(fail());
        return static_cast<uint32_t>(v);
    }
    uint8_t u8() {
        if (in.empty()) return static_cast<uint8_t>(fail());
        auto b = static_cast<uint8_t>(in[0]);
        in.remove_prefix(1);
        return b;
    }
    text_ref ref() {
        uint64_t off = varint(), len = varint();
        if (off == 0) {
            if (len != 0) fail();
            return {};
        }
        --off;
        if (off > text_bytes || len > text_bytes - off) {
            fail();
            return {};
        }
        return text_ref{static_cast<uint32_t>(off), static_cast<uint32_t>(len)};
    }
    range span() {
        range r{varint(), varint()};
        if (r.offset + r.length < r.offset) fail();
        return r;
    }
    uint64_t fail() {
        ok = false;
        in = {};
        return 0;
    }
};

// The part tree: node i's subtree is [i, end); a leaf has none below it, a
// message exactly one child whose subtree is the rest, a multipart a chain
// of children. Nesting past what the parser makes is refused.
bool valid_tree(const skeleton::impl& m, uint32_t i, uint32_t limit, uint32_t depth) {
    if (depth > 2 * max_depth + 2) return false;  // a message/rfc822 is two levels
    const node& n = m.nodes[i];
    if (n.end <= i || n.end > limit) return false;
    switch (n.kind) {
    case node_kind::leaf: return n.end == i + 1;
    case node_kind::message:
        if (n.end == i + 1 || m.nodes[i + 1].end != n.end) return false;
        return valid_tree(m, i + 1, n.end, depth + 1);
    case node_kind::multipart:
        for (uint32_t c = i + 1; c < n.end; c = m.nodes[c].end)
            if (!valid_tree(m, c, n.end, depth + 1)) return false;
        return true;
    }
    return false;
}

}  // namespace

std::string skeleton::encode() const {
    const impl& m = *_impl;
    std::string out;
    out.reserve(16 + m.text.size() + m.nodes.size() * 40 + m.envelopes.size() * 24 + m.params.size() * 6);
    out.push_back(static_cast<char>(codec_version));
    put_varint(out, m.nodes.size());
    put_varint(out, m.envelopes.size());
    put_varint(out, m.params.size());
    put_varint(out, m.text.size());
    out += m.text;
    for (const node& n : m.nodes) {
        put_varint(out, n.header.offset);
        put_varint(out, n.header.length);
        put_varint(out, n.body.offset);
        put_varint(out, n.body.length);
        put_varint(out, n.lines);
        put_varint(out, n.end);
        put_varint(out, n.envelope == none ? 0 : uint64_t{n.envelope} + 1);
        put_varint(out, n.params_begin);
        put_varint(out, n.params_count);
        put_varint(out, n.disp_params_begin);
        put_varint(out, n.disp_params_count);
        out.push_back(static_cast<char>(n.kind));
        for (text_ref r : {n.type, n.subtype, n.id, n.description, n.encoding, n.md5, n.disposition, n.language,
                           n.location})
            put_ref(out, r);
    }
    for (const envelope& e : m.envelopes)
        for (text_ref r : e.fields) put_ref(out, r);
    for (const param& p : m.params) {
        put_ref(out, p.name);
        put_ref(out, p.value);
    }
    return out;
}

core::result<skeleton> skeleton::decode(std::string_view bytes) {
    const core::error corrupt{core::e_corrupt, "decode MIME skeleton"};
    reader r{bytes};
    if (r.u8() != codec_version || !r.ok) return corrupt;
    const uint64_t nodes = r.varint(), envelopes = r.varint(), params = r.varint(), text = r.varint();
    // Each node, envelope and parameter takes at least 12, 20 and 4 bytes.
    if (!r.ok || nodes == 0 || nodes > max_parts || envelopes > nodes || params > params_max_total ||
        text > r.in.size() || (r.in.size() - text) / 4 < nodes * 3 + envelopes * 5 + params)
        return corrupt;
    skeleton s(std::make_unique<impl>());
    impl& m = *s._impl;
    m.text.assign(r.in.substr(0, text));
    r.in.remove_prefix(text);
    r.text_bytes = text;
    m.nodes.resize(nodes);
    for (node& n : m.nodes) {
        n.header = r.span();
        n.body = r.span();
        n.lines = r.u32();
        n.end = r.u32();
        const uint32_t env = r.u32();
        n.envelope = env == 0 ? none : env - 1;
        n.params_begin = r.u32();
        n.params_count = r.u32();
        n.disp_params_begin = r.u32();
        n.disp_params_count = r.u32();
        const uint8_t kind = r.u8();
        if (kind > static_cast<uint8_t>(node_kind::message)) return corrupt;
        n.kind = static_cast<node_kind>(kind);
        for (text_ref* ref : {&n.type, &n.subtype, &n.id, &n.description, &n.encoding, &n.md5, &n.disposition,
                              &n.language, &n.location})
            *ref = r.ref();
        if (!r.ok || !n.type.present() || !n.subtype.present()) return corrupt;
        if (n.envelope != none && n.envelope >= envelopes) return corrupt;
        if (uint64_t{n.params_begin} + n.params_count > params ||
            uint64_t{n.disp_params_begin} + n.disp_params_count > params)
            return corrupt;
    }
    m.envelopes.resize(envelopes);
    for (envelope& e : m.envelopes)
        for (text_ref& f : e.fields) f = r.ref();
    m.params.resize(params);
    for (param& p : m.params) {
        p.name = r.ref();
        p.value = r.ref();
        if (r.ok && !(p.name.present() && p.value.present())) return corrupt;
    }
    if (!r.ok || !r.in.empty()) return corrupt;
    if (m.nodes[0].end != nodes || !valid_tree(m, 0, static_cast<uint32_t>(nodes), 0)) return corrupt;
    return s;
}

}  // namespace posthorn::store::mime
