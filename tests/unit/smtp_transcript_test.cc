// Golden C:/S: transcripts (tests/transcripts/*.txt, format in README.md
// there) replayed with the client's bytes cut into 1, 2, 5, 10 and 100-byte
// receives and whole: the replies and the committed content must not change
// (STYLE.md #3). Commits are acknowledged as soon as the session asks.
#include "posthorn/core/log.hh"
#include "posthorn/proto/smtp_session.hh"
#include "posthorn/proto/smtp_testing.hh"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#ifndef SMTP_TRANSCRIPT_DIR
#error "SMTP_TRANSCRIPT_DIR must name tests/transcripts"
#endif

using namespace posthorn;
using namespace posthorn::proto::smtp;

namespace {

int64_t fixed_clock() noexcept { return 1732610400000; }

struct transcript {
    std::string name;
    session_config cfg;
    peer_info peer{"192.0.2.10", false};
    std::string input;                  // the client's bytes
    std::string expected;               // the server's bytes
    std::vector<std::string> contents;  // committed message content, in order
    bool has_contents = false;
};

// \r \n \t \0 \\ and \xHH.
std::string unescape(std::string_view s, std::string& error) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\') {
            out += s[i];
            continue;
        }
        if (++i == s.size()) {
            error = "trailing backslash";
            break;
        }
        switch (s[i]) {
        case 'r': out += '\r'; break;
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case '0': out += '\0'; break;
        case '\\': out += '\\'; break;
        case 'x':
            if (i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
                std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
                out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
                i += 2;
            } else {
                error = "bad \\x escape";
            }
            break;
        default: error = std::string("unknown escape \\") + s[i]; break;
        }
    }
    return out;
}

bool parse(const std::filesystem::path& file, transcript& t, std::string& error) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        error = "cannot open";
        return false;
    }
    t.name = file.filename().string();
    t.cfg.hostname = "mx.example.test";
    t.cfg.clock_unix_ms = fixed_clock;
    t.cfg.forbid_unauth_pipelining = false;  // the whole transcript arrives as one receive
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty() || line[0] == '#') continue;
        std::string_view rest = line.size() > 3 ? std::string_view(line).substr(3) : std::string_view();
        std::string tag = line.substr(0, 2);
        if (line.size() > 2 && line[2] != ' ') tag.clear();
        if (line[0] == '@') {
            std::istringstream words(line.substr(1));
            std::string key, value;
            words >> key >> value;
            if (key == "bare_newlines") t.cfg.bare_newlines = value == "normalize" ? bare_newline_policy::normalize
                                                                                   : bare_newline_policy::reject;
            else if (key == "max_message_size") t.cfg.max_message_size = std::stoull(value);
            else if (key == "max_recipients") t.cfg.max_recipients = static_cast<uint32_t>(std::stoul(value));
            else if (key == "line_length_max") t.cfg.line_length_max = static_cast<uint32_t>(std::stoul(value));
            else if (key == "errors_max") t.cfg.errors_max = static_cast<uint32_t>(std::stoul(value));
            else if (key == "body_window_bytes") t.cfg.body_window_bytes = static_cast<uint32_t>(std::stoul(value));
            else if (key == "trusted") t.peer.trusted = value == "yes";
            else if (key == "vrfy") t.cfg.vrfy = value == "verify" ? vrfy_policy::verify
                                               : value == "disabled" ? vrfy_policy::disabled
                                                                     : vrfy_policy::cannot_verify;
            else if (key == "expn") t.cfg.expn_enabled = value == "on";
            else {
                error = "line " + std::to_string(number) + ": unknown directive " + key;
                return false;
            }
            continue;
        }
        std::string decoded = unescape(rest, error);
        if (!error.empty()) {
            error = "line " + std::to_string(number) + ": " + error;
            return false;
        }
        if (tag == "C:") {
            t.input += decoded + "\r\n";
        } else if (tag == "C-") {
            t.input += decoded;
        } else if (tag == "S:") {
            t.expected += decoded + "\r\n";
        } else if (tag == "M:") {
            t.contents.push_back(decoded);
            t.has_contents = true;
        } else {
            error = "line " + std::to_string(number) + ": expected C:, C-, S:, M:, @ or #";
            return false;
        }
    }
    return true;
}

directory::snapshot demo_directory() {
    std::vector<directory::user> users;
    for (int i = 1; i <= 5; ++i) {
        std::string n = "user" + std::to_string(i);
        users.push_back({n, "{PLAIN}" + n, "User " + std::to_string(i), {n + "@example.test"}});
    }
    return directory::snapshot({"example.test", "localhost"}, std::move(users),
                               {{"postmaster@example.test", {"user1@example.test"}},
                                {"staff@example.test", {"user1@example.test", "user2@example.test"}}});
}

struct replay_result {
    std::string output;
    std::vector<std::string> contents;
    size_t aborted = 0;
};

replay_result replay(const transcript& t, const directory::handle& dir, size_t piece) {
    core::chunk_pool pool(4096, 1024);
    proto::smtp::testing::recording_sink sink;
    session s(t.cfg, dir, sink, t.peer, "transcript");
    s.start(false);
    proto::smtp::testing::feed_all(s, pool, t.input, piece, true);
    if (!s.wants_close()) s.on_disconnect();
    replay_result r;
    r.output = s.output();
    for (const auto& m : sink.messages) {
        if (m.committed) r.contents.push_back(m.content);
        if (m.aborted) ++r.aborted;
    }
    return r;
}

std::vector<std::filesystem::path> transcript_files() {
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(SMTP_TRANSCRIPT_DIR))
        if (e.path().extension() == ".txt") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    return files;
}

}  // namespace

TEST(smtp_transcripts, there_are_enough_of_them) { EXPECT_GE(transcript_files().size(), 8u); }

TEST(smtp_transcripts, replies_are_the_same_at_every_cut) {
    core::log::set_level(core::log::level::error);
    const directory::handle dir{demo_directory()};
    for (const auto& file : transcript_files()) {
        transcript t;
        std::string error;
        ASSERT_TRUE(parse(file, t, error)) << file << ": " << error;
        SCOPED_TRACE(t.name);
        const replay_result whole = replay(t, dir, SIZE_MAX);
        EXPECT_EQ(whole.output, t.expected);
        if (t.has_contents) {
            EXPECT_EQ(whole.contents, t.contents);
        }
        for (size_t piece : {1, 2, 5, 10, 100}) {
            SCOPED_TRACE("cut " + std::to_string(piece));
            const replay_result r = replay(t, dir, piece);
            EXPECT_EQ(r.output, whole.output);
            EXPECT_EQ(r.contents, whole.contents);
            EXPECT_EQ(r.aborted, whole.aborted);
        }
    }
}
