// libFuzzer target: the MIME skeleton. The input is parsed whole and in
// fuzzer-chosen cuts (the same skeleton must come out), the skeleton's
// encoding must decode to the same encoding, and the renderings and
// sections must stay inside the message. The input is also decoded as an
// index record (garbage must give an error or a skeleton that renders).
// Each text span SEARCH BODY reads lies inside the message and decodes
// (store/text_decoder.hh) to the same text whole and in cuts.
//
// Not built by meson. Build and run (from the repository root):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
//     tests/fuzz/store_mime_fuzz.cc src/store/mime/*.cc -o store_mime_fuzz
//   ./store_mime_fuzz -max_len=8192
#include "posthorn/store/mime.hh"
#include "posthorn/store/text_decoder.hh"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

using namespace posthorn::store;

namespace {

void check_inside(std::optional<mime::range> r, uint64_t size) {
    if (r && (r->offset > size || r->length > size - r->offset)) std::abort();
}

void exercise(const mime::skeleton& s, uint64_t size) {
    std::string out;
    s.write_envelope(out);
    s.write_body_structure(out, true);
    s.write_body_structure(out, false);
    const std::vector<std::vector<uint32_t>> paths = {{}, {1}, {2}, {1, 1}, {1, 2}, {2, 1}, {1, 1, 1}, {3, 1, 2}};
    for (const auto& p : paths)
        for (auto k : {mime::section::kind::all, mime::section::kind::header, mime::section::kind::text,
                       mime::section::kind::mime})
            check_inside(s.locate(mime::section{p, k}), size);
    (void)s.field_contains(mime::skeleton::field::subject, "a");
    (void)s.sent_date();
}

void decode_spans(const mime::skeleton& s, std::string_view message, size_t piece) {
    std::vector<mime::skeleton::text_span> spans;
    s.text_spans(spans);
    for (const auto& span : spans) {
        check_inside(span.bytes, message.size());
        std::string_view body = message.substr(span.bytes.offset, span.bytes.length);
        std::string whole, cut;
        mime::text_decoder a(span.encoding, span.charset);
        a.feed(body, whole);
        a.finish(whole);
        mime::text_decoder b(span.encoding, span.charset);
        for (size_t i = 0; i < body.size(); i += piece) b.feed(body.substr(i, piece), cut);
        b.finish(cut);
        if (whole != cut) std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const mime::skeleton whole = mime::parse(in);
    const std::string encoded = whole.encode();
    exercise(whole, size);

    const size_t piece = size ? 1 + data[0] % 13 : 1;
    mime::parser p;
    for (size_t i = 0; i < size; i += piece) p.feed(in.substr(i, piece));
    if (p.finish().encode() != encoded) std::abort();
    decode_spans(whole, in, piece);

    auto back = mime::skeleton::decode(encoded);
    if (!back || back->encode() != encoded) std::abort();

    if (auto garbage = mime::skeleton::decode(in)) exercise(*garbage, UINT64_MAX);
    return 0;
}
