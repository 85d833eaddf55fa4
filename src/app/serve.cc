// `posthorn serve`: builds the directory (generation 1), starts one shard per
// core and, on each, opens the shard's spool (recovering it), binds the SMTP
// listeners with SO_REUSEPORT and runs the reactor until SIGINT/SIGTERM.
// The group commit runs as a turn hook: one fdatasync per shard per turn.
// Each shard reads the directory through its shard_directory; shard 0's
// reloader replaces it on SIGHUP and `posthorn reload` (reloader.hh).
#include "posthorn/app/commands.hh"
#include "posthorn/core/log.hh"
#include "posthorn/core/shard.hh"
#include "posthorn/net.hh"
#include "access_node.hh"
#include "control.hh"
#include "delivery.hh"
#include "directory_reload.hh"
#include "local_agent.hh"
#include "imap_access.hh"
#include "ldap_access.hh"
#include "metrics.hh"
#include "pop3_access.hh"
#include "reloader.hh"
#include "smtp_node.hh"
#include "spool_sink.hh"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <system_error>
#include <tuple>

#include <signal.h>
#include <unistd.h>

namespace posthorn::app {
namespace {

struct serve_context {
    const config& cfg;
    std::string config_path;   // absolute; empty for the embedded demo config (reloads re-read it)
    std::shared_ptr<const directory_generation> first_directory;
    metrics_registry& metrics;
    directory_table directories{};  // slot i: written and read by shard i only
    delivery_table deliveries{};  // slot i: written and read by shard i only
    local_agent_table local_agents{};  // slot i: written by shard i; read by others to address messages
    access_node_table pop3_nodes{};    // slot i: written by shard i; read by others to address handoffs
    access_node_table imap_nodes{};
    access_node_table ldap_nodes{};
    std::atomic<int> exit_code{0};
    // Each shard's spool outlives every shard's loop: an owner shard may
    // still be copying a message out of another shard's spool files when
    // that shard stops. Slot i is written by shard i at its end; the main
    // thread destroys them once every shard thread has ended.
    std::array<std::unique_ptr<spool::shard_spool>, 256> spools{};
};

uint64_t monotonic_us() {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
}

uint64_t wall_clock_us() {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
}

// Mailboxes belong to shard xxh3(user) % shards: with fewer shards than a
// previous run, some are in directories no shard opens. Moving them is not
// built; say so loudly rather than let them look lost.
void warn_orphan_stores(const std::string& data_dir, uint32_t shards) {
    for (uint32_t i = shards; i < 256; ++i) {
        std::string dir = data_dir + "/store/" + std::to_string(i);
        if (::access(dir.c_str(), F_OK) != 0) continue;
        core::log::error("event=store_orphaned dir={} shards={} note=\"mailboxes of a run with more shards: "
                         "run with [server] shards = {} or more to serve them\"",
                         dir, shards, i + 1);
    }
}

void run_shard(serve_context& ctx, core::shard& sh) noexcept {
    const config& cfg = ctx.cfg;
    // First, before this shard's loop can run a reload's message: the
    // directory every node and session here reads.
    shard_directory directory(ctx.first_directory);
    ctx.directories[sh.id()] = &directory;
    const directory::handle& dir = directory.handle();
    shard_metrics& metrics = ctx.metrics.shard(sh.id());
    metrics.directory_generation.store(directory.current().number, std::memory_order_relaxed);
    // After each switch (a listener; the LDAP node takes its new tree the same way).
    directory.subscribe([m = &metrics](const directory_generation& g) {
        m->directory_generation.store(g.number, std::memory_order_relaxed);
    });
    std::unique_ptr<reloader> reload;
    if (sh.id() == 0) {
        reload = std::make_unique<reloader>(sh, cfg, ctx.config_path, ctx.directories);
        reload->set_metrics(&metrics);
    }
    struct unregister {
        serve_context& ctx;
        uint32_t id;
        ~unregister() { ctx.directories[id] = nullptr; }
    } unregister_directory{ctx, sh.id()};
    spool::options so;
    so.dir = cfg.data_dir + "/spool/" + std::to_string(sh.id());
    so.segment_bytes = cfg.segment_bytes;
    so.zero_ahead_bytes = cfg.zero_ahead_bytes;
    so.durability = cfg.durability == durability_mode::fsync ? spool::durability::fsync : spool::durability::none;
    auto opened = spool::shard_spool::open(so);
    if (!opened) {
        core::log::error("event=spool_open_failed dir={} what=\"{}\" reason=\"{}\"", so.dir, opened.err().what,
                         opened.err().reason());
        ctx.exit_code = 1;
        sh.stop_all();
        return;
    }
    std::unique_ptr<spool::shard_spool> sp = std::move(opened.value());
    spool::recovery rec = sp->recover();
    // spool::open logged the recovery (event=spool_open ... live_messages= torn_tail_bytes= ...).

    // Queue ids: shard in the top byte; the counter starts past the clock and
    // past every recovered id, so ids stay unique across restarts.
    uint64_t first = wall_clock_us();
    for (const auto& m : rec.messages) first = std::max<uint64_t>(first, (m.id & ((1ull << 56) - 1)) + 1);
    spool_sink sink(*sp, sh.id(), first);
    sink.set_metrics(&metrics);
    smtp_node node(cfg, dir, sink);
    node.set_metrics(&metrics);

    core::reactor& io = sh.io();
    struct commit_driver {
        spool_sink* sink;
        core::reactor* io;
        shard_metrics* metrics;
        void turn() noexcept {
            sink->complete_durable();  // durability none, or answers a finished sync left
            int fd = sink->sync_to_start();
            if (fd < 0) return;
            io->fdatasync(fd, [d = this, seq = sink->sync_seq(), t0 = monotonic_us()](core::result<void> res) noexcept {
                d->metrics->fsync_latency.observe(monotonic_us() - t0);
                d->sink->sync_finished(seq, res.ok() ? 0 : -(res.err().code > 0 ? res.err().code : EIO));
            });
        }
    } driver{&sink, &io, &metrics};
    auto hook = io.add_turn_hook([d = &driver]() noexcept { d->turn(); });

    // The mailboxes this shard owns (local_agent.hh).
    store::options sto;
    sto.dir = cfg.data_dir + "/store/" + std::to_string(sh.id());
    sto.durability = so.durability;
    auto store_opened = store::shard_store::open(sto);
    if (!store_opened) {
        core::log::error("event=store_open_failed dir={} what=\"{}\" reason=\"{}\"", sto.dir,
                         store_opened.err().what, store_opened.err().reason());
        ctx.exit_code = 1;
        sh.stop_all();
        return;
    }
    std::unique_ptr<store::shard_store> mailboxes = std::move(store_opened.value());
    if (sh.id() == 0) warn_orphan_stores(cfg.data_dir, sh.count());
    local_agent local(sh, *mailboxes, ctx.local_agents);
    local.set_metrics(&metrics);
    auto local_hook = io.add_turn_hook([l = &local]() noexcept { l->turn(); });

    net::registry reg(io, net::limits{cfg.max_connections, cfg.max_connections_per_ip}, sh.id());

    // Delivery: what recovery found, then every message once durable.
    delivery dlv(cfg, dir, *sp, sink, reg, io);
    dlv.set_metrics(&metrics);
    dlv.set_local(&local, sh.count());
    local.set_answer(
        [](void* d, std::unique_ptr<local_request> req) noexcept {
            static_cast<delivery*>(d)->local_answered(std::move(req));
        },
        &dlv);
    ctx.deliveries[sh.id()] = &dlv;
    sink.set_durable_message(
        [](void* d, uint64_t id, queue::envelope&& env, spool::recovered_message&& where) noexcept {
            static_cast<delivery*>(d)->enqueue(id, std::move(env), std::move(where));
        },
        &dlv);
    for (auto& m : rec.messages) {
        auto env = queue::decode(m.envelope);
        if (!env) {
            core::log::error("event=envelope_corrupt id={} note=\"kept in the spool, not delivered\"",
                             queue::format_queue_id(m.id));
            continue;
        }
        dlv.enqueue(m.id, std::move(env.value()), std::move(m));
    }

    // POP3 and IMAP: sessions move to the shard owning the mailbox after
    // login (access_node.hh).
    pop3_protocol pop3(cfg, dir, *mailboxes);
    access_node pop3_node(cfg, dir, sh, reg, *mailboxes, pop3, ctx.pop3_nodes);
    imap_protocol imap(cfg, dir, *mailboxes);
    access_node imap_node(cfg, dir, sh, reg, *mailboxes, imap, ctx.imap_nodes);
    // LDAP: binds use the same login path; sessions stay on this shard. The
    // tree comes with the directory generation (a reload brings a new one).
    std::unique_ptr<ldap_protocol> ldap;
    std::unique_ptr<access_node> ldap_node;
    if (directory.current().ldap) {
        ldap = std::make_unique<ldap_protocol>(cfg, directory);
        ldap_node = std::make_unique<access_node>(cfg, dir, sh, reg, *mailboxes, *ldap, ctx.ldap_nodes);
    }
    auto access_hook = io.add_turn_hook([p = &pop3_node, i = &imap_node, l = ldap_node.get()]() noexcept {
        p->turn();
        i->turn();
        if (l) l->turn();
    });
    for (auto [proto, addrs, access] : {std::tuple{"pop3", &cfg.listen_pop3, &pop3_node},
                                      std::tuple{"imap", &cfg.listen_imap, &imap_node},
                                      std::tuple{"ldap", &cfg.listen_ldap, ldap_node.get()}}) {
        if (!access) continue;
        for (const auto& addr : *addrs) {
            if (auto l = reg.listen(addr, *access); !l) {
                core::log::error("event=listen_failed proto={} addr={} reason=\"{}\"", proto, addr, l.err().reason());
                ctx.exit_code = 1;
                sh.stop_all();
                break;
            }
        }
    }

    control_node control(sh, ctx.deliveries, reload.get());
    if (reload) reload->watch_sighup();
    const std::string control_path = cfg.data_dir + "/control.sock";
    if (sh.id() == 0) {
        if (auto l = reg.listen_unix(control_path, control); !l)
            core::log::warn("event=control_socket_failed path={} reason=\"{}\" note=\"queue flush|delete will not "
                            "reach this daemon\"",
                            control_path, l.err().reason());
    }
    metrics_node metrics_http(ctx.metrics);
    for (const auto& addr : cfg.listen_metrics) {
        if (auto l = reg.listen(addr, metrics_http); !l) {
            core::log::error("event=listen_failed proto=metrics addr={} reason=\"{}\"", addr, l.err().reason());
            ctx.exit_code = 1;
            sh.stop_all();
        }
    }
    for (const auto& addr : cfg.listen_smtp) {
        auto l = reg.listen(addr, node);
        if (!l) {
            core::log::error("event=listen_failed proto=smtp addr={} reason=\"{}\"", addr, l.err().reason());
            ctx.exit_code = 1;
            sh.stop_all();
            break;
        }
    }

    io.run();

    if (reload) reload->stop();
    dlv.stop();
    local.set_answer(nullptr, nullptr);
    ctx.deliveries[sh.id()] = nullptr;
    sink.set_durable_message(nullptr, nullptr);
    pop3_node.stop();
    imap_node.stop();
    if (ldap_node) ldap_node->stop();
    reg.close_all(/*graceful=*/true);
    io.run_until_idle();
    io.remove_turn_hook(access_hook);
    if (local.busy()) io.run_until_idle();
    io.remove_turn_hook(local_hook);
    io.remove_turn_hook(hook);
    if (sink.sync_in_flight()) io.run_until_idle();
    (void)sp->sync_now();
    ctx.spools[sh.id()] = std::move(sp);
    (void)mailboxes->sync_now();
    if (sh.id() == 0) ::unlink(control_path.c_str());
    core::log::info("event=shard_stopped sessions={} messages={}", node.sessions_opened(), sink.messages_committed());
}

}  // namespace

int run_serve(const config& cfg) {
    std::string config_path;
    if (!cfg.path.empty()) {
        std::error_code ec;
        auto abs = std::filesystem::absolute(cfg.path, ec);
        config_path = ec ? cfg.path : abs.string();
    }
    if (cfg.listen_smtp.empty()) core::log::warn("event=no_listeners note=\"[listen] smtp is empty\"");
    if (!cfg.listen_rpc.empty())
        core::log::warn("event=listener_not_built addrs={} note=\"this protocol is not built yet\"", cfg.listen_rpc.front());
    if (cfg.durability == durability_mode::none)
        core::log::warn("event=durability_none note=\"BENCHMARKS ONLY: 250 is sent before mail is on stable storage\"");

    core::shard_config sc;
    sc.shards = cfg.shards;
    sc.io = cfg.io == io_choice::io_uring ? core::io_mode::io_uring
            : cfg.io == io_choice::epoll  ? core::io_mode::epoll
                                          : core::io_mode::auto_detect;
    sc.chunk_bytes = cfg.chunk_bytes;
    sc.chunk_count = cfg.chunks_per_shard;
    sc.idle_poll_us = cfg.idle_poll_us;
    core::shard_set shards(sc);
    auto metrics = std::make_unique<metrics_registry>();
    serve_context ctx{cfg, config_path, build_generation(cfg, 1), *metrics};
    if (!cfg.listen_ldap.empty() && !ctx.first_directory->ldap) return 1;   // build_generation logged why
    // SIGHUP reloads the directory: blocked here, so every thread started
    // from now on has it blocked and only shard 0's signalfd takes it
    // (reloader.hh); its default action would end the process.
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &hup, nullptr);
    std::fprintf(stderr, "posthorn: serving %s; smtp on", cfg.source.c_str());
    for (const auto& a : cfg.listen_smtp) std::fprintf(stderr, " %s", a.c_str());
    if (!cfg.listen_pop3.empty()) std::fprintf(stderr, "; pop3 on");
    for (const auto& a : cfg.listen_pop3) std::fprintf(stderr, " %s", a.c_str());
    if (!cfg.listen_imap.empty()) std::fprintf(stderr, "; imap on");
    for (const auto& a : cfg.listen_imap) std::fprintf(stderr, " %s", a.c_str());
    if (!cfg.listen_ldap.empty()) std::fprintf(stderr, "; ldap on");
    for (const auto& a : cfg.listen_ldap) std::fprintf(stderr, " %s", a.c_str());
    if (!cfg.listen_metrics.empty()) std::fprintf(stderr, "; metrics on http://%s/metrics", cfg.listen_metrics.front().c_str());
    std::fprintf(stderr, "; data in %s; Ctrl-C stops\n", cfg.data_dir.c_str());
    auto res = shards.run([c = &ctx](core::shard& s) noexcept { run_shard(*c, s); });
    // SIGHUP stays blocked: one that arrived during shutdown must not end
    // the process with a signal instead of its exit code.
    if (!res) {
        core::log::error("event=serve_failed what=\"{}\" reason=\"{}\"", res.err().what, res.err().reason());
        return 1;
    }
    return ctx.exit_code.load();
}

}  // namespace posthorn::app
