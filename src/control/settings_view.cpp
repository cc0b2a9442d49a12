#include "control/settings_view.h"

namespace narwhal::control {
namespace {

nlohmann::json value_json(const config::Value& value) {
  return std::visit(
      [](const auto& item) -> nlohmann::json {
        using T = std::decay_t<decltype(item)>;
        if constexpr (std::is_same_v<T, std::monostate>) return nullptr;
        else if constexpr (std::is_same_v<T, config::StringMap>) {
          nlohmann::json object = nlohmann::json::object();
          for (const auto& [key, text] : item) object[key] = text;
          return object;
        } else if constexpr (std::is_same_v<T, config::Callable>) return item.repr;
        else return item;
      },
      value);
}

}  // namespace

nlohmann::json settings_json(const config::Config& cfg, const std::string& proc_name) {
  // gunicorn's CommandHandlers.show_config keys (its dirty_* settings do not exist here).
  static const char* const kKeys[] = {"bind",        "workers",  "worker_class", "threads",
                                      "timeout",     "graceful_timeout", "keepalive", "max_requests",
                                      "max_requests_jitter", "worker_connections", "preload_app", "daemon",
                                      "pidfile",     "proc_name", "reload", "control_socket",
                                      "control_socket_disable"};
  nlohmann::json result = nlohmann::json::object();
  for (const char* key : kKeys) {
    if (!config::find_setting(key)) continue;
    result[key] = std::string_view(key) == "proc_name" ? nlohmann::json(proc_name) : value_json(cfg.get(key));
  }
  return result;
}

}  // namespace narwhal::control
