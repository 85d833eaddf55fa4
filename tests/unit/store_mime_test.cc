// store/mime: the skeleton of a stored message — ENVELOPE and
// BODY/BODYSTRUCTURE as RFC 3501 §7.4.2 spells them (the expected strings
// are derived by hand from the messages below), sections (§6.4.5), the
// parse at every cut and with bare LF, RFC 2047 and address edge cases,
// the limits, and the index encoding against garbage.
#include "posthorn/store/mime.hh"
#include "posthorn/store/text_decoder.hh"

#include <gtest/gtest.h>

#include <ctime>
#include <random>
#include <string>
#include <vector>

using namespace posthorn::store;

namespace {

std::string crlf(const std::vector<std::string>& lines) {
    std::string s;
    for (size_t i = 0; i < lines.size(); ++i) {
        if (i) s += "\r\n";
        s += lines[i];
    }
    return s;
}

// The embedded message of part 4: multipart/mixed, text/plain + image/png.
// 266 bytes, 14 line breaks, no line break at its end (the one before the
// outer delimiter belongs to the delimiter).
const std::string inner = crlf({
    "From: Dan <dan@example.net>",
    "Subject: inner",
    "Date: 1 Jan 2026 00:00:00 +0000",
    "Content-Type: multipart/mixed; boundary=inner",
    "",
    "--inner",
    "Content-Type: text/plain",
    "",
    "inner text",
    "--inner",
    "Content-Type: image/png",
    "Content-Transfer-Encoding: base64",
    "",
    "iVBORw==",
    "--inner--",
});

// Part 1 body: 158 bytes.
const std::string alternative = crlf({
    "--alt",
    "Content-Type: text/plain",
    "",
    "plain",
    "--alt",
    "Content-Type: text/html; charset=\"utf-8\"",
    "Content-Transfer-Encoding: quoted-printable",
    "",
    "<p>html</p>",
    "--alt--",
});

const std::string part3_mime = crlf({
    "Content-Type: application/pdf; name=\"report.pdf\"",
    "Content-Disposition: attachment; filename=\"report.pdf\"; size=12",
    "Content-Transfer-Encoding: base64",
    "Content-ID: <pdf1@example.org>",
    "Content-Description: The report",
    "",
    "",
});

const std::string top_header = crlf({
    "From: \"Alice Example\" <alice@example.org>",
    "To: Bob <bob@example.com>, carol@example.com (Carol C)",
    "Cc: friends: dave@example.net, \"Eve E.\" <eve@example.net>;",
    "Subject: =?UTF-8?B?SGVsbG8gd8O2cmxk?= and =?ISO-8859-1?Q?caf=E9?=",
    "Date: Tue, 24 Nov 2026 10:20:30 +0100",
    "Message-ID: <msg1@example.org>",
    "MIME-Version: 1.0",
    "Content-Type: multipart/mixed; boundary=\"outer\"",
    "",
    "",
});

const std::string message = top_header + crlf({
    "This is the preamble.",
    "--outer",
    "Content-Type: multipart/alternative; boundary=alt",
    "",
    alternative,
    "--outer",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Disposition: inline",
    "Content-Language: en, de",
    "",
    "Hello Bob.",
    "Second line.",
    "--outer",
}) + "\r\n" + part3_mime + crlf({
    "SGVsbG8gcmVwb3J0",
    "--outer",
    "Content-Type: message/rfc822",
    "",
    inner,
    "--outer--",
    "epilogue",
    "",
});

const std::string inner_envelope =
    "(\"1 Jan 2026 00:00:00 +0000\" \"inner\" ((\"Dan\" NIL \"dan\" \"example.net\")) "
    "((\"Dan\" NIL \"dan\" \"example.net\")) ((\"Dan\" NIL \"dan\" \"example.net\")) NIL NIL NIL NIL NIL)";

std::string envelope_of(const mime::skeleton& s) {
    std::string out;
    s.write_envelope(out);
    return out;
}

std::string structure_of(const mime::skeleton& s, bool extensible) {
    std::string out;
    s.write_body_structure(out, extensible);
    return out;
}

std::string at(const std::string& m, std::optional<mime::range> r) {
    if (!r) return "<none>";
    return m.substr(r->offset, r->length);
}

mime::section part(std::vector<uint32_t> path, mime::section::kind what = mime::section::kind::all) {
    return mime::section{std::move(path), what};
}

TEST(store_mime, envelope_has_groups_display_names_and_defaults_sender_and_reply_to_to_from) {
    const mime::skeleton s = mime::parse(message);
    const std::string alice = "((\"Alice Example\" NIL \"alice\" \"example.org\"))";
    EXPECT_EQ(envelope_of(s),
              "(\"Tue, 24 Nov 2026 10:20:30 +0100\" "
              "\"=?UTF-8?B?SGVsbG8gd8O2cmxk?= and =?ISO-8859-1?Q?caf=E9?=\" " +
                  alice + " " + alice + " " + alice + " " +
                  "((\"Bob\" NIL \"bob\" \"example.com\")(\"Carol C\" NIL \"carol\" \"example.com\")) "
                  "((NIL NIL \"friends\" NIL)(NIL NIL \"dave\" \"example.net\")(\"Eve E.\" NIL \"eve\" \"example.net\")"
                  "(NIL NIL NIL NIL)) "
                  "NIL NIL \"<msg1@example.org>\")");
}

TEST(store_mime, bodystructure_lists_parts_then_subtype_and_extension_data) {
    const mime::skeleton s = mime::parse(message);
    const std::string alt =
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 0 NIL NIL NIL NIL)"
        "(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\" 11 0 NIL NIL NIL NIL)"
        " \"ALTERNATIVE\" (\"BOUNDARY\" \"alt\") NIL NIL NIL)";
    const std::string text =
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 24 1 NIL (\"INLINE\" NIL) (\"en\" \"de\") NIL)";
    const std::string pdf =
        "(\"APPLICATION\" \"PDF\" (\"NAME\" \"report.pdf\") \"<pdf1@example.org>\" \"The report\" \"BASE64\" 16 "
        "NIL (\"ATTACHMENT\" (\"FILENAME\" \"report.pdf\" \"SIZE\" \"12\")) NIL NIL)";
    const std::string rfc822 =
        "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 266 " + inner_envelope +
        " ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 0 NIL NIL NIL NIL)"
        "(\"IMAGE\" \"PNG\" NIL NIL NIL \"BASE64\" 8 NIL NIL NIL NIL)"
        " \"MIXED\" (\"BOUNDARY\" \"inner\") NIL NIL NIL) 14 NIL NIL NIL NIL)";
    EXPECT_EQ(structure_of(s, true),
              "(" + alt + text + pdf + rfc822 + " \"MIXED\" (\"BOUNDARY\" \"outer\") NIL NIL NIL)");
}

TEST(store_mime, body_is_bodystructure_without_extension_data) {
    const mime::skeleton s = mime::parse(message);
    EXPECT_EQ(structure_of(s, false),
              "(((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 0)"
              "(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\" 11 0) \"ALTERNATIVE\")"
              "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 24 1)"
              "(\"APPLICATION\" \"PDF\" (\"NAME\" \"report.pdf\") \"<pdf1@example.org>\" \"The report\" \"BASE64\" 16)"
              "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 266 " +
                  inner_envelope +
                  " ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 0)"
                  "(\"IMAGE\" \"PNG\" NIL NIL NIL \"BASE64\" 8) \"MIXED\") 14)"
                  " \"MIXED\")");
}

TEST(store_mime, sections_name_parts_their_mime_headers_and_embedded_messages) {
    const mime::skeleton s = mime::parse(message);
    using k = mime::section::kind;
    EXPECT_EQ(at(message, s.locate(part({}))), message);
    EXPECT_EQ(at(message, s.locate(part({}, k::header))), top_header);
    EXPECT_EQ(at(message, s.locate(part({}, k::text))), message.substr(top_header.size()));
    EXPECT_EQ(at(message, s.locate(part({1}))), alternative);
    EXPECT_EQ(at(message, s.locate(part({1, 1}))), "plain");
    EXPECT_EQ(at(message, s.locate(part({1, 2}))), "<p>html</p>");
    EXPECT_EQ(at(message, s.locate(part({1, 2}, k::mime))),
              "Content-Type: text/html; charset=\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n");
    EXPECT_EQ(at(message, s.locate(part({2}))), "Hello Bob.\r\nSecond line.");
    EXPECT_EQ(at(message, s.locate(part({3}, k::mime))), part3_mime);
    EXPECT_EQ(at(message, s.locate(part({3}))), "SGVsbG8gcmVwb3J0");
    EXPECT_EQ(at(message, s.locate(part({4}))), inner);
    EXPECT_EQ(at(message, s.locate(part({4}, k::header))), inner.substr(0, inner.find("\r\n\r\n") + 4));
    EXPECT_EQ(at(message, s.locate(part({4}, k::header_fields))), inner.substr(0, inner.find("\r\n\r\n") + 4));
    EXPECT_EQ(at(message, s.locate(part({4}, k::text))), inner.substr(inner.find("\r\n\r\n") + 4));
    EXPECT_EQ(at(message, s.locate(part({4}, k::mime))), "Content-Type: message/rfc822\r\n\r\n");
    EXPECT_EQ(at(message, s.locate(part({4, 1}))), "inner text");
    EXPECT_EQ(at(message, s.locate(part({4, 2}))), "iVBORw==");
    // Names no part, or a specifier that needs a message/rfc822 part.
    EXPECT_FALSE(s.locate(part({9})));
    EXPECT_FALSE(s.locate(part({0})));
    EXPECT_FALSE(s.locate(part({4, 3})));
    EXPECT_FALSE(s.locate(part({4, 2, 1})));
    EXPECT_FALSE(s.locate(part({2, 1})));
    EXPECT_FALSE(s.locate(part({2}, k::header)));
    EXPECT_FALSE(s.locate(part({2}, k::text)));
    EXPECT_FALSE(s.locate(part({}, k::mime)));
    EXPECT_EQ(at(message, s.header()), top_header);
    EXPECT_EQ(at(message, s.body()), message.substr(top_header.size()));
}

TEST(store_mime, single_part_message_has_its_body_as_part_1) {
    const std::string m = "Subject: one\r\nContent-Type: text/plain\r\n\r\nbody line\r\n";
    const mime::skeleton s = mime::parse(m);
    EXPECT_EQ(at(m, s.locate(part({1}))), "body line\r\n");
    EXPECT_EQ(at(m, s.locate(part({1}, mime::section::kind::mime))), "Subject: one\r\nContent-Type: text/plain\r\n\r\n");
    EXPECT_FALSE(s.locate(part({2})));
    EXPECT_FALSE(s.locate(part({1, 1})));
    EXPECT_EQ(structure_of(s, true), "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 11 1 NIL NIL NIL NIL)");
}

TEST(store_mime, nested_message_rfc822_part_has_its_own_envelope) {
    const std::string embedded = "From: x@y.example\r\nSubject: fwd\r\n\r\nforwarded\r\n";
    const std::string m = "Subject: outer\r\nContent-Type: message/rfc822\r\n\r\n" + embedded;
    const mime::skeleton s = mime::parse(m);
    EXPECT_EQ(structure_of(s, false),
              "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 46 "
              "(NIL \"fwd\" ((NIL NIL \"x\" \"y.example\")) ((NIL NIL \"x\" \"y.example\")) "
              "((NIL NIL \"x\" \"y.example\")) NIL NIL NIL NIL NIL) "
              "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 11 1) 4)");
    EXPECT_EQ(envelope_of(s), "(NIL \"outer\" NIL NIL NIL NIL NIL NIL NIL NIL)");
    // Part 1 is the message/rfc822 body; 1.1 the embedded single part's body.
    EXPECT_EQ(at(m, s.locate(part({1}))), embedded);
    EXPECT_EQ(at(m, s.locate(part({1, 1}))), "forwarded\r\n");
    EXPECT_EQ(at(m, s.locate(part({1}, mime::section::kind::header))), "From: x@y.example\r\nSubject: fwd\r\n\r\n");
    EXPECT_EQ(at(m, s.locate(part({1}, mime::section::kind::text))), "forwarded\r\n");
}

TEST(store_mime, base64_message_rfc822_is_kept_opaque) {
    const mime::skeleton s = mime::parse(
        "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQp5\r\n");
    EXPECT_EQ(structure_of(s, false),
              "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"BASE64\" 22 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) "
              "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0) 1)");
    EXPECT_FALSE(s.locate(part({1}, mime::section::kind::header)));
}

TEST(store_mime, every_cut_of_the_input_gives_the_same_skeleton) {
    const std::string whole = mime::parse(message).encode();
    for (size_t piece : {1, 2, 3, 5, 7, 10, 64, 100}) {
        SCOPED_TRACE(piece);
        mime::parser p;
        for (size_t i = 0; i < message.size(); i += piece) p.feed(std::string_view(message).substr(i, piece));
        EXPECT_EQ(p.finish().encode(), whole);
    }
}

TEST(store_mime, bare_lf_line_ends_parse_like_crlf) {
    std::string lf = message;
    std::erase(lf, '\r');
    const mime::skeleton s = mime::parse(lf);
    using k = mime::section::kind;
    EXPECT_EQ(at(lf, s.locate(part({1, 1}))), "plain");
    EXPECT_EQ(at(lf, s.locate(part({2}))), "Hello Bob.\nSecond line.");
    EXPECT_EQ(at(lf, s.locate(part({4, 1}))), "inner text");
    EXPECT_EQ(at(lf, s.locate(part({4}, k::mime))), "Content-Type: message/rfc822\n\n");
    std::string want_inner = inner;
    std::erase(want_inner, '\r');
    EXPECT_EQ(at(lf, s.locate(part({4}))), want_inner);
    // Same shape; sizes count the bytes as stored.
    EXPECT_NE(structure_of(s, true).find("\"7BIT\" 252 "), std::string::npos);  // 266 - 14 CRs
    mime::parser p;
    for (char c : lf) p.feed(std::string_view(&c, 1));
    EXPECT_EQ(p.finish().encode(), s.encode());
}

TEST(store_mime, missing_headers_are_nil_and_the_body_is_us_ascii_text) {
    const mime::skeleton s = mime::parse("\r\nhello\r\n");
    EXPECT_EQ(envelope_of(s), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    EXPECT_EQ(structure_of(s, true), "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 7 1 NIL NIL NIL NIL)");
    EXPECT_FALSE(s.sent_date());
    EXPECT_FALSE(s.field_contains(mime::skeleton::field::from, ""));
    // A default skeleton and an empty message render the same.
    EXPECT_EQ(structure_of(mime::skeleton(), true), structure_of(mime::parse(""), true));
    EXPECT_EQ(envelope_of(mime::skeleton()), envelope_of(mime::parse("")));
}

TEST(store_mime, present_but_empty_fields_are_empty_strings_and_odd_strings_are_literals) {
    const mime::skeleton s = mime::parse("Subject:\r\nDate: \r\nMessage-ID: say \"hi\" \\o/\r\nIn-Reply-To: caf\xc3\xa9\r\n\r\n");
    EXPECT_EQ(envelope_of(s), "(\"\" \"\" NIL NIL NIL NIL NIL NIL {5}\r\ncaf\xc3\xa9 {12}\r\nsay \"hi\" \\o/)");
}

TEST(store_mime, header_without_a_body_and_a_header_cut_short) {
    const mime::skeleton s = mime::parse("Subject: only a header\r\n");
    EXPECT_EQ(s.header().length, 24u);
    EXPECT_EQ(s.body().offset, 24u);
    EXPECT_EQ(s.body().length, 0u);
    EXPECT_TRUE(s.field_contains(mime::skeleton::field::subject, "ONLY"));
}

TEST(store_mime, encoded_words_are_decoded_for_search) {
    const mime::skeleton s = mime::parse(message);
    using f = mime::skeleton::field;
    EXPECT_TRUE(s.field_contains(f::subject, "hello w\xc3\xb6rld and caf\xc3\xa9"));
    EXPECT_TRUE(s.field_contains(f::subject, "CAF\xc3\xa9"));
    EXPECT_FALSE(s.field_contains(f::subject, "SGVsbG8"));
    EXPECT_TRUE(s.field_contains(f::from, "alice@EXAMPLE.org"));
    EXPECT_TRUE(s.field_contains(f::to, "Carol C"));
    EXPECT_TRUE(s.field_contains(f::cc, "eve@"));
    EXPECT_FALSE(s.field_contains(f::bcc, "a"));
    const mime::skeleton t = mime::parse(
        "From: =?utf-8?Q?J=C3=B6rg?= <j@example.org>\r\n"
        "Subject: =?utf-8?q?a_b?= =?UTF-8?Q?c?= x =?koi8-r?B?8NLJ18XU?= =?iso-8859-1?b?/w==?=\r\n\r\n");
    EXPECT_TRUE(t.field_contains(f::from, "J\xc3\xb6rg <j@"));
    EXPECT_TRUE(t.field_contains(f::subject, "a bc x =?koi8-r?B?8NLJ18XU?= \xc3\xbf"));
}

TEST(store_mime, address_groups_routes_quoted_local_parts_and_missing_domains) {
    const mime::skeleton s = mime::parse(
        "From: <@relay.example:joe@example.org>\r\n"
        "To: undisclosed-recipients:;\r\n"
        "Cc: \"john doe\"@example.org, postmaster, (comment only) , team: ;\r\n"
        "Bcc: Mary Q. Public <mary@example.org>, <>\r\n\r\n");
    EXPECT_EQ(envelope_of(s),
              "(NIL NIL ((NIL \"@relay.example\" \"joe\" \"example.org\")) "
              "((NIL \"@relay.example\" \"joe\" \"example.org\")) ((NIL \"@relay.example\" \"joe\" \"example.org\")) "
              "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) "
              "((NIL NIL {10}\r\n\"john doe\" \"example.org\")(NIL NIL \"postmaster\" \".MISSING-HOST-NAME.\")"
              "(NIL NIL \"team\" NIL)(NIL NIL NIL NIL)) "
              "((\"Mary Q. Public\" NIL \"mary\" \"example.org\")(NIL NIL \"\" \"\")) NIL NIL)");
}

TEST(store_mime, rfc5322_appendix_a_group_with_comments_everywhere) {
    const mime::skeleton s = mime::parse(
        "From: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>\r\n"
        "To:A Group(Some people)\r\n"
        "     :Chris Jones <c@(Chris's host.)public.example>,\r\n"
        "         joe@example.org,\r\n"
        "  John <jdoe@one.test> (my dear friend); (the end of the group)\r\n"
        "Cc:(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;\r\n"
        "Bcc: \"Giant; \\\"Big\\\" Box\" <sysservices@[192.0.2.1]>\r\n\r\n");
    const std::string pete = "((\"Pete\" NIL \"pete\" \"silly.test\"))";
    EXPECT_EQ(envelope_of(s),
              "(NIL NIL " + pete + " " + pete + " " + pete +
                  " ((NIL NIL \"A Group\" NIL)(\"Chris Jones\" NIL \"c\" \"public.example\")"
                  "(NIL NIL \"joe\" \"example.org\")(\"John\" NIL \"jdoe\" \"one.test\")(NIL NIL NIL NIL))"
                  " ((NIL NIL \"Hidden recipients\" NIL)(NIL NIL NIL NIL))"
                  " (({16}\r\nGiant; \"Big\" Box NIL \"sysservices\" \"[192.0.2.1]\")) NIL NIL)");
}

TEST(store_mime, unquoted_boundary_with_equals_signs_and_delimiter_padding) {
    const std::string m =
        "Content-Type: multipart/mixed;\r\n boundary=----=_Part_1_2.3\r\n\r\n"
        "------=_Part_1_2.3  \r\n\r\nfirst\r\n------=_Part_1_2.3x\r\nstill first\r\n------=_Part_1_2.3--\t\r\n";
    const mime::skeleton s = mime::parse(m);
    EXPECT_EQ(at(m, s.locate(part({1}))), "first\r\n------=_Part_1_2.3x\r\nstill first");
    EXPECT_FALSE(s.locate(part({2})));
}

TEST(store_mime, date_is_the_header_wall_clock_time) {
    const mime::skeleton s = mime::parse(message);
    std::tm tm{};
    tm.tm_year = 2026 - 1900;
    tm.tm_mon = 10;
    tm.tm_mday = 24;
    tm.tm_hour = 10;
    tm.tm_min = 20;
    tm.tm_sec = 30;
    ASSERT_TRUE(s.sent_date());
    EXPECT_EQ(*s.sent_date(), static_cast<int64_t>(::timegm(&tm)));
    EXPECT_TRUE(mime::parse("Date: 3 Feb 99 23:59 EST\r\n\r\n").sent_date());
    EXPECT_EQ(*mime::parse("Date: 1 Jan 1970 00:01:00 GMT\r\n\r\n").sent_date(), 60);
    EXPECT_FALSE(mime::parse("Date: yesterday\r\n\r\n").sent_date());
}

TEST(store_mime, header_fields_filter_keeps_folded_lines_with_their_field) {
    const std::string block = "From: a\r\nSubject: x\r\n y\r\nto: b\r\n\r\n";
    std::vector<std::string_view> names{"SUBJECT", "To"};
    std::string out;
    mime::filter_header_fields(block, names, false, out);
    EXPECT_EQ(out, "Subject: x\r\n y\r\nto: b\r\n\r\n");
    out.clear();
    mime::filter_header_fields(block, names, true, out);
    EXPECT_EQ(out, "From: a\r\n\r\n");
    out.clear();
    mime::filter_header_fields(block, {}, false, out);
    EXPECT_EQ(out, "\r\n");
}

TEST(store_mime, parameters_with_comments_quotes_and_rfc2231_continuations) {
    const mime::skeleton s = mime::parse(
        "Content-Type: Text/Plain (comment) ; Charset = \"ISO-8859-1\" ; format=flowed\r\n"
        "Content-Disposition: attachment; filename*0=\"long\"; filename*1=\"name.txt\"; name*=utf-8''%E2%82%AC\r\n"
        "Content-Transfer-Encoding: 8bit (really)\r\n"
        "Content-Language: en\r\n"
        "Content-Location: http://example.org/x\r\n"
        "Content-MD5: Q2hlY2s=\r\n\r\nx");
    EXPECT_EQ(structure_of(s, true),
              "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"ISO-8859-1\" \"FORMAT\" \"flowed\") NIL NIL \"8BIT\" 1 0 \"Q2hlY2s=\" "
              "(\"ATTACHMENT\" (\"FILENAME\" \"longname.txt\" \"NAME*\" \"utf-8''%E2%82%AC\")) \"en\" "
              "\"http://example.org/x\")");
}

TEST(store_mime, digest_parts_default_to_message_rfc822_and_a_missing_close_delimiter_is_tolerated) {
    const std::string m =
        "Content-Type: multipart/digest; boundary=d\r\n\r\n"
        "--d\r\n\r\nSubject: first\r\n\r\none\r\n"
        "--d\r\nContent-Type: text/plain\r\n\r\ntwo\r\n";
    const mime::skeleton s = mime::parse(m);
    EXPECT_EQ(structure_of(s, false),
              "((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 21 (NIL \"first\" NIL NIL NIL NIL NIL NIL NIL NIL) "
              "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 0) 2)"
              "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 1) \"DIGEST\")");
    EXPECT_EQ(at(m, s.locate(part({1, 1}))), "one");
    EXPECT_EQ(at(m, s.locate(part({2}))), "two\r\n");
}

TEST(store_mime, multipart_without_delimiters_shows_one_empty_part) {
    const mime::skeleton s = mime::parse("Content-Type: multipart/mixed; boundary=zz\r\n\r\nno parts here\r\n");
    EXPECT_EQ(structure_of(s, false), "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0) \"MIXED\")");
    EXPECT_FALSE(s.locate(part({1})));
}

TEST(store_mime, nesting_past_max_depth_is_kept_as_an_opaque_leaf) {
    std::string m;
    for (uint32_t i = 0; i < mime::max_depth + 10; ++i) m += "Content-Type: message/rfc822\r\n\r\n";
    m += "Subject: deep\r\n\r\nbottom\r\n";
    const mime::skeleton s = mime::parse(m);
    const std::string body = structure_of(s, true);
    // The deepest kept message/rfc822 has an all-NIL envelope and an empty body.
    EXPECT_NE(body.find("(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
                        "\"7BIT\" 0 0 NIL NIL NIL NIL)"),
              std::string::npos);
    std::vector<uint32_t> path(mime::max_depth, 1);
    EXPECT_TRUE(s.locate(part(path)));
    auto back = mime::skeleton::decode(s.encode());
    ASSERT_TRUE(back);
    EXPECT_EQ(back->encode(), s.encode());

    std::string mp;
    for (uint32_t i = 0; i < mime::max_depth + 10; ++i)
        mp += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\r\n\r\n--b" + std::to_string(i) + "\r\n";
    mp += "\r\nleaf\r\n";
    const mime::skeleton t = mime::parse(mp);
    EXPECT_NE(structure_of(t, false).find("(\"MULTIPART\" \"MIXED\" (\"BOUNDARY\" \"b64\") NIL NIL \"7BIT\""),
              std::string::npos);
    ASSERT_TRUE(mime::skeleton::decode(t.encode()));
}

TEST(store_mime, parts_past_max_parts_stay_in_the_last_part) {
    std::string m = "Content-Type: multipart/mixed; boundary=p\r\n\r\n";
    for (uint32_t i = 0; i < mime::max_parts + 100; ++i) m += "--p\r\n\r\n" + std::to_string(i) + "\r\n";
    m += "--p--\r\n";
    const mime::skeleton s = mime::parse(m);
    EXPECT_TRUE(s.locate(part({mime::max_parts - 1})));
    EXPECT_FALSE(s.locate(part({mime::max_parts})));
    const std::string last = at(m, s.locate(part({mime::max_parts - 1})));
    EXPECT_TRUE(last.starts_with(std::to_string(mime::max_parts - 2) + "\r\n--p\r\n"));
    EXPECT_TRUE(last.ends_with(std::to_string(mime::max_parts + 99)));
    auto back = mime::skeleton::decode(s.encode());
    ASSERT_TRUE(back);
    EXPECT_EQ(structure_of(*back, true), structure_of(s, true));
}

TEST(store_mime, encoding_round_trips_and_truncations_are_errors) {
    const mime::skeleton s = mime::parse(message);
    const std::string bytes = s.encode();
    auto back = mime::skeleton::decode(bytes);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->encode(), bytes);
    EXPECT_EQ(structure_of(*back, true), structure_of(s, true));
    EXPECT_EQ(envelope_of(*back), envelope_of(s));
    EXPECT_EQ(back->locate(part({4, 1}))->offset, s.locate(part({4, 1}))->offset);
    for (size_t n = 0; n < bytes.size(); ++n) EXPECT_FALSE(mime::skeleton::decode(bytes.substr(0, n))) << n;
    EXPECT_FALSE(mime::skeleton::decode(bytes + "x"));
    std::string other_version = bytes;
    other_version[0] = 2;
    EXPECT_EQ(mime::skeleton::decode(other_version).err().code, posthorn::core::e_corrupt);
    // A simple message costs a few hundred bytes in the index.
    EXPECT_LT(mime::parse("From: a@b.example\r\nTo: c@d.example\r\nSubject: hi\r\n"
                          "Date: 1 Jan 2026 00:00:00 +0000\r\nMessage-ID: <1@b.example>\r\n\r\nhello\r\n")
                  .encode()
                  .size(),
              200u);
}

// Whatever decode() accepts must render and locate without reading out
// of bounds (run under ASan to see it).
void exercise(const mime::skeleton& s) {
    std::string out;
    s.write_envelope(out);
    s.write_body_structure(out, true);
    s.write_body_structure(out, false);
    for (auto path : {std::vector<uint32_t>{}, {1}, {1, 1}, {2}, {4, 1}, {1, 1, 1, 1}})
        for (auto what : {mime::section::kind::all, mime::section::kind::header, mime::section::kind::text,
                          mime::section::kind::mime})
            (void)s.locate(part(path, what));
    (void)s.field_contains(mime::skeleton::field::from, "a");
    (void)s.sent_date();
    EXPECT_FALSE(out.empty());
}

TEST(store_mime, decoding_garbage_or_damaged_encodings_never_crashes) {
    std::mt19937 rng(20261126);
    const std::string good = mime::parse(message).encode();
    int accepted = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string b;
        if (i % 2 == 0) {
            b.resize(rng() % 300);
            for (char& c : b) c = static_cast<char>(rng());
            if (!b.empty() && i % 4 == 0) b[0] = 1;  // past the version check
        } else {
            b = good;
            for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips)
                b[rng() % b.size()] = static_cast<char>(rng());
        }
        auto s = mime::skeleton::decode(b);
        if (!s) continue;
        ++accepted;
        exercise(*s);
    }
    EXPECT_GT(accepted, 0);  // some byte flips land in text and stay valid
}

TEST(store_mime, parsing_random_bytes_gives_a_skeleton_that_round_trips) {
    std::mt19937 rng(7);
    const std::string alphabet = "-\r\n:; =\"boundary=Content-Type: multipart/mixed message/rfc822 text/plain ab";
    for (int i = 0; i < 300; ++i) {
        std::string m;
        // Message-like noise: pieces of the real message and random alphabet runs.
        for (int j = 0; j < 20; ++j) {
            if (rng() % 2) {
                size_t at_ = rng() % message.size();
                m += message.substr(at_, rng() % 200);
            } else {
                for (int k = rng() % 30; k > 0; --k) m += alphabet[rng() % alphabet.size()];
            }
        }
        const mime::skeleton s = mime::parse(m);
        auto back = mime::skeleton::decode(s.encode());
        ASSERT_TRUE(back) << i;
        exercise(*back);
        mime::parser p;
        for (size_t k = 0; k < m.size(); k += 3) p.feed(std::string_view(m).substr(k, 3));
        EXPECT_EQ(p.finish().encode(), s.encode());
    }
}

}  // namespace

// text_decoder: every cut of the input gives the same text.
std::string decode_in_pieces(std::string_view te, std::string_view charset, std::string_view in, size_t piece) {
    mime::text_decoder d(te, charset);
    std::string out;
    for (size_t i = 0; i < in.size(); i += piece) d.feed(in.substr(i, piece), out);
    d.finish(out);
    return out;
}

TEST(store_mime_text_decoder, base64_with_line_breaks_and_padding_at_every_cut) {
    const std::string in = "SGVsbG8s\r\nIHdvcmxk\r\nIQ==\r\n";   // "Hello, world!"
    for (size_t piece = 1; piece <= in.size(); ++piece)
        EXPECT_EQ(decode_in_pieces("BASE64", "", in, piece), "Hello, world!") << piece;
    EXPECT_EQ(decode_in_pieces("base64", "", "QUI", 2), "AB");      // no padding: the short quantum at the end
    EXPECT_EQ(decode_in_pieces("base64", "", "Q*U\x01I=", 1), "AB");  // stray bytes skipped
}

TEST(store_mime_text_decoder, quoted_printable_escapes_and_soft_breaks_at_every_cut) {
    const std::string in = "caf=C3=A9 au=\r\nlait =3D ok=\nend =ZZ x=";
    for (size_t piece = 1; piece <= in.size(); ++piece)
        EXPECT_EQ(decode_in_pieces("Quoted-Printable", "utf-8", in, piece), "caf\xc3\xa9 aulait = okend =ZZ x=")
            << piece;
}

TEST(store_mime_text_decoder, charsets_are_converted_to_utf8_even_when_a_character_is_cut) {
    EXPECT_EQ(decode_in_pieces("8bit", "ISO-8859-1", "K\xf6ln", 1), "K\xc3\xb6ln");
    EXPECT_EQ(decode_in_pieces("8bit", "windows-1252", "\x93quoted\x94 \x80", 3),
              "\xe2\x80\x9cquoted\xe2\x80\x9d \xe2\x82\xac");
    const std::string utf16 = std::string("h\0\xe9\0\xac\x20", 6);   // "hé€" in UTF-16LE
    for (size_t piece = 1; piece <= utf16.size(); ++piece)
        EXPECT_EQ(decode_in_pieces("binary", "UTF-16LE", utf16, piece), "h\xc3\xa9\xe2\x82\xac") << piece;
    EXPECT_EQ(decode_in_pieces("7bit", "x-no-such-charset", "as is \xff", 4), "as is \xff");
    EXPECT_EQ(decode_in_pieces("7bit", "utf-8", "as is \xff", 4), "as is \xff");
    // Invalid in its charset: U+FFFD, then on.
    EXPECT_EQ(decode_in_pieces("8bit", "UTF-16LE", std::string("a\0b", 3), 1), "a\xef\xbf\xbd");
    EXPECT_TRUE(mime::text_decoder::changes_nothing("7BIT", "US-ASCII"));
    EXPECT_TRUE(mime::text_decoder::changes_nothing("", ""));
    EXPECT_FALSE(mime::text_decoder::changes_nothing("base64", ""));
    EXPECT_FALSE(mime::text_decoder::changes_nothing("8bit", "iso-8859-1"));
}

TEST(store_mime, text_spans_are_the_text_leaves_and_embedded_headers_in_order) {
    const std::string m = crlf({
        "Content-Type: multipart/mixed; boundary=b", "", "--b",
        "Content-Type: text/plain; charset=\"ISO-8859-1\"", "Content-Transfer-Encoding: quoted-printable", "",
        "one", "--b", "Content-Type: application/pdf", "Content-Transfer-Encoding: base64", "", "JVBE", "--b",
        "Content-Type: message/rfc822", "", "Subject: in", "", "two", "--b--", ""});
    auto k = mime::parse(m);
    std::vector<mime::skeleton::text_span> spans;
    k.text_spans(spans);
    ASSERT_EQ(spans.size(), 3u);
    auto bytes = [&](const mime::skeleton::text_span& s) { return m.substr(s.bytes.offset, s.bytes.length); };
    EXPECT_EQ(bytes(spans[0]), "one");
    EXPECT_EQ(spans[0].encoding, "quoted-printable");
    EXPECT_EQ(spans[0].charset, "ISO-8859-1");
    EXPECT_EQ(bytes(spans[1]), "Subject: in\r\n\r\n");   // the embedded header, raw
    EXPECT_TRUE(spans[1].encoding.empty() && spans[1].charset.empty());
    EXPECT_EQ(bytes(spans[2]), "two");                   // the embedded message's text/plain body
    auto plain = mime::parse("Subject: x\r\n\r\nbody\r\n");
    plain.text_spans(spans);
    ASSERT_EQ(spans.size(), 1u);
    EXPECT_EQ(spans[0].bytes.length, 6u);
}

// One decoder over several parts (SEARCH BODY over a folder): each reset
// starts clean — no escape, quantum or cut character of the part before
// leaks — whether the charset stays (its converter kept) or changes.
TEST(store_mime_text_decoder, reset_starts_each_part_clean_with_the_same_or_another_charset) {
    mime::text_decoder d;
    std::string out;
    d.reset("quoted-printable", "iso-8859-1");
    d.feed("K=F6ln =", out);                    // ends inside an escape
    d.reset("base64", "ISO-8859-1");            // the same charset, other spelling
    d.feed("S/Z", out);                         // ends inside a quantum
    d.reset("8bit", "UTF-16LE");
    d.feed(std::string("a\0b", 3), out);        // ends inside a character: "b" is dropped
    d.reset("quoted-printable", "windows-1252");
    d.feed("=80 ok", out);
    d.finish(out);
    EXPECT_EQ(out, "K\xc3\xb6ln " "a" "\xe2\x82\xac ok");   // no finish(): the cut tails go
    d.reset("7bit", "");
    out.clear();
    d.feed("plain \xff", out);
    d.finish(out);
    EXPECT_EQ(out, "plain \xff");
}
