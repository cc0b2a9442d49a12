// X-Request-Start: when a front-end proxy received the request, so that the time it waited
// before the app (queue time, docs/metrics.md) includes the proxy's queue. nginx sends
// `X-Request-Start: t=${msec}` (epoch seconds with milliseconds); others send integer
// milliseconds or microseconds, with or without `t=` (New Relic's forms).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "http/request_parser.h"

namespace narwhal::http {

// Epoch microseconds (CLOCK_REALTIME), or nullopt when the value is not one of the forms:
// [t=]SECONDS[.FRACTION], or an integer read by magnitude as seconds (< 1e11), milliseconds
// (< 1e14), microseconds (< 1e17) or nanoseconds.
std::optional<int64_t> parse_request_start(std::string_view value);

// The first X-Request-Start header of `head`, parsed; nullopt when absent or not understood.
std::optional<int64_t> request_start_us(const RequestHead& head);

}  // namespace narwhal::http
