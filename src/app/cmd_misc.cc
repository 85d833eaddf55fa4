// check-config, mkpasswd and reload: small commands that need no spool or
// reactor.
#include "posthorn/app/commands.hh"
#include "control.hh"

#include <crypt.h>
#include <cstdio>
#include <iostream>
#include <string>

namespace posthorn::app {

int run_check_config(const config& cfg) {
    std::printf("config ok: %s\n", cfg.source.c_str());
    std::printf("hostname=%s shards=%s io=%s durability=%s data_dir=%s\n", cfg.hostname.c_str(),
                cfg.shards ? std::to_string(cfg.shards).c_str() : "auto",
                cfg.io == io_choice::auto_detect ? "auto" : cfg.io == io_choice::io_uring ? "io_uring" : "epoll",
                cfg.durability == durability_mode::fsync ? "fsync" : "none", cfg.data_dir.c_str());
    for (const auto& a : cfg.listen_smtp) std::printf("listen smtp %s\n", a.c_str());
    for (const auto& a : cfg.listen_ldap) std::printf("listen ldap %s\n", a.c_str());
    std::printf("domains=%zu users=%zu aliases=%zu routes=%zu\n", cfg.local_domains.size(), cfg.users.size(),
                cfg.aliases.size(), cfg.routes.size());
    return 0;
}

// Reads one line (the password) from stdin and prints a yescrypt hash.
int run_mkpasswd() {
    std::string password;
    if (!std::getline(std::cin, password) || password.empty()) {
        std::fprintf(stderr, "posthorn mkpasswd: give the password on standard input\n");
        return 2;
    }
    char* salt = crypt_gensalt_ra("$y$", 0, nullptr, 0);
    if (!salt) {
        std::perror("posthorn mkpasswd: crypt_gensalt");
        return 1;
    }
    crypt_data data{};
    const char* hash = crypt_r(password.c_str(), salt, &data);
    std::free(salt);
    if (!hash || hash[0] == '*') {
        std::fprintf(stderr, "posthorn mkpasswd: crypt failed\n");
        return 1;
    }
    std::printf("%s\n", hash);
    return 0;
}

int run_reload(const config& cfg) {
    std::string reply;
    if (int rc = control_exchange(cfg.data_dir + "/control.sock", "{\"cmd\":\"reload\"}", reply); rc != 0) return rc;
    std::string text, keys;
    if (reply.find("\"ok\":true") == std::string::npos) {
        if (!json_field(reply, "error", text)) text = reply;
        while (!text.empty() && text.back() == '\n') text.pop_back();
        std::fprintf(stderr, "posthorn reload: failed: %s\nthe daemon keeps the directory it had\n", text.c_str());
        return 1;
    }
    if (!json_field(reply, "text", text)) text = "reloaded";
    std::printf("%s\n", text.c_str());
    if (json_field(reply, "restart_needed", keys) && !keys.empty())
        std::printf("not applied until a restart: %s\n", keys.c_str());
    return 0;
}

}  // namespace posthorn::app
