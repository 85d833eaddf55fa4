// The shard's c-ares channel on the reactor (see net/resolver.hh).
//
// c-ares tells us which sockets it wants watched (ARES_OPT_SOCK_STATE_CB);
// each gets a `watch` holding a one-shot fd poll, re-armed after every
// ares_process_fd() while c-ares still wants the socket. c-ares reports a
// socket it is about to close with (0, 0): the poll is cancelled then, and
// its watch, if a wait is still out, lives on (orphaned) until the reactor
// reports the cancel. One reactor timer follows ares_timeout().
// A lookup is one MX query and then an A and an AAAA query per exchanger;
// finished answers are handed out from a posted task, never from inside a
// c-ares call or a resolve_* call.
#include "posthorn/net/resolver.hh"
#include "posthorn/core/log.hh"
#include "posthorn/core/reactor.hh"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <poll.h>

#include <algorithm>
#include <cstring>
#include <strings.h>
#include <fmt/format.h>
#include <mutex>
#include <unordered_map>

namespace posthorn::net {

namespace {

struct lookup;

// One A or AAAA query of a lookup: which exchanger it is for.
struct address_query {
    lookup* owner;
    uint32_t host;
    int family;
};

struct lookup {
    resolver::impl* owner = nullptr;
    std::string name;
    std::string cache_key;
    uint16_t port = 25;
    bool implicit = false;  // no MX: the domain is its own exchanger
    resolver::done_fn done;
    uint32_t pending = 0;
    bool temporary_failure = false;
    std::string failure;  // the last lookup error, for the reply text
    uint32_t ttl_s = UINT32_MAX;
    dns_answer answer;
};

dns_answer failed(dns_outcome how, uint16_t code, std::string text) {
    dns_answer a;
    a.outcome = how;
    a.code = code;
    a.text = std::move(text);
    return a;
}

void set_port(endpoint& ep, uint16_t port) {
    if (ep.family() == AF_INET)
        reinterpret_cast<sockaddr_in*>(&ep.addr)->sin_port = htons(port);
    else if (ep.family() == AF_INET6)
        reinterpret_cast<sockaddr_in6*>(&ep.addr)->sin6_port = htons(port);
}

endpoint from_v4(const in_addr& a) {
    endpoint ep;
    auto* sin = reinterpret_cast<sockaddr_in*>(&ep.addr);
    sin->sin_family = AF_INET;
    sin->sin_addr = a;
    ep.length = sizeof(sockaddr_in);
    return ep;
}

endpoint from_v6(const unsigned char* bytes) {
    endpoint ep;
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ep.addr);
    sin6->sin6_family = AF_INET6;
    std::memcpy(&sin6->sin6_addr, bytes, 16);
    ep.length = sizeof(sockaddr_in6);
    return ep;
}

// An IP literal needs no lookup.
bool literal(const std::string& host, endpoint& out) {
    in_addr v4{};
    unsigned char v6[16];
    if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
        out = from_v4(v4);
        return true;
    }
    if (inet_pton(AF_INET6, host.c_str(), v6) == 1) {
        out = from_v6(v6);
        return true;
    }
    return false;
}

// An RFC 5321 §4.1.3 address literal as a mail domain: "[192.0.2.1]",
// "[IPv6:2001:db8::1]". Mail to it goes to that address, no MX.
bool address_literal(const std::string& domain, endpoint& out) {
    if (domain.size() < 3 || domain.front() != '[' || domain.back() != ']') return false;
    std::string inner = domain.substr(1, domain.size() - 2);
    if (inner.size() > 5 && strncasecmp(inner.c_str(), "ipv6:", 5) == 0) inner.erase(0, 5);
    return literal(inner, out);
}

// Skips a (possibly compressed) name; the offset after it, or -1.
long skip_name(const unsigned char* b, long len, long off) {
    while (off < len) {
        unsigned c = b[off];
        if (c == 0) return off + 1;
        if ((c & 0xC0) == 0xC0) return off + 2 <= len ? off + 2 : -1;
        if (c & 0xC0) return -1;
        off += 1 + c;
    }
    return -1;
}

// The smallest TTL among the answer records of `type`; UINT32_MAX if none.
// c-ares' MX parser does not return TTLs, so the MX records' come from here.
uint32_t answer_ttl_s(const unsigned char* b, int alen, int type) {
    const long len = alen;
    if (len < 12) return UINT32_MAX;
    unsigned qd = (b[4] << 8) | b[5], an = (b[6] << 8) | b[7];
    long off = 12;
    for (unsigned i = 0; i < qd && off >= 0; ++i) {
        off = skip_name(b, len, off);
        if (off >= 0) off += 4;
    }
    uint32_t ttl = UINT32_MAX;
    for (unsigned i = 0; i < an && off >= 0; ++i) {
        off = skip_name(b, len, off);
        if (off < 0 || off + 10 > len) break;
        int t = (b[off] << 8) | b[off + 1];
        uint32_t rr_ttl = (uint32_t{b[off + 4]} << 24) | (uint32_t{b[off + 5]} << 16) | (uint32_t{b[off + 6]} << 8) |
                          b[off + 7];
        unsigned rdlen = (b[off + 8] << 8) | b[off + 9];
        if (t == type) ttl = std::min(ttl, rr_ttl & 0x7fffffffu);  // RFC 2181 §8: top bit set means 0
        off += 10 + rdlen;
    }
    return ttl;
}

bool transient(int status) {
    return status != ARES_ENOTFOUND && status != ARES_ENODATA && status != ARES_EBADNAME;
}

}  // namespace

struct resolver::impl {
    struct watch final : core::poll_handler {
        impl* owner;
        int fd;
        uint32_t want = 0;  // POLLIN | POLLOUT, as c-ares last said
        bool orphan = false;
        core::fd_poll poll;
        watch(impl* o, int f) : owner(o), fd(f) {}
        void on_poll(int events) noexcept override;
    };
    struct cached {
        dns_answer answer;  // ports 0
    };

    core::reactor& io;
    resolver_options options;
    ares_channel channel = nullptr;
    bool down = false;
    std::unordered_map<int, watch*> watches;
    core::timer_id timer;
    std::unordered_map<std::string, cached> cache;
    std::vector<lookup*> running;
    std::vector<lookup*> finished;
    core::task deliver;
    uint64_t shuffle_state;

    impl(core::reactor& r, const resolver_options& o) : io(r), options(o) {
        deliver.set(&impl::on_deliver, this);
        shuffle_state = core::reactor::clock_ms() * 0x9e3779b97f4a7c15ull | 1;
    }
    ~impl() { shutdown(); }

    // --- c-ares on the reactor ---------------------------------------------
    static void on_sock_state(void* data, ares_socket_t fd, int readable, int writable) {
        auto* self = static_cast<impl*>(data);
        uint32_t want = (readable ? POLLIN : 0) | (writable ? POLLOUT : 0);
        auto it = self->watches.find(fd);
        if (want == 0) {
            if (it == self->watches.end()) return;
            watch* w = it->second;
            self->watches.erase(it);
            self->io.poll_cancel(w->poll);  // before c-ares closes the fd
            if (w->poll.busy())
                w->orphan = true;  // freed when the cancel is reported
            else
                delete w;
            return;
        }
        watch* w;
        if (it != self->watches.end()) {
            w = it->second;
        } else {
            w = new watch(self, fd);
            self->watches.emplace(fd, w);
        }
        w->want = want;
        self->arm(*w);
    }

    void arm(watch& w) {
        if (w.want == 0) return;
        if (!w.poll.busy()) {
            io.poll_arm(w.poll, w.fd, w.want, w);
        } else if (w.poll.events != w.want) {
            io.poll_cancel(w.poll);  // armed for other events: again from on_poll(-ECANCELED)
        }
    }

    void after_ares() {
        if (timer) io.cancel(timer);
        timer = {};
        if (!channel) return;
        timeval tv{};
        if (!ares_timeout(channel, nullptr, &tv)) return;  // nothing pending
        uint64_t ms = static_cast<uint64_t>(tv.tv_sec) * 1000 + static_cast<uint64_t>(tv.tv_usec + 999) / 1000;
        timer = io.schedule_after(ms, [this]() noexcept {
            timer = {};
            if (!channel) return;
            ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts, retries
            after_ares();
        });
    }

    void process(int fd, int events, uint32_t want) {
        const int err = POLLERR | POLLHUP;
        ares_socket_t r = (want & POLLIN) && (events & (POLLIN | err)) ? fd : ARES_SOCKET_BAD;
        ares_socket_t w = (want & POLLOUT) && (events & (POLLOUT | err)) ? fd : ARES_SOCKET_BAD;
        if (events < 0) {  // the wait itself failed: let c-ares find the socket's error
            r = (want & POLLIN) ? fd : ARES_SOCKET_BAD;
            w = (want & POLLOUT) ? fd : ARES_SOCKET_BAD;
        }
        ares_process_fd(channel, r, w);
        // The watch may be gone, or a new one have the same fd: look it up.
        if (auto it = watches.find(fd); it != watches.end()) arm(*it->second);
        after_ares();
    }

    // --- lookups -------------------------------------------------------------
    void start(lookup* l, bool mx) {
        running.push_back(l);
        if (!channel || down) {
            finish(l, failed(dns_outcome::temporary, 451, "4.4.3 no DNS resolver"));
            return;
        }
        if (auto it = cache.find(l->cache_key); it != cache.end()) {
            if (it->second.answer.expires_ms > io.now_ms()) {
                finish(l, it->second.answer);
                return;
            }
            cache.erase(it);
        }
        endpoint ep;
        if (literal(l->name, ep) || address_literal(l->name, ep)) {
            l->answer.hosts.push_back(mail_exchanger{0, l->name, {ep}});
            finish_addresses(l);
            return;
        }
        if (mx) {
            ++l->pending;
            ares_query(channel, l->name.c_str(), ns_c_in, ns_t_mx, &impl::on_mx, l);
        } else {
            l->answer.hosts.push_back(mail_exchanger{0, l->name, {}});
            query_addresses(l);
        }
        after_ares();
    }

    // Ends with finish_addresses() once the last answer is in; a hold on
    // `pending` keeps a query answered at once (c-ares may call back from
    // inside ares_query) from finishing the lookup while others are added.
    void query_addresses(lookup* l) {
        ++l->pending;
        for (uint32_t i = 0; i < l->answer.hosts.size(); ++i) {
            mail_exchanger& mx = l->answer.hosts[i];
            endpoint ep;
            if (literal(mx.host, ep)) {
                mx.addresses.push_back(ep);
                continue;
            }
            for (int family : {AF_INET, AF_INET6}) {
                ++l->pending;
                ares_query(channel, mx.host.c_str(), ns_c_in, family == AF_INET ? ns_t_a : ns_t_aaaa,
                           &impl::on_address, new address_query{l, i, family});
            }
        }
        if (--l->pending == 0) finish_addresses(l);
    }

    static void on_mx(void* arg, int status, int, unsigned char* abuf, int alen) {
        auto* l = static_cast<lookup*>(arg);
        --l->pending;
        impl& self = *l->owner;
        if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) return self.drop(l);
        const std::string& d = l->name;
        if (status == ARES_ENOTFOUND || status == ARES_EBADNAME)
            return self.finish(l, failed(dns_outcome::permanent, 550, "5.1.2 domain " + d + " not found (DNS: " +
                                                                           ares_strerror(status) + ")"));
        if (status == ARES_ENODATA) {
            // RFC 5321 §5.1: no MX, the domain itself is the exchanger.
            l->implicit = true;
            l->answer.hosts.push_back(mail_exchanger{0, d, {}});
        } else if (status != ARES_SUCCESS) {
            return self.finish(l, failed(dns_outcome::temporary, 451, "4.4.3 MX lookup for " + d + " failed: " +
                                                                          ares_strerror(status)));
        } else {
            ares_mx_reply* list = nullptr;
            int rc = ares_parse_mx_reply(abuf, alen, &list);
            if (rc == ARES_ENODATA) {  // an answer without MX records (a CNAME only)
                l->implicit = true;
                l->answer.hosts.push_back(mail_exchanger{0, d, {}});
            } else if (rc != ARES_SUCCESS) {
                return self.finish(l, failed(dns_outcome::temporary, 451,
                                             "4.4.3 bad MX answer for " + d + ": " + ares_strerror(rc)));
            } else {
                l->ttl_s = std::min(l->ttl_s, answer_ttl_s(abuf, alen, ns_t_mx));
                bool null_mx = true;
                for (ares_mx_reply* m = list; m; m = m->next) {
                    std::string host = m->host ? m->host : "";
                    if (!host.empty() && host.back() == '.') host.pop_back();
                    if (host.empty()) continue;  // "." among real exchangers: ignored
                    null_mx = false;
                    for (char& c : host) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
                    bool seen = false;
                    for (auto& h : l->answer.hosts) seen |= h.host == host;
                    if (!seen) l->answer.hosts.push_back(mail_exchanger{static_cast<uint16_t>(m->priority), host, {}});
                }
                ares_free_data(list);
                if (null_mx)  // RFC 7505 §3
                    return self.finish(l, failed(dns_outcome::permanent, 556,
                                                 "5.1.10 domain " + d + " accepts no mail (null MX, RFC 7505)"));
                self.order(l->answer.hosts);
                if (l->answer.hosts.size() > self.options.mx_hosts_max) l->answer.hosts.resize(self.options.mx_hosts_max);
            }
        }
        self.query_addresses(l);
    }

    static void on_address(void* arg, int status, int, unsigned char* abuf, int alen) {
        std::unique_ptr<address_query> q(static_cast<address_query*>(arg));
        lookup* l = q->owner;
        --l->pending;
        impl& self = *l->owner;
        if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) return self.drop(l);
        mail_exchanger& mx = l->answer.hosts[q->host];
        if (status == ARES_SUCCESS) {
            const int max = static_cast<int>(std::min<uint32_t>(self.options.addresses_max, 64));
            int n = max;
            if (q->family == AF_INET) {
                ares_addrttl a[64];
                if (ares_parse_a_reply(abuf, alen, nullptr, a, &n) == ARES_SUCCESS)
                    for (int i = 0; i < n; ++i) {
                        mx.addresses.push_back(from_v4(a[i].ipaddr));
                        l->ttl_s = std::min(l->ttl_s, static_cast<uint32_t>(std::max(a[i].ttl, 0)));
                    }
            } else {
                ares_addr6ttl a[64];
                if (ares_parse_aaaa_reply(abuf, alen, nullptr, a, &n) == ARES_SUCCESS)
                    for (int i = 0; i < n; ++i) {
                        mx.addresses.push_back(from_v6(a[i].ip6addr._S6_un._S6_u8));
                        l->ttl_s = std::min(l->ttl_s, static_cast<uint32_t>(std::max(a[i].ttl, 0)));
                    }
            }
        } else if (transient(status)) {
            l->temporary_failure = true;
            l->failure = fmt::format("{} {}: {}", mx.host, q->family == AF_INET ? "A" : "AAAA", ares_strerror(status));
        }
        if (l->pending == 0) self.finish_addresses(l);
    }

    // Sorted by preference; equal preferences shuffled (RFC 5321 §5.1).
    void order(std::vector<mail_exchanger>& hosts) {
        std::stable_sort(hosts.begin(), hosts.end(),
                         [](const mail_exchanger& a, const mail_exchanger& b) { return a.preference < b.preference; });
        for (size_t i = 0; i < hosts.size();) {
            size_t j = i;
            while (j < hosts.size() && hosts[j].preference == hosts[i].preference) ++j;
            for (size_t k = j - 1; k > i; --k) {
                shuffle_state ^= shuffle_state << 13;
                shuffle_state ^= shuffle_state >> 7;
                shuffle_state ^= shuffle_state << 17;
                std::swap(hosts[k], hosts[i + shuffle_state % (k - i + 1)]);
            }
            i = j;
        }
    }

    void finish_addresses(lookup* l) {
        auto& hosts = l->answer.hosts;
        for (auto& h : hosts) {
            // IPv4 first: a v4-only machine tries what it can reach first.
            std::stable_partition(h.addresses.begin(), h.addresses.end(),
                                  [](const endpoint& e) { return e.family() == AF_INET; });
            if (h.addresses.size() > options.addresses_max) h.addresses.resize(options.addresses_max);
        }
        std::erase_if(hosts, [](const mail_exchanger& h) { return h.addresses.empty(); });
        if (hosts.empty()) {
            if (l->temporary_failure)
                return finish(l, failed(dns_outcome::temporary, 451, "4.4.3 address lookup failed: " + l->failure));
            std::string why = l->implicit ? "5.4.4 domain " + l->name + " has no MX and no address records"
                                          : "5.4.4 no address for the mail exchangers of " + l->name;
            return finish(l, failed(dns_outcome::permanent, 550, why));
        }
        uint32_t ttl = std::clamp(l->ttl_s, options.ttl_min_s, options.ttl_max_s);
        l->answer.outcome = dns_outcome::ok;
        l->answer.expires_ms = io.now_ms() + uint64_t{ttl} * 1000;
        remember(l->cache_key, l->answer);
        finish(l, std::move(l->answer));
    }

    void remember(const std::string& key, const dns_answer& a) {
        if (options.cache_entries_max == 0) return;
        if (cache.size() >= options.cache_entries_max) {
            std::erase_if(cache, [now = io.now_ms()](const auto& e) { return e.second.answer.expires_ms <= now; });
            if (cache.size() >= options.cache_entries_max) cache.clear();
        }
        cached c{a};
        for (auto& h : c.answer.hosts)
            for (auto& ep : h.addresses) set_port(ep, 0);
        cache.insert_or_assign(key, std::move(c));
    }

    void finish(lookup* l, dns_answer a) {
        l->answer = std::move(a);
        for (auto& h : l->answer.hosts)
            for (auto& ep : h.addresses) set_port(ep, l->port);
        if (l->answer.outcome != dns_outcome::ok) l->answer.hosts.clear();
        finished.push_back(l);
        io.post(deliver);
    }

    // A lookup ended by ares_destroy()/ares_cancel(): freed once its last
    // query has said so; nobody is called.
    void drop(lookup* l) {
        l->done = {};
        if (l->pending > 0) return;
        std::erase(running, l);
        delete l;
    }

    static void on_deliver(void* ctx) noexcept {
        auto& self = *static_cast<impl*>(ctx);
        std::vector<lookup*> batch;
        batch.swap(self.finished);
        for (lookup* l : batch) {
            std::erase(self.running, l);
            std::unique_ptr<lookup> owned(l);
            if (l->done && !self.down) l->done(l->answer);
        }
    }

    void shutdown() noexcept {
        if (down) return;
        down = true;
        deliver.unlink();
        for (lookup* l : finished) {
            std::erase(running, l);
            delete l;
        }
        finished.clear();
        if (timer) io.cancel(timer);
        timer = {};
        if (channel) {
            for (lookup* l : running) l->done = {};
            ares_channel ch = channel;
            ares_destroy(ch);  // every query ends (EDESTRUCTION); sockets report (0, 0)
            channel = nullptr;
        }
        for (lookup* l : running) delete l;  // lookups that had no query out
        running.clear();
        for (auto& [fd, w] : watches) {  // c-ares closed its sockets without telling: forget them
            io.poll_cancel(w->poll);
            if (w->poll.busy())
                w->orphan = true;
            else
                delete w;
        }
        watches.clear();
        cache.clear();
    }
};

void resolver::impl::watch::on_poll(int events) noexcept {
    if (orphan) {
        delete this;
        return;
    }
    impl& self = *owner;
    if (events == -ECANCELED) {  // re-armed for other events
        self.arm(*this);
        return;
    }
    if (!self.channel) return;
    self.process(fd, events, want);  // may free this watch
}

core::result<std::string> dns_servers_csv(const std::vector<std::string>& servers) {
    std::string csv;
    for (const std::string& s : servers) {
        auto ep = parse_endpoint(s);
        if (!ep) ep = parse_endpoint(s.find(':') != std::string::npos && s.front() != '[' ? "[" + s + "]:53" : s + ":53");
        if (!ep || ep->port() == 0)
            return core::error{EINVAL, "dns server: want a literal address with an optional port, e.g. \"127.0.0.1:53\""};
        if (!csv.empty()) csv += ',';
        csv += ep->text();
    }
    return csv;
}

core::result<std::unique_ptr<resolver>> resolver::create(core::reactor& io, const resolver_options& options) {
    static std::once_flag once;
    static int init_status = ARES_SUCCESS;
    std::call_once(once, [] { init_status = ares_library_init(ARES_LIB_INIT_ALL); });
    if (init_status != ARES_SUCCESS) return core::error{EIO, ares_strerror(init_status)};

    auto p = std::make_unique<impl>(io, options);
    ares_options o{};
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_FLAGS;
    o.sock_state_cb = &impl::on_sock_state;
    o.sock_state_cb_data = p.get();
    o.flags = ARES_FLAG_NOSEARCH;
    if (options.timeout_ms) {
        mask |= ARES_OPT_TIMEOUTMS;
        o.timeout = static_cast<int>(options.timeout_ms);
    }
    if (options.tries) {
        mask |= ARES_OPT_TRIES;
        o.tries = static_cast<int>(options.tries);
    }
    int rc = ares_init_options(&p->channel, &o, mask);
    if (rc != ARES_SUCCESS) return core::error{EIO, ares_strerror(rc)};
    if (!options.servers.empty()) {
        auto csv = dns_servers_csv(options.servers);
        if (!csv) return csv.err();
        rc = ares_set_servers_ports_csv(p->channel, csv->c_str());
        if (rc != ARES_SUCCESS) return core::error{EINVAL, ares_strerror(rc)};
    }
    return std::unique_ptr<resolver>(new resolver(std::move(p)));
}

resolver::resolver(std::unique_ptr<impl> p) noexcept : _impl(std::move(p)) {}
resolver::~resolver() = default;

void resolver::resolve_mx(std::string_view domain, uint16_t port, done_fn done) {
    auto* l = new lookup{};
    l->owner = _impl.get();
    l->name = domain;
    while (!l->name.empty() && l->name.back() == '.') l->name.pop_back();
    l->cache_key = "mx:" + l->name;
    l->port = port;
    l->done = done;
    _impl->start(l, true);
}

void resolver::resolve_host(std::string_view host, uint16_t port, done_fn done) {
    auto* l = new lookup{};
    l->owner = _impl.get();
    l->name = host;
    while (!l->name.empty() && l->name.back() == '.') l->name.pop_back();
    l->cache_key = "host:" + l->name;
    l->port = port;
    l->done = done;
    _impl->start(l, false);
}

void resolver::shutdown() noexcept { _impl->shutdown(); }
size_t resolver::lookups_running() const noexcept { return _impl->running.size(); }
size_t resolver::cache_entries() const noexcept { return _impl->cache.size(); }

}  // namespace posthorn::net
