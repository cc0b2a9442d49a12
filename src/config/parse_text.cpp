// Text → int/bool conversions with Python's rules (int(x), int(x, 0), gunicorn's auto_int).
#include <cctype>
#include <limits>
#include <string>

#include "config/validators.h"

namespace narwhal::config {
namespace {

bool is_python_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

int digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'z') return c - 'a' + 10;
  if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
  return 99;
}

// Digits in `base` with single underscores between digits (PEP 515); `leading_underscore`
// allows one right after a base prefix ("0x_ff").
std::optional<uint64_t> parse_digits(std::string_view text, int base, bool leading_underscore) {
  if (text.empty()) return std::nullopt;
  uint64_t value = 0;
  bool previous_underscore = !leading_underscore;  // forbids a leading '_' unless allowed
  bool any_digit = false;
  for (char c : text) {
    if (c == '_') {
      if (previous_underscore) return std::nullopt;
      previous_underscore = true;
      continue;
    }
    int digit = digit_value(c);
    if (digit >= base) return std::nullopt;
    if (value > (std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(digit)) / static_cast<uint64_t>(base)) {
      return std::nullopt;
    }
    value = value * static_cast<uint64_t>(base) + static_cast<uint64_t>(digit);
    previous_underscore = false;
    any_digit = true;
  }
  if (previous_underscore || !any_digit) return std::nullopt;
  return value;
}

std::optional<int64_t> apply_sign(bool negative, std::optional<uint64_t> magnitude) {
  if (!magnitude) return std::nullopt;
  constexpr uint64_t max_positive = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (!negative) {
    if (*magnitude > max_positive) return std::nullopt;
    return static_cast<int64_t>(*magnitude);
  }
  if (*magnitude > max_positive + 1) return std::nullopt;
  return static_cast<int64_t>(0 - *magnitude);
}

// Strips whitespace and a sign; returns false if nothing is left.
bool split_sign(std::string_view& text, bool& negative) {
  while (!text.empty() && is_python_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_python_space(text.back())) text.remove_suffix(1);
  negative = false;
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
    negative = text[0] == '-';
    text.remove_prefix(1);
  }
  return !text.empty();
}

}  // namespace

std::string strip(std::string_view text) {
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && is_python_space(text[begin])) ++begin;
  while (end > begin && is_python_space(text[end - 1])) --end;
  return std::string(text.substr(begin, end - begin));
}

std::optional<int64_t> parse_int_decimal(std::string_view text) {
  bool negative = false;
  if (!split_sign(text, negative)) return std::nullopt;
  return apply_sign(negative, parse_digits(text, 10, false));
}

std::optional<int64_t> parse_int_base0(std::string_view text) {
  bool negative = false;
  if (!split_sign(text, negative)) return std::nullopt;
  if (text.size() >= 2 && text[0] == '0') {
    char prefix = static_cast<char>(std::tolower(static_cast<unsigned char>(text[1])));
    int base = prefix == 'x' ? 16 : prefix == 'o' ? 8 : prefix == 'b' ? 2 : 0;
    if (base) return apply_sign(negative, parse_digits(text.substr(2), base, true));
  }
  // Decimal; a leading zero is only allowed when the whole number is zero ("00", "0_0").
  std::optional<uint64_t> magnitude = parse_digits(text, 10, false);
  if (magnitude && *magnitude != 0 && text[0] == '0') return std::nullopt;
  return apply_sign(negative, magnitude);
}

std::optional<int64_t> parse_auto_int(std::string_view text) {
  // gunicorn: if re.match(r'0(\d)', x): x = x.replace('0', '0o', 1); return int(x, 0)
  if (text.size() >= 2 && text[0] == '0' && std::isdigit(static_cast<unsigned char>(text[1]))) {
    std::string octal = "0o" + std::string(text.substr(1));
    return parse_int_base0(octal);
  }
  return parse_int_base0(text);
}

std::optional<bool> parse_bool_text(std::string_view text) {
  std::string lowered = strip(text);
  for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lowered == "true" || lowered == "1" || lowered == "yes" || lowered == "on") return true;
  if (lowered == "false" || lowered == "0" || lowered == "no" || lowered == "off") return false;
  return std::nullopt;
}

}  // namespace narwhal::config
