// Listening sockets: opened from `--bind` values, adopted from fd://N, or inherited from the
// environment (systemd socket activation, or a parent master during a binary upgrade).
// Modelled on gunicorn's sock.py.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "net/bind_address.h"

namespace narwhal::net {

struct Listener {
  UniqueFd fd;          // non-blocking, close-on-exec, listening
  BindAddress address;  // as configured; for fds, the address found with getsockname
  std::string name;     // as gunicorn logs it: "http://127.0.0.1:8000", "http://[::1]:8000",
                        // "unix:/tmp/x.sock" (the real port after binding port 0)
  int family = 0;       // AF_INET, AF_INET6 or AF_UNIX
};

struct ListenOptions {
  int backlog = 2048;
  bool reuse_port = false;
  bool tls = false;           // names TCP listeners "https://..." like gunicorn with certfile
  // gunicorn leaves IPV6_V6ONLY at the kernel default (dual-stack on Linux: "[::]:8000" also
  // accepts IPv4), so that is the default here too; set to bind "[::]" and "0.0.0.0" together.
  bool ipv6_only = false;
  int bind_attempts = 5;      // gunicorn retries a busy address 5 times...
  int retry_delay_ms = 1000;  // ...one second apart
  // Receives gunicorn's messages while binding ("Connection in use: ...", "Retrying in 1
  // second."). May be empty.
  std::function<void(const std::string&)> log_error;
};

// Opens one listener per bind value, in order. On failure closes what it opened, sets `error`
// (e.g. "Can't connect to ('127.0.0.1', 80)") and returns false.
bool open_listeners(const std::vector<std::string>& binds, const ListenOptions& options,
                    std::vector<Listener>* out, std::string* error);
bool open_listeners(const std::vector<std::string>& binds, int backlog, bool reuse_port,
                    std::vector<Listener>* out, std::string* error);

// Takes ownership of an already-bound socket (fd://N, systemd, GUNICORN_FD): finds its family
// and address with getsockname, makes it non-blocking and close-on-exec, and (re)starts
// listen(backlog) as gunicorn does. On failure the fd is left open and untouched by ownership.
bool adopt_listener(int fd, const ListenOptions& options, Listener* out, std::string* error);

struct InheritedFds {
  std::vector<int> fds;
  bool systemd = false;  // came from LISTEN_FDS (then the master must not unlink unix sockets)
};

// Reads LISTEN_PID/LISTEN_FDS (systemd: fds 3..3+n-1, only when LISTEN_PID is our pid) or,
// when GUNICORN_PID is set, GUNICORN_FD="3,4". Like gunicorn, removes the variables it used
// from the environment. Returns false and sets `error` on malformed values.
bool inherited_fds_from_env(InheritedFds* out, std::string* error);

// inherited_fds_from_env() + adopt_listener() for each; `out` stays empty when nothing is
// inherited. `systemd` (optional) tells whether the fds came from socket activation.
bool inherited_listeners_from_env(const ListenOptions& options, std::vector<Listener>* out,
                                  bool* systemd, std::string* error);

// Closes the listeners and, when `unlink_unix` is set, removes their socket files (gunicorn's
// close_sockets: not done for systemd sockets, reuse_port, or during a binary upgrade).
void close_listeners(std::vector<Listener>& listeners, bool unlink_unix);

// Formats a listener name from a bound socket (getsockname), "" on failure.
std::string listener_name(int fd, bool tls);

}  // namespace narwhal::net
