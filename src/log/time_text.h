// Timestamps in gunicorn's two layouts, in local time with the numeric UTC offset (%z).
// Each thread caches the text of the last second it formatted, so the per-request cost is a
// compare and a copy.
#pragma once

#include <ctime>
#include <string>

namespace narwhal::log {

// "[29/Nov/2026:17:40:00 +0000]" — the access log's %(t)s (Apache common log format).
void append_access_time(std::string& out, std::time_t when);

// "[2026-11-29 17:40:00 +0000]" — the error log's asctime with datefmt "[%Y-%m-%d %H:%M:%S %z]".
void append_error_time(std::string& out, std::time_t when);

// The error log's layout computed with plain arithmetic from a UTC offset taken beforehand:
// async-signal-safe (no localtime, no locks), for a line written from a signal handler.
// `out` holds at least 32 bytes; returns the length.
std::size_t format_error_time_signal_safe(std::time_t when, long gmtoff, char* out);
// The current local UTC offset in seconds (outside signal handlers).
long local_gmtoff();

}  // namespace narwhal::log
