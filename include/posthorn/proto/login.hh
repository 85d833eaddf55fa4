// proto/login: how a mailbox-access session (POP3, IMAP) and its host
// settle a login. The session parses the credentials; the host checks
// them off the reactor thread (crypt(3) takes milliseconds), slows down
// failures, and moves a logged-in session to the shard that owns the
// user's mailbox (DESIGN.md: a session, once logged in, is handed to the
// owner shard).
//
// The contract, the same for both protocols:
//  1. On a login command (USER/PASS, AUTH PLAIN, LOGIN, AUTHENTICATE PLAIN)
//     feed() stops consuming right after that command and pending_login()
//     returns what to check. Until the host answers, feed() consumes
//     nothing and output() gets nothing for it.
//  2. The host checks the password against the directory, then:
//     - wrong: waits its failure delay, then login_checked(false, ""); the
//       session answers -ERR / NO (saying nothing of which part was wrong);
//     - right, mailbox on this shard: login_checked(true, canonical_user);
//     - right, mailbox on another shard: blob = suspend() (the session is
//       then dead), and the fd, the blob and the input not fed yet go to
//       the owner shard, which builds the session with resume(blob) and
//       calls login_checked(true, canonical_user) there.
//  3. The session answers the login (+OK / tagged OK) and goes on.
// A reload may swap the directory while a check runs (DESIGN.md: sessions
// survive reloads). The host passes the snapshot it checked the password in
// as login_checked()'s third argument (with the handoff, to the owner
// shard too), so the session finds its user where the password matched, not
// in whatever snapshot is current when the answer arrives.
#pragma once

#include <string>

namespace posthorn::proto {

struct login_request {
    std::string user;       // as the client typed it
    std::string password;   // never logged
};

}  // namespace posthorn::proto
