// Config: one validated value per setting of the table.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "config/config.h"
#include "config/validators.h"

namespace narwhal::config {
namespace {

[[noreturn]] void programming_error(std::string_view what, std::string_view name) {
  std::fprintf(stderr, "narwhal: config: %.*s: %.*s\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(name.size()), name.data());
  std::abort();
}

ConfigError invalid(const Setting& setting, std::string_view flag, const Value& raw,
                    const std::string& form) {
  std::string message = "Invalid value for " + setting.name;
  if (!flag.empty()) message += " (" + std::string(flag) + ")";
  message += ": " + repr_value(raw) + " (expected " + form + ")";
  return {setting.name, message};
}

template <class T>
const T& get_as(const Value& value, std::string_view name) {
  const T* typed = std::get_if<T>(&value);
  if (typed == nullptr) programming_error("setting read with the wrong type", name);
  return *typed;
}

}  // namespace

Config::Config() {
  for (const auto& setting : settings_table()) {
    values_[setting.name] = setting.default_value;
    if (!setting.computed_default) continue;
    std::optional<Value> computed = setting.computed_default();
    if (!computed) continue;
    Value normalised;
    if (auto form = setting.validate(setting, *computed, normalised)) {
      ConfigError error = invalid(setting, "", *computed, *form);
      error.message += " in the environment; using the default " + setting.default_text;
      default_errors_.push_back(std::move(error));
      continue;
    }
    values_[setting.name] = std::move(normalised);
  }
}

std::optional<ConfigError> Config::set(std::string_view name, const Value& raw, bool append) {
  return set_from_flag(name, raw, append, "");
}

std::optional<ConfigError> Config::set_from_flag(std::string_view name, const Value& raw, bool append,
                                                 std::string_view flag) {
  const Setting* setting = find_setting(name);
  if (setting == nullptr) {
    return ConfigError{std::string(name), "No configuration setting for: " + std::string(name)};
  }
  Value normalised;
  if (auto form = setting->validate(*setting, raw, normalised)) return invalid(*setting, flag, raw, *form);
  auto& stored = values_[setting->name];
  if (append && setting->type == Type::StringList) {
    auto* current = std::get_if<StringList>(&stored);
    auto* added = std::get_if<StringList>(&normalised);
    if (current && added) {
      current->insert(current->end(), added->begin(), added->end());
      return std::nullopt;
    }
  }
  stored = std::move(normalised);
  return std::nullopt;
}

const Value& Config::get(std::string_view name) const {
  auto found = values_.find(name);
  if (found == values_.end()) programming_error("unknown setting", name);
  return found->second;
}

bool Config::get_bool(std::string_view name) const {
  const Value& value = get(name);
  if (std::holds_alternative<std::monostate>(value)) return false;
  return get_as<bool>(value, name);
}

int64_t Config::get_int(std::string_view name) const { return get_as<int64_t>(get(name), name); }

double Config::get_float(std::string_view name) const {
  const Value& value = get(name);
  if (const auto* integer = std::get_if<int64_t>(&value)) return static_cast<double>(*integer);
  return get_as<double>(value, name);
}

const std::string& Config::get_string(std::string_view name) const {
  static const std::string empty;
  const Value& value = get(name);
  if (std::holds_alternative<std::monostate>(value)) return empty;
  return get_as<std::string>(value, name);
}

bool Config::is_set(std::string_view name) const {
  return !std::holds_alternative<std::monostate>(get(name));
}

const StringList& Config::get_list(std::string_view name) const {
  return get_as<StringList>(get(name), name);
}

const StringMap& Config::get_map(std::string_view name) const { return get_as<StringMap>(get(name), name); }

std::string Config::print_config() const {
  // gunicorn's Config.__str__: sorted names, "{k:{kmax}} = {v}". values_ is a sorted map.
  size_t width = 0;
  for (const auto& [name, value] : values_) width = std::max(width, name.size());
  std::string out;
  for (const auto& [name, value] : values_) {
    if (!out.empty()) out += '\n';
    out += name;
    out.append(width - name.size(), ' ');
    out += " = ";
    out += format_value(value);
    // narwhal's addition to gunicorn's layout: what narwhal does not do with this setting yet.
    const Setting* setting = find_setting(name);
    if (setting->support == Setting::Support::Ignored) out += "  # no effect in narwhal yet";
    if (setting->support == Setting::Support::Refused) out += "  # refused by narwhal (not supported yet)";
  }
  return out;
}

std::string Config::proc_name() const {
  return is_set("proc_name") ? get_string("proc_name") : get_string("default_proc_name");
}

StringMap Config::env() const {
  StringMap out;
  for (const auto& item : get_list("raw_env")) {
    size_t equals = item.find('=');
    if (equals == std::string::npos) continue;  // rejected by the validator
    out.emplace_back(item.substr(0, equals), item.substr(equals + 1));
  }
  return out;
}

StringMap Config::paste_global_conf() const {
  auto unescape = [](std::string text) {
    for (size_t at = text.find("\\="); at != std::string::npos; at = text.find("\\=", at + 1)) text.erase(at, 1);
    return text;
  };
  StringMap out;
  for (const auto& item : get_list("raw_paste_global_conf")) {
    size_t equals = find_unescaped_equals(item);
    if (equals == std::string::npos) continue;  // rejected by the validator
    out.emplace_back(unescape(item.substr(0, equals)), unescape(item.substr(equals + 1)));
  }
  return out;
}

bool Config::sendfile() const {
  // gunicorn returns False for *any* explicit value, so `sendfile = True` in a config file disables
  // it there; narwhal honours the explicit value instead.
  if (is_set("sendfile")) return get_bool("sendfile");
  const char* variable = std::getenv("SENDFILE");
  if (variable == nullptr) return true;
  std::string lowered(variable);
  for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lowered == "y" || lowered == "1" || lowered == "yes" || lowered == "true";
}

std::vector<const Setting*> Config::unsupported_settings() const {
  const Config defaults;  // the defaults as this process computes them (environment included)
  std::vector<const Setting*> out;
  for (const Setting& setting : settings_table()) {
    if (setting.support == Setting::Support::Honoured) continue;
    // repr_value compares every alternative, Callable by its repr (a hook's default is None).
    if (repr_value(get(setting.name)) != repr_value(defaults.get(setting.name))) out.push_back(&setting);
  }
  return out;
}

bool Config::is_ssl() const { return !get_string("certfile").empty() || !get_string("keyfile").empty(); }

}  // namespace narwhal::config
