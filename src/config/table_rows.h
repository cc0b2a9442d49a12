// Rows of the settings table, one function per group of gunicorn sections (one file each).
// settings_table() concatenates them in gunicorn's KNOWN_SETTINGS order.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/validators.h"

namespace narwhal::config {

void add_server_settings(std::vector<Setting>& rows);     // Config File, Server Socket, Worker Processes
void add_security_settings(std::vector<Setting>& rows);   // Security (request limits)
void add_debugging_settings(std::vector<Setting>& rows);  // Debugging
void add_mechanics_settings(std::vector<Setting>& rows);  // Server Mechanics: process and files
void add_logging_settings(std::vector<Setting>& rows);    // Logging, Process Naming
void add_hook_settings(std::vector<Setting>& rows);       // Server Hooks
void add_ssl_settings(std::vector<Setting>& rows);        // SSL
void add_http_settings(std::vector<Setting>& rows);       // Server Mechanics: proxies and HTTP leniency
void add_http2_settings(std::vector<Setting>& rows);      // HTTP/2 (refused until the engine serves it)
void add_asgi_settings(std::vector<Setting>& rows);       // ASGI (the asgi worker, WebSocket limits)
void add_control_settings(std::vector<Setting>& rows);    // Control (the control socket)

// Marks a row narwhal accepts (gunicorn has it) but does not honour yet; see Setting::support.
// ignored: a non-default value logs one WARNING at start-up; refused: it stops the start-up.
inline Setting ignored(Setting row, std::string note) {
  row.support = Setting::Support::Ignored;
  row.support_note = std::move(note);
  return row;
}
inline Setting refused(Setting row, std::string note) {
  row.support = Setting::Support::Refused;
  row.support_note = std::move(note);
  return row;
}

// A computed default read from an environment variable, as text for the validator.
inline std::function<std::optional<Value>()> from_environment(const char* variable,
                                                              std::string prefix = "") {
  return [variable, prefix]() -> std::optional<Value> {
    const char* text = std::getenv(variable);
    if (text == nullptr) return std::nullopt;
    return Value(prefix + text);
  };
}

}  // namespace narwhal::config
