#include "module/settings_check.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "log/logger.h"

namespace narwhal::module {
namespace {

// How the user most likely wrote it: the long flag, else the config-file name.
std::string setting_label(const config::Setting& setting) {
  if (setting.flags.empty()) return setting.name;
  return setting.name + " (" + setting.flags.back() + ")";
}

}  // namespace

workers::WorkerClass worker_class(const config::Config& cfg) {
  const config::Value& value = cfg.get("worker_class");
  if (const auto* object = std::get_if<config::Callable>(&value)) {
    return workers::refuse_python_worker_class(object->repr);
  }
  return workers::resolve_worker_class(cfg.get_string("worker_class"), cfg.get_int("threads"));
}

std::string refusal(const config::Config& cfg) {
  workers::WorkerClass resolved = worker_class(cfg);
  if (!resolved.ok()) return resolved.error;
  // Every refused setting that is set, named once; settings refused for the same reason
  // (certfile and keyfile) share one sentence.
  std::vector<std::pair<std::string, std::string>> reasons;  // note, labels
  for (const config::Setting* setting : cfg.unsupported_settings()) {
    if (setting->support != config::Setting::Support::Refused) continue;
    auto same = std::find_if(reasons.begin(), reasons.end(),
                             [&](const auto& reason) { return reason.first == setting->support_note; });
    if (same == reasons.end()) {
      reasons.emplace_back(setting->support_note, setting_label(*setting));
    } else {
      same->second += " and " + setting_label(*setting);
    }
  }
  // HTTP/2 needs a worker that serves connections concurrently (docs/http2.md).
  const config::StringList protocols = cfg.get_list("http_protocols");
  if (std::find(protocols.begin(), protocols.end(), "h2") != protocols.end() &&
      resolved.kind == workers::WorkerKind::Sync) {
    reasons.emplace_back("the sync worker serves one request at a time and cannot serve HTTP/2's concurrent "
                         "streams; use -k gthread, gevent or asgi",
                         "http_protocols (--http-protocols) listing h2 with the sync worker");
  }
  const std::string cleartext = cfg.get_string("http2_cleartext");
  if (cleartext == "upgrade" || cleartext == "both") {
    reasons.emplace_back("the HTTP/1.1 Upgrade to h2c is not served (RFC 9113 deprecated it); use prior-knowledge",
                         "http2_cleartext (--http2-cleartext) " + cleartext);
  }
  std::string message;
  for (const auto& [note, labels] : reasons) {
    if (!message.empty()) message += "; ";
    const bool several = labels.find(" and ") != std::string::npos;
    message += (several ? "settings " : "setting ") + labels + (several ? " are" : " is") +
               " not supported by narwhal yet: " + note;
  }
  return message;
}

void warn_ignored_settings(const config::Config& cfg) {
  for (const config::Setting* setting : cfg.unsupported_settings()) {
    if (setting->support != config::Setting::Support::Ignored) continue;
    std::string message = "setting " + setting->name + " has no effect in narwhal yet";
    if (!setting->support_note.empty()) message += ": " + setting->support_note;
    log::logger().warning(message);
  }
}

}  // namespace narwhal::module
