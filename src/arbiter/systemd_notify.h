// sd_notify(3) for the master: READY=1 once the workers are forked, RELOADING=1 during a HUP,
// STOPPING=1 on shutdown, STATUS=... lines. A no-op unless systemd (or a test) set
// NOTIFY_SOCKET. Socket activation (LISTEN_FDS) is read in src/net.
#pragma once

#include <string>

namespace narwhal::arbiter {

// Sends `state` ("READY=1\nSTATUS=..."), newline-separated assignments. Returns false when
// NOTIFY_SOCKET is unset or the message could not be sent.
bool notify_systemd(const std::string& state);

}  // namespace narwhal::arbiter
