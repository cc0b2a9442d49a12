// `show config`: the settings gunicorn's handler reports, from the settings table's values.
#pragma once

#include <nlohmann/json.hpp>

#include "config/config.h"

namespace narwhal::control {

// `proc_name`: the name the master uses (the setting, else gunicorn's default_proc_name).
nlohmann::json settings_json(const config::Config& cfg, const std::string& proc_name);

}  // namespace narwhal::control
