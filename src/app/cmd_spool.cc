// `posthorn queue list|show|cat` and `posthorn spool stat|verify`: read-only
// views of the spool on disk, usable whether or not the daemon runs (a
// running daemon's newest record may then show as a torn tail).
#include "posthorn/app/commands.hh"
#include "posthorn/queue.hh"
#include "posthorn/spool.hh"
#include "control.hh"

#include <algorithm>
#include <cstdio>
#include <dirent.h>
#include <string>
#include <string_view>
#include <unistd.h>

namespace posthorn::app {
namespace {

// Shard directories under <data_dir>/spool, in shard order.
std::vector<std::string> shard_dirs(const config& cfg) {
    std::vector<std::pair<int, std::string>> found;
    std::string root = cfg.data_dir + "/spool";
    if (DIR* d = ::opendir(root.c_str())) {
        while (dirent* e = ::readdir(d)) {
            std::string_view name = e->d_name;
            if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }))
                continue;
            found.emplace_back(std::stoi(std::string(name)), root + "/" + std::string(name));
        }
        ::closedir(d);
    }
    std::sort(found.begin(), found.end());
    std::vector<std::string> out;
    for (auto& f : found) out.push_back(std::move(f.second));
    return out;
}

// The value of the first Message-ID header (unfolded), or "-".
std::string message_id_of(std::string_view content) {
    size_t pos = 0;
    while (pos < content.size()) {
        size_t eol = content.find('\n', pos);
        if (eol == std::string_view::npos) eol = content.size();
        std::string_view line = content.substr(pos, eol - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) break;  // end of the header section
        constexpr std::string_view key = "message-id:";
        if (line.size() >= key.size()) {
            bool match = true;
            for (size_t i = 0; i < key.size() && match; ++i)
                match = (line[i] | 0x20) == key[i] || line[i] == key[i];
            if (match) {
                std::string value(line.substr(key.size()));
                // Folded continuation lines start with white space.
                size_t next = eol + 1;
                while (next < content.size() && (content[next] == ' ' || content[next] == '\t')) {
                    size_t e2 = content.find('\n', next);
                    if (e2 == std::string_view::npos) e2 = content.size();
                    std::string_view more = content.substr(next, e2 - next);
                    if (!more.empty() && more.back() == '\r') more.remove_suffix(1);
                    value.append(more);
                    next = e2 + 1;
                }
                size_t b = value.find_first_not_of(" \t");
                size_t e = value.find_last_not_of(" \t");
                return b == std::string::npos ? "-" : value.substr(b, e - b + 1);
            }
        }
        pos = eol + 1;
    }
    return "-";
}

struct live_entry {
    std::string dir;
    spool::recovered_message msg;
};

bool collect_live(const config& cfg, std::vector<live_entry>& out) {
    for (const auto& dir : shard_dirs(cfg)) {
        std::vector<spool::recovered_message> live;
        auto st = spool::inspect(dir, &live);
        if (!st) {
            std::fprintf(stderr, "posthorn: %s: %s: %s\n", dir.c_str(), st.err().what, st.err().reason());
            return false;
        }
        for (auto& m : live) out.push_back({dir, std::move(m)});
    }
    return true;
}

const live_entry* find_entry(const std::vector<live_entry>& all, std::string id_text) {
    for (char& c : id_text)
        if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
    for (const auto& e : all)
        if (queue::format_queue_id(e.msg.id) == id_text)
            return &e;
    return nullptr;
}

int queue_list(const config& cfg) {
    std::vector<live_entry> all;
    if (!collect_live(cfg, all)) return 1;
    std::string content;
    for (const auto& e : all) {
        auto env = queue::decode(e.msg.envelope);
        content.clear();
        std::string mid = "-";
        if (spool::read_content(e.dir, e.msg, content)) mid = message_id_of(content);
        std::string to;
        if (env) {
            for (size_t i = 0; i < env->rcpts.size(); ++i) {
                if (std::binary_search(e.msg.done_rcpts.begin(), e.msg.done_rcpts.end(), static_cast<uint32_t>(i)))
                    continue;
                if (!to.empty()) to += ',';
                to += env->rcpts[i].address;
            }
        }
        std::printf("%s size=%llu from=%s to=%s message_id=%s\n", queue::format_queue_id(e.msg.id).c_str(),
                    static_cast<unsigned long long>(e.msg.content_bytes),
                    !env ? "?" : env->mail_from.empty() ? "<>" : env->mail_from.c_str(), env ? to.c_str() : "?",
                    mid.c_str());
    }
    std::printf("-- %zu messages\n", all.size());
    return 0;
}

int queue_show(const config& cfg, const std::string& id, bool raw) {
    std::vector<live_entry> all;
    if (!collect_live(cfg, all)) return 1;
    const live_entry* e = find_entry(all, id);
    if (!e) {
        std::fprintf(stderr, "posthorn: no live message %s\n", id.c_str());
        return 1;
    }
    if (raw) {
        std::string content;
        auto r = spool::read_content(e->dir, e->msg, content);
        if (!r) {
            std::fprintf(stderr, "posthorn: %s: %s\n", r.err().what, r.err().reason());
            return 1;
        }
        return std::fwrite(content.data(), 1, content.size(), stdout) == content.size() ? 0 : 1;
    }
    auto env = queue::decode(e->msg.envelope);
    if (!env) {
        std::fprintf(stderr, "posthorn: envelope of %s is corrupt\n", id.c_str());
        return 1;
    }
    std::printf("id=%s\nspool=%s\nsize=%llu\nfrom=%s\nhelo=%s\nclient=%s\nreceived_unix_ms=%lld\n",
                queue::format_queue_id(e->msg.id).c_str(), e->dir.c_str(),
                static_cast<unsigned long long>(e->msg.content_bytes),
                env->mail_from.empty() ? "<>" : env->mail_from.c_str(), env->helo.c_str(),
                env->client_address.c_str(), static_cast<long long>(env->received_unix_ms));
    std::printf("declared_size=%llu body=%d smtputf8=%d ret=%d envid=%s\n",
                static_cast<unsigned long long>(env->declared_size), static_cast<int>(env->body),
                env->smtputf8 ? 1 : 0, static_cast<int>(env->ret), env->envid.c_str());
    for (size_t i = 0; i < env->rcpts.size(); ++i) {
        bool done = std::binary_search(e->msg.done_rcpts.begin(), e->msg.done_rcpts.end(), static_cast<uint32_t>(i));
        std::printf("rcpt=%s notify=%d orcpt=%s done=%d\n", env->rcpts[i].address.c_str(), env->rcpts[i].notify,
                    env->rcpts[i].orcpt.c_str(), done ? 1 : 0);
    }
    return 0;
}

int spool_stat(const config& cfg) {
    spool::stats total;
    std::vector<std::string> lines;
    for (const auto& dir : shard_dirs(cfg)) {
        auto st = spool::inspect(dir);
        if (!st) {
            std::fprintf(stderr, "posthorn: %s: %s: %s\n", dir.c_str(), st.err().what, st.err().reason());
            return 1;
        }
        total.segments += st->segments;
        total.bytes += st->bytes;
        total.allocated_bytes += st->allocated_bytes;
        for (size_t i = 0; i < total.records_by_type.size(); ++i) total.records_by_type[i] += st->records_by_type[i];
        total.live_messages += st->live_messages;
        total.live_content_bytes += st->live_content_bytes;
        total.corrupt_records += st->corrupt_records;
        total.torn_tail_bytes += st->torn_tail_bytes;
        total.dead_segments += st->dead_segments;
        for (const auto& seg : st->segment_list)
            lines.push_back("segment=" + seg.path + " used=" + std::to_string(seg.used) + " sealed=" + (seg.sealed ? "1" : "0"));
    }
    uint64_t records = 0;
    for (auto n : total.records_by_type) records += n;
    std::printf("segments=%llu\nbytes=%llu\nallocated_bytes=%llu\nrecords=%llu\n",
                static_cast<unsigned long long>(total.segments), static_cast<unsigned long long>(total.bytes),
                static_cast<unsigned long long>(total.allocated_bytes), static_cast<unsigned long long>(records));
    for (size_t i = 1; i < total.records_by_type.size(); ++i)
        std::printf("records_%s=%llu\n", spool::record_type_name(static_cast<spool::record_type>(i)),
                    static_cast<unsigned long long>(total.records_by_type[i]));
    std::printf("live_messages=%llu\nlive_content_bytes=%llu\ncorrupt_records=%llu\ntorn_tail_bytes=%llu\ndead_segments=%llu\n",
                static_cast<unsigned long long>(total.live_messages),
                static_cast<unsigned long long>(total.live_content_bytes),
                static_cast<unsigned long long>(total.corrupt_records),
                static_cast<unsigned long long>(total.torn_tail_bytes),
                static_cast<unsigned long long>(total.dead_segments));
    for (const auto& l : lines) std::printf("%s\n", l.c_str());
    return 0;
}

int spool_verify(const config& cfg) {
    bool clean = true;
    uint64_t records = 0, segments = 0;
    for (const auto& dir : shard_dirs(cfg)) {
        auto v = spool::verify(dir);
        if (!v) {
            std::fprintf(stderr, "posthorn: %s: %s: %s\n", dir.c_str(), v.err().what, v.err().reason());
            return 1;
        }
        records += v->records;
        segments += v->segments;
        for (const auto& p : v->problems)
            std::printf("problem dir=%s segment=%llu offset=%llu id=%s what=\"%s\"\n", dir.c_str(),
                        static_cast<unsigned long long>(p.segment), static_cast<unsigned long long>(p.offset),
                        p.id ? queue::format_queue_id(p.id).c_str() : "-", p.what);
        if (v->torn_tail)
            std::printf("torn_tail dir=%s bytes=%llu records=%llu\n", dir.c_str(),
                        static_cast<unsigned long long>(v->torn_tail_bytes),
                        static_cast<unsigned long long>(v->torn_records));
        clean = clean && v->clean();
    }
    std::printf("%s segments=%llu records=%llu\n", clean ? "ok" : "FAILED", static_cast<unsigned long long>(segments),
                static_cast<unsigned long long>(records));
    return clean ? 0 : 1;
}

}  // namespace

int run_queue(const config& cfg, const std::vector<std::string>& args) {
    if (args.size() == 1 && args[0] == "list") return queue_list(cfg);
    if (args.size() == 2 && args[0] == "show") return queue_show(cfg, args[1], false);
    if (args.size() == 2 && args[0] == "cat") return queue_show(cfg, args[1], true);
    if (args.size() == 1 && args[0] == "flush") return control_request(cfg.data_dir + "/control.sock", "{\"cmd\":\"flush\"}");
    if (args.size() == 2 && args[0] == "delete")
        return control_request(cfg.data_dir + "/control.sock", "{\"cmd\":\"delete\",\"id\":\"" + args[1] + "\"}");
    std::fprintf(stderr, "usage: posthorn queue list | show ID | cat ID | flush | delete ID\n");
    return 2;
}

int run_spool(const config& cfg, const std::vector<std::string>& args) {
    if (args.size() == 1 && args[0] == "stat") return spool_stat(cfg);
    if (args.size() == 1 && args[0] == "verify") return spool_verify(cfg);
    std::fprintf(stderr, "usage: posthorn spool stat | verify\n");
    return 2;
}

}  // namespace posthorn::app
