// The embedded demo configuration: what `posthorn serve` runs with no -c.
#include "posthorn/app/config.hh"

namespace posthorn::app {

std::string_view demo_config_text() noexcept {
    return R"toml(# posthorn demo configuration (embedded): the domain example.test on loopback.
[server]
hostname = "mx.example.test"
shards = "auto"
io = "auto"
data_dir = "var"
durability = "fsync"

[listen]
smtp = ["127.0.0.1:2525"]
pop3 = ["127.0.0.1:1100"]
imap = ["127.0.0.1:1430"]
ldap = ["127.0.0.1:3890"]
metrics = ["127.0.0.1:9025"]
# the rpc listener arrives with its issue.

[smtp]
max_message_size = 52428800
max_recipients = 1000
trusted_networks = ["127.0.0.0/8", "::1/128"]
bare_newlines = "reject"

[domains]
local = ["example.test", "localhost"]

[[users]]
name = "user1"
password = "{DEMO}user1"
display_name = "User One"
addresses = ["user1@example.test"]
given_name = "User"
surname = "One"

[[users]]
name = "user2"
password = "{DEMO}user2"
display_name = "User Two"
addresses = ["user2@example.test"]
given_name = "User"
surname = "Two"

[[users]]
name = "user3"
password = "{DEMO}user3"
display_name = "User Three"
addresses = ["user3@example.test"]
given_name = "User"
surname = "Three"

[[users]]
name = "user4"
password = "{DEMO}user4"
display_name = "User Four"
addresses = ["user4@example.test"]
given_name = "User"
surname = "Four"

[[users]]
name = "user5"
password = "{DEMO}user5"
display_name = "User Five"
addresses = ["user5@example.test"]
given_name = "User"
surname = "Five"

[[groups]]
name = "staff"
description = "Everyone at example.test"
members = ["user1", "user2", "user3", "user4", "user5"]

[aliases]
"postmaster@example.test" = ["user1@example.test"]
"abuse@example.test" = ["user1@example.test"]

[ldap]
# base = "dc=example,dc=test"   (the default: from the primary domain)
anonymous = true
size_limit = 500
time_limit = "1h"

[queue]
retry = ["1m", "5m", "15m", "30m", "1h", "2h", "4h"]
lifetime = "5d"
)toml";
}

}  // namespace posthorn::app
