// Scalar validators (gunicorn's validate_bool, validate_pos_int, validate_string, ...).
#include "config/validators.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

namespace narwhal::config {
namespace {

std::string lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

Validator validate_bool() {
  return [](const Setting&, const Value& raw, Value& out) -> std::optional<std::string> {
    const char* form = "a boolean (true/false, yes/no, on/off, 1/0)";
    if (std::holds_alternative<std::monostate>(raw) || std::holds_alternative<bool>(raw)) {
      out = raw;  // gunicorn's validate_bool(None) is None
      return std::nullopt;
    }
    if (const auto* text = std::get_if<std::string>(&raw)) {
      if (auto flag = parse_bool_text(*text)) {
        out = *flag;
        return std::nullopt;
      }
    }
    return form;
  };
}

Validator validate_pos_int(int64_t maximum, bool zero_means_maximum) {
  return [=](const Setting&, const Value& raw, Value& out) -> std::optional<std::string> {
    std::optional<int64_t> number;
    if (const auto* integer = std::get_if<int64_t>(&raw)) number = *integer;
    if (const auto* text = std::get_if<std::string>(&raw)) number = parse_int_base0(*text);
    if (!number || *number < 0) return "a positive integer";
    if (maximum > 0 && (*number > maximum || (zero_means_maximum && *number == 0))) number = maximum;
    out = *number;
    return std::nullopt;
  };
}

Validator validate_umask() {
  return [](const Setting&, const Value& raw, Value& out) -> std::optional<std::string> {
    std::optional<int64_t> number;
    if (const auto* integer = std::get_if<int64_t>(&raw)) number = *integer;
    if (const auto* text = std::get_if<std::string>(&raw)) number = parse_auto_int(*text);
    if (!number || *number < 0) return "a file mode mask such as 0o22, 022 or 18";
    out = *number;
    return std::nullopt;
  };
}

Validator validate_float() {
  return [](const Setting&, const Value& raw, Value& out) -> std::optional<std::string> {
    std::optional<double> number;
    if (const auto* real = std::get_if<double>(&raw)) number = *real;
    if (const auto* integer = std::get_if<int64_t>(&raw)) number = static_cast<double>(*integer);
    if (const auto* text = std::get_if<std::string>(&raw)) {
      std::string stripped = strip(*text);
      char* end = nullptr;
      double parsed = stripped.empty() ? 0.0 : std::strtod(stripped.c_str(), &end);
      if (!stripped.empty() && end == stripped.c_str() + stripped.size()) number = parsed;
    }
    if (!number || !std::isfinite(*number) || *number < 0) return "a non-negative number";
    out = *number;
    return std::nullopt;
  };
}

Validator validate_string() {
  return [](const Setting&, const Value& raw, Value& out) -> std::optional<std::string> {
    const auto* text = std::get_if<std::string>(&raw);
    if (!text) return "a string";
    out = strip(*text);
    return std::nullopt;
  };
}

Validator validate_optional_string() {
  return [](const Setting&, const Value& raw, Value& out) -> std::optional<std::string> {
    if (std::holds_alternative<std::monostate>(raw)) {
      out = raw;
      return std::nullopt;
    }
    const auto* text = std::get_if<std::string>(&raw);
    if (!text) return "a string or None";
    out = strip(*text);
    return std::nullopt;
  };
}

Validator validate_choice(std::vector<std::string> choices) {
  std::string form = "one of ";
  for (size_t i = 0; i < choices.size(); ++i) form += (i ? ", " : "") + choices[i];
  return [choices = std::move(choices), form](const Setting&, const Value& raw,
                                               Value& out) -> std::optional<std::string> {
    const auto* text = std::get_if<std::string>(&raw);
    if (!text) return form;
    std::string wanted = lowercase(strip(*text));
    if (std::find(choices.begin(), choices.end(), wanted) == choices.end()) return form;
    out = wanted;
    return std::nullopt;
  };
}

// gunicorn 24.1's validate_proxy_protocol: off | v1 | v2 | auto; the setting was a boolean
// before, so True (an old config file, or the bare flag of gunicorn < 24.1) means auto and
// False / None mean off.
Validator validate_proxy_protocol() {
  return [](const Setting&, const Value& raw, Value& out) -> std::optional<std::string> {
    const char* form = "one of off, v1, v2, auto (or a boolean: true = auto)";
    if (std::holds_alternative<std::monostate>(raw)) {
      out = std::string("off");
      return std::nullopt;
    }
    if (const auto* flag = std::get_if<bool>(&raw)) {
      out = std::string(*flag ? "auto" : "off");
      return std::nullopt;
    }
    const auto* text = std::get_if<std::string>(&raw);
    if (!text) return form;
    std::string wanted = lowercase(strip(*text));
    if (wanted == "off" || wanted == "v1" || wanted == "v2" || wanted == "auto") {
      out = wanted;
      return std::nullopt;
    }
    if (auto flag = parse_bool_text(wanted)) {
      out = std::string(*flag ? "auto" : "off");
      return std::nullopt;
    }
    return form;
  };
}

Validator validate_class() {
  return [](const Setting&, const Value& raw, Value& out) -> std::optional<std::string> {
    if (std::holds_alternative<Callable>(raw)) {
      out = raw;
      return std::nullopt;
    }
    const auto* text = std::get_if<std::string>(&raw);
    if (!text || strip(*text).empty()) return "a class name (e.g. sync or module.Class) or a class";
    out = strip(*text);
    return std::nullopt;
  };
}

Validator validate_dict() {
  return [](const Setting&, const Value& raw, Value& out) -> std::optional<std::string> {
    if (!std::holds_alternative<StringMap>(raw)) return "a dictionary";
    out = raw;
    return std::nullopt;
  };
}

Validator validate_python_dict() {
  return [](const Setting&, const Value& raw, Value& out) -> std::optional<std::string> {
    // The Python layer wraps only real dicts (py::to_config_value with keep_object).
    if (!std::holds_alternative<StringMap>(raw) && !std::holds_alternative<Callable>(raw)) return "a dictionary";
    out = raw;
    return std::nullopt;
  };
}

Validator validate_callable() {
  return [](const Setting&, const Value& raw, Value& out) -> std::optional<std::string> {
    if (!std::holds_alternative<Callable>(raw)) return "a callable";
    out = raw;
    return std::nullopt;
  };
}

Validator validate_ssl_version() {
  // Python's ssl.PROTOCOL_* numbers; gunicorn >= 21 ignores the setting (use ssl_context).
  static const std::pair<const char*, int64_t> kProtocols[] = {
      {"SSLv23", 2}, {"TLS", 2}, {"TLSv1", 3}, {"TLSv1_1", 4}, {"TLSv1_2", 5},
      {"TLS_CLIENT", 16}, {"TLS_SERVER", 17},
  };
  return [](const Setting&, const Value& raw, Value& out) -> std::optional<std::string> {
    const char* form = "an ssl.PROTOCOL_* name (TLS, TLSv1_2, TLS_SERVER, ...) or number";
    if (const auto* integer = std::get_if<int64_t>(&raw)) {
      if (*integer < 0) return form;
      out = *integer;
      return std::nullopt;
    }
    const auto* text = std::get_if<std::string>(&raw);
    if (!text) return form;
    std::string name = strip(*text);
    if (name.rfind("PROTOCOL_", 0) == 0) name.erase(0, 9);
    for (const auto& [protocol, number] : kProtocols) {
      if (name == protocol) {
        out = number;
        return std::nullopt;
      }
    }
    if (auto number = parse_int_decimal(name); number && *number >= 0) {
      out = *number;
      return std::nullopt;
    }
    return form;
  };
}

}  // namespace narwhal::config
