#include "http/request_start.h"

#include <cstdint>

#include "http/chars.h"

namespace narwhal::http {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (chars::to_lower(a[i]) != chars::to_lower(b[i])) return false;
  }
  return true;
}

}  // namespace

std::optional<int64_t> parse_request_start(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.size() >= 2 && (value[0] == 't' || value[0] == 'T') && value[1] == '=') value.remove_prefix(2);
  size_t i = 0;
  uint64_t digits_value = 0;
  for (; i < value.size() && is_digit(value[i]); ++i) {
    if (i >= 19) return std::nullopt;  // beyond any epoch in nanoseconds (and no overflow)
    digits_value = digits_value * 10 + static_cast<uint64_t>(value[i] - '0');
  }
  if (digits_value > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  const auto whole = static_cast<int64_t>(digits_value);
  if (i == 0) return std::nullopt;
  if (i < value.size()) {
    // SECONDS.FRACTION: microseconds from the first six fraction digits.
    if (value[i] != '.' || i + 1 == value.size() || whole >= 100'000'000'000) return std::nullopt;
    int64_t fraction = 0;
    int digits = 0;
    for (++i; i < value.size(); ++i) {
      if (!is_digit(value[i])) return std::nullopt;
      if (digits < 6) {
        fraction = fraction * 10 + (value[i] - '0');
        ++digits;
      }
    }
    for (; digits < 6; ++digits) fraction *= 10;
    return whole * 1'000'000 + fraction;
  }
  if (whole == 0) return std::nullopt;
  if (whole < 100'000'000'000) return whole * 1'000'000;   // seconds
  if (whole < 100'000'000'000'000) return whole * 1'000;   // milliseconds
  if (whole < 100'000'000'000'000'000) return whole;       // microseconds
  return whole / 1'000;                                    // nanoseconds
}

std::optional<int64_t> request_start_us(const RequestHead& head) {
  for (const Header& header : head.headers) {
    if (equals_ignoring_case(header.name, "X-Request-Start")) return parse_request_start(header.value);
  }
  return std::nullopt;
}

}  // namespace narwhal::http
