// The skeleton's life cycle and what SEARCH asks of it: the top-level
// header and body ranges, the Date, and substring matches on the decoded
// address and subject fields.
//
// Threading: values only. Errors: none (a missing field matches nothing).
#include "posthorn/core/text.hh"
#include "store/mime/internal.hh"

namespace posthorn::store::mime {

namespace {

// An empty message: a text/plain root with an empty envelope, so that a
// default-constructed skeleton renders and locates like parse("").
void make_empty(skeleton::impl& m) {
    node n;
    n.type = m.add("text");
    n.subtype = m.add("plain");
    n.end = 1;
    n.envelope = 0;
    m.nodes.push_back(n);
    m.envelopes.emplace_back();
}

bool contains_folded(std::string_view hay, std::string_view needle) noexcept {
    if (needle.empty()) return true;
    if (needle.size() > hay.size()) return false;
    for (size_t i = 0; i + needle.size() <= hay.size(); ++i)
        if (core::iequals(hay.substr(i, needle.size()), needle)) return true;
    return false;
}

}  // namespace

skeleton::skeleton() : _impl(std::make_unique<impl>()) { make_empty(*_impl); }
skeleton::skeleton(std::unique_ptr<impl> i) noexcept : _impl(std::move(i)) {}
skeleton::~skeleton() = default;
skeleton::skeleton(skeleton&&) noexcept = default;
skeleton& skeleton::operator=(skeleton&&) noexcept = default;

range skeleton::header() const { return _impl->nodes[0].header; }
range skeleton::body() const { return _impl->nodes[0].body; }

void skeleton::text_spans(std::vector<text_span>& out) const {
    out.clear();
    const impl& m = *_impl;
    for (uint32_t i = 0; i < m.nodes.size(); ++i) {
        const node& n = m.nodes[i];
        if (n.kind == node_kind::message && i + 1 < m.nodes.size()) {
            out.push_back({m.nodes[i + 1].header, {}, {}});
            continue;
        }
        if (n.kind != node_kind::leaf || !core::iequals(m.str(n.type), "text")) continue;
        std::string_view charset;
        for (uint32_t p = n.params_begin; p < n.params_begin + n.params_count; ++p)
            if (core::iequals(m.str(m.params[p].name), "charset")) charset = m.str(m.params[p].value);
        out.push_back({n.body, m.str(n.encoding), charset});
    }
}

bool skeleton::field_contains(field f, std::string_view needle) const {
    const node& root = _impl->nodes[0];
    if (root.envelope == none) return false;
    const envelope& e = _impl->envelopes[root.envelope];
    text_ref r;
    switch (f) {
    case field::from: r = e.fields[envelope::from]; break;
    case field::to: r = e.fields[envelope::to]; break;
    case field::cc: r = e.fields[envelope::cc]; break;
    case field::bcc: r = e.fields[envelope::bcc]; break;
    case field::subject: r = e.fields[envelope::subject]; break;
    }
    if (!r.present()) return false;
    return contains_folded(decode_encoded_words(_impl->str(r)), needle);
}

std::optional<int64_t> skeleton::sent_date() const {
    const node& root = _impl->nodes[0];
    if (root.envelope == none) return std::nullopt;
    text_ref r = _impl->envelopes[root.envelope].fields[envelope::date];
    if (!r.present()) return std::nullopt;
    return parse_date(_impl->str(r));
}

}  // namespace posthorn::store::mime
