// Settings: Control (gunicorn 25's control socket, served by the master: docs/control.md).
#include "config/table_rows.h"

namespace narwhal::config {
namespace {

// gunicorn's _get_default_control_socket: $XDG_RUNTIME_DIR/gunicorn.ctl when XDG_RUNTIME_DIR is
// set, else $HOME/.gunicorn/gunicorn.ctl (the master creates the directory, mode 0700).
std::optional<Value> default_control_socket() {
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  if (runtime != nullptr && *runtime != '\0') return Value(std::string(runtime) + "/gunicorn.ctl");
  const char* home = std::getenv("HOME");
  return Value(std::string(home != nullptr ? home : "") + "/.gunicorn/gunicorn.ctl");
}

// metrics_bind: empty (off), or one TCP or unix address as --bind takes it (no fd://).
Validator validate_metrics_bind() {
  return [](const Setting&, const Value& raw, Value& out) -> std::optional<std::string> {
    const char* form = "HOST:PORT, [IPV6]:PORT or unix:PATH (empty: off)";
    if (std::holds_alternative<std::monostate>(raw)) {
      out = std::string();
      return std::nullopt;
    }
    const auto* text = std::get_if<std::string>(&raw);
    if (!text) return form;
    std::string address = strip(*text);
    if (!address.empty() && (check_bind_address(address) || address.rfind("fd://", 0) == 0)) return form;
    out = address;
    return std::nullopt;
  };
}

}  // namespace

void add_control_settings(std::vector<Setting>& rows) {
  rows.push_back({
      .name = "control_socket",
      .section = "Control",
      .flags = {"--control-socket"},
      .metavar = "PATH",
      .type = Type::String,
      .action = Action::Store,
      .default_value = std::string("gunicorn.ctl"),
      .default_text = "$XDG_RUNTIME_DIR/gunicorn.ctl or $HOME/.gunicorn/gunicorn.ctl",
      .validate = validate_string(),
      .short_doc = "Unix socket path for the control interface.",
      .doc = "The master serves gunicorn's control protocol on this socket: `narwhalc` (or "
             "gunicorn's own `gunicornc`) shows the workers, the in-flight requests, the settings "
             "and statistics, adds and removes workers, reloads, reopens the logs and shuts the "
             "server down (docs/control.md).\n\n"
             "Default: `$XDG_RUNTIME_DIR/gunicorn.ctl` if `XDG_RUNTIME_DIR` is set, otherwise "
             "`$HOME/.gunicorn/gunicorn.ctl`, as in gunicorn; the parent directory is created "
             "(mode 0700) when missing. A relative path is relative to the directory narwhal runs "
             "in (after *chdir*). A socket already at that path is replaced, as in gunicorn (a file "
             "that is not a socket is left alone); at exit the master removes the socket only "
             "while it is still its own (after a USR2 upgrade the new master's stays). When the "
             "socket cannot be created an error is logged and the server runs without it.",
      .computed_default = default_control_socket,
  });
  rows.push_back({
      .name = "control_socket_mode",
      .section = "Control",
      .flags = {"--control-socket-mode"},
      .metavar = "INT",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{0600},
      .default_text = "384 (0o600)",
      .validate = validate_umask(),
      .short_doc = "Permission mode for the control socket.",
      .doc = "Who may connect: the socket file's mode, e.g. `0o600` (only the owner, the default) "
             "or `0o660` (the owner's group too). Like *umask*: an integer or a string such as "
             "`0o660` or `0660` (a leading `0` means octal). Anyone who can connect controls the "
             "server: there is no other authentication.",
      .cli_value = Setting::CliValue::AutoInt,
  });
  rows.push_back({
      .name = "control_socket_disable",
      .section = "Control",
      .flags = {"--no-control-socket"},
      .metavar = "",
      .type = Type::Bool,
      .action = Action::StoreTrue,
      .default_value = false,
      .default_text = "",
      .validate = validate_bool(),
      .short_doc = "Disable the control socket.",
      .doc = "The master then creates no control socket; signals still control it "
             "(docs/signals.md).",
  });
  rows.push_back({
      .name = "metrics_bind",
      .section = "Control",
      .flags = {"--metrics-bind"},
      .metavar = "ADDRESS",
      .type = Type::String,
      .action = Action::Store,
      .default_value = std::string(),
      .default_text = "''",
      .validate = validate_metrics_bind(),
      .short_doc = "Serve Prometheus metrics at http://ADDRESS/metrics (narwhal's own).",
      .doc = "The master serves `GET /metrics` on this address in the Prometheus text format: "
             "requests by status class and method, request duration and queue time histograms, "
             "workers, in-flight requests, worker restarts by cause and the listen backlog, "
             "summed over all workers (docs/metrics.md). `HOST:PORT`, `[::1]:PORT` or "
             "`unix:PATH`; empty (the default) serves nothing.\n\n"
             "Anyone who can connect can read the metrics: bind it to a private address. The "
             "socket is opened with `SO_REUSEPORT`, so the new master of a USR2 upgrade can bind "
             "it while the old one still serves. A HUP that changes the address moves the "
             "endpoint; when it cannot be bound an error is logged and the server runs without it.",
  });
}

}  // namespace narwhal::config
