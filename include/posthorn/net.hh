// net: listeners and connections over the shard's reactor (DESIGN.md
// "Process model", STYLE.md layout). Knows bytes, not protocols: the app
// implements net::handler per protocol and wires each connection to a
// sans-I/O session. TLS comes later; UDP sockets can be bound with
// bind_socket(ep, transport::udp) (datagram io comes with the RPC endpoint
// mapper).
//
//   net/address.hh     "addr:port" endpoints, peer IP text and keys, bind_socket
//   net/connection.hh  connection + handler (on_open/on_data/on_deadline/on_close)
//   net/listener.hh    registry (a shard's connections, caps, shutdown) + listener
//
// Threading: everything is shard-local; one registry per shard.
//
// A server, start to end:
//
//   struct echo final : net::handler {
//       void on_open(net::connection& c) noexcept override {
//           if (c.over_limit() != net::limit_hit::none) { c.write("421 busy\r\n"); c.close(); return; }
//           c.set_idle_timeout_ms(300'000);
//       }
//       size_t on_data(net::connection& c, const core::slice& b) noexcept override {
//           c.write(b.view());           // sent at the end of this loop turn
//           return b.length;             // all consumed: the chunk goes back now
//       }
//       void on_close(net::connection&) noexcept override {}
//   };
//
//   core::shard_set shards({.shards = 0, .io = core::io_mode::auto_detect});
//   echo app;
//   auto done = shards.run([&app](core::shard& s) noexcept {
//       net::registry reg(s.io(), {.connections_max = 10000, .connections_per_ip_max = 50}, s.id());
//       if (!reg.listen("127.0.0.1:2525", app)) { s.stop_all(); return; }
//       s.io().run();                    // until SIGINT/SIGTERM or shards.stop()
//       reg.close_all(/*graceful=*/true);
//       s.io().run_until_idle();
//   });
#pragma once

#include "posthorn/net/address.hh"
#include "posthorn/net/connection.hh"
#include "posthorn/net/listener.hh"
