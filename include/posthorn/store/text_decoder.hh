// store/text_decoder: a MIME part's body decoded to UTF-8 as it is read in
// pieces, for SEARCH BODY/TEXT (RFC 3501 §6.4.4 asks for the text, not its
// transfer encoding): base64 and quoted-printable (RFC 2045 §6.7-6.8) are
// undone, then the part's charset is converted with iconv(3). 7bit, 8bit,
// binary and unknown transfer encodings pass through; us-ascii, utf-8, no
// charset and a charset iconv does not know pass through unconverted.
//
// Threading: one decoder per part being read; no shared state.
// Errors: none. Malformed input decodes to what can be read: stray base64
// characters are skipped, a broken "=" escape is kept as it is, a byte
// sequence invalid in its charset becomes U+FFFD.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace posthorn::store::mime {

class text_decoder {
public:
    text_decoder() = default;   // identity until reset()
    text_decoder(std::string_view transfer_encoding, std::string_view charset);
    ~text_decoder();
    text_decoder(const text_decoder&) = delete;
    text_decoder& operator=(const text_decoder&) = delete;

    // True when decoding would give the bytes back as they are (read them
    // directly instead): no transfer encoding to undo, no charset to convert.
    static bool changes_nothing(std::string_view transfer_encoding, std::string_view charset) noexcept;

    // Starts the next part. The charset's converter is kept when the part
    // has the same charset as the one before (SEARCH BODY over a folder
    // opens one, not one per message).
    void reset(std::string_view transfer_encoding, std::string_view charset);

    // Appends the text of the next piece of the body to `out`; pieces may
    // split an escape, a base64 quantum or a multibyte character anywhere.
    void feed(std::string_view in, std::string& out);
    // The end of the body: what an incomplete tail still gives.
    void finish(std::string& out);

private:
    enum class transfer : uint8_t { identity, base64, quoted_printable };
    void transfer_decode(std::string_view in, std::string& out);
    void convert(std::string& out, bool last);
    void flush_base64(std::string& out);

    transfer _transfer = transfer::identity;
    uint32_t _b64_bits = 0;        // base64: bits of the quantum so far
    int _b64_count = 0;            // and how many characters gave them
    std::string _qp_pending;       // quoted-printable: an "=" escape cut by the piece's end
    void* _iconv = nullptr;        // iconv_t, null when no conversion is needed
    std::string _charset;          // what _iconv converts from (or failed to open for)
    std::string _raw;              // transfer-decoded bytes not converted yet
};

}  // namespace posthorn::store::mime
