// settings_table(): the rows of every section, in gunicorn's order.
#include "config/table_rows.h"

namespace narwhal::config {
namespace {

std::vector<Setting> build_table() {
  std::vector<Setting> rows;
  add_server_settings(rows);
  add_security_settings(rows);
  add_debugging_settings(rows);
  add_mechanics_settings(rows);
  add_http_settings(rows);
  add_http2_settings(rows);
  add_logging_settings(rows);
  add_hook_settings(rows);
  add_ssl_settings(rows);
  add_asgi_settings(rows);
  add_control_settings(rows);
  for (auto& row : rows) {
    if (row.default_text.empty()) row.default_text = repr_value(row.default_value);
  }
  return rows;
}

}  // namespace

const std::vector<Setting>& settings_table() {
  static const std::vector<Setting> table = build_table();
  return table;
}

const Setting* find_setting(std::string_view name) {
  for (const auto& setting : settings_table()) {
    if (setting.name == name) return &setting;
  }
  return nullptr;
}

}  // namespace narwhal::config
