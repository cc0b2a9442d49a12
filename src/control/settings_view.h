// `show config`: the settings gunicorn's handler reports, from the settings table's values.
#pragma once

#include <nlohmann/json.hpp>

#include "config/config.h"

namespace narwhal::control {

nlohmann::json settings_json(const config::Config& cfg);

}  // namespace narwhal::control
