// Python's str()/repr() of setting values, for --print-config and error messages.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>

#include "config/config.h"

namespace narwhal::config {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};

// repr(str): single quotes unless the text holds ' but no ", escapes as Python does for ASCII;
// bytes >= 0x80 (UTF-8) pass through like printable non-ASCII characters in Python 3.
std::string python_string_repr(std::string_view text) {
  bool has_single = text.find('\'') != std::string_view::npos;
  bool has_double = text.find('"') != std::string_view::npos;
  char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (c == quote || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (byte < 0x20 || byte == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  out += quote;
  return out;
}

// repr(float): shortest round-trip digits; fixed notation for 1e-4 <= |x| < 1e16, else
// scientific with a signed two-digit-minimum exponent ("1e+16", "1.5e-05").
std::string python_float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  std::string scientific(buffer, result.ptr);  // "-1.2345e+02"
  std::string sign;
  if (scientific[0] == '-') {
    sign = "-";
    scientific.erase(0, 1);
  }
  size_t e = scientific.find('e');
  std::string digits = scientific.substr(0, e);
  int exponent = std::stoi(scientific.substr(e + 1));
  if (digits.size() > 1) digits.erase(1, 1);  // drop the '.'
  if (exponent >= -4 && exponent < 16) {
    std::string fixed;
    if (exponent < 0) {
      fixed = "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    } else if (static_cast<size_t>(exponent) + 1 >= digits.size()) {
      fixed = digits + std::string(static_cast<size_t>(exponent) + 1 - digits.size(), '0') + ".0";
    } else {
      fixed = digits.substr(0, static_cast<size_t>(exponent) + 1) + "." +
              digits.substr(static_cast<size_t>(exponent) + 1);
    }
    return sign + fixed;
  }
  std::string mantissa = digits.size() > 1 ? digits.substr(0, 1) + "." + digits.substr(1) : digits;
  char exponent_text[16];
  std::snprintf(exponent_text, sizeof exponent_text, "e%c%02d", exponent < 0 ? '-' : '+',
                std::abs(exponent));
  return sign + mantissa + exponent_text;
}

std::string format(const Value& value, bool top_level) {
  return std::visit(
      Overloaded{
          [](std::monostate) -> std::string { return "None"; },
          [](bool flag) -> std::string { return flag ? "True" : "False"; },
          [](int64_t number) -> std::string { return std::to_string(number); },
          [](double number) -> std::string { return python_float_repr(number); },
          [&](const std::string& text) -> std::string {
            return top_level ? text : python_string_repr(text);
          },
          [](const StringList& list) -> std::string {
            std::string out = "[";
            for (size_t i = 0; i < list.size(); ++i) {
              if (i) out += ", ";
              out += python_string_repr(list[i]);
            }
            return out + "]";
          },
          [](const StringMap& map) -> std::string {
            std::string out = "{";
            for (size_t i = 0; i < map.size(); ++i) {
              if (i) out += ", ";
              out += python_string_repr(map[i].first) + ": " + python_string_repr(map[i].second);
            }
            return out + "}";
          },
          [](const Callable& callable) -> std::string {
            return callable.repr.empty() ? "<callable>" : callable.repr;
          },
      },
      value);
}

}  // namespace

std::string format_value(const Value& value) { return format(value, true); }
std::string repr_value(const Value& value) { return format(value, false); }

}  // namespace narwhal::config
