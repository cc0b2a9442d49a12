// Validators for the settings table, one per gunicorn validate_* function.
//
// Each factory returns a Validator: it checks a raw Value (text from the CLI, or a converted Python
// value from a config file), writes the normalised value to `out`, and on failure returns the
// expected form ("a positive integer"); Config::set builds the full message from it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace narwhal::config {

// Integer text as Python parses it. Never throws; nullopt on garbage or overflow.
std::optional<int64_t> parse_int_base0(std::string_view text);   // int(text, 0): 12, 0x1f, 0o17, 0b1
std::optional<int64_t> parse_int_decimal(std::string_view text);  // int(text): argparse type=int
std::optional<int64_t> parse_auto_int(std::string_view text);     // gunicorn's auto_int: 022 is octal
std::optional<bool> parse_bool_text(std::string_view text);       // true/false/1/0/yes/no/on/off
std::string strip(std::string_view text);                         // Python's str.strip()

Validator validate_bool();
// validate_pos_int. `maximum` > 0 clamps larger values to it (gunicorn's http layer does this
// silently); `zero_means_maximum` also maps 0 to it (limit_request_fields).
Validator validate_pos_int(int64_t maximum = 0, bool zero_means_maximum = false);
Validator validate_umask();          // int, or auto_int text ("0o22", "022", "18")
Validator validate_float();          // a non-negative number
Validator validate_string();         // stripped text
Validator validate_optional_string();
Validator validate_choice(std::vector<std::string> choices);
Validator validate_proxy_protocol();  // off | v1 | v2 | auto; true = auto, false/None = off  // case-insensitive, stored lowercase
Validator validate_class();          // a dotted name / bundled worker name, or a Python class
Validator validate_list_string();    // one string or a list; None/empty -> []
Validator validate_comma_list();     // "a, b" or a list -> ["a", "b"]
Validator validate_address_list();   // comma list of IPs / CIDR networks or "*"
Validator validate_bind_list();      // list of HOST, HOST:PORT, [V6]:PORT, unix:PATH, fd://N, tcp://
Validator validate_raw_env();        // list of KEY=VALUE
Validator validate_paste_global_conf();  // list of KEY=VALUE, "\=" being a literal '='
Validator validate_existing_files(); // list of paths that exist
Validator validate_dict();
// A dictionary kept as the Python object (Setting::python_value), or an empty StringMap.
Validator validate_python_dict();
Validator validate_callable();
Validator validate_user();   // uid or user name (resolved through the password database)
Validator validate_group();  // gid or group name
Validator validate_chdir();  // an existing directory, made absolute
Validator validate_statsd_address();  // HOST:PORT, HOST, unix://PATH or unix:PORT
Validator validate_ssl_version();     // ssl.PROTOCOL_* number or name (deprecated, ignored)

// gunicorn's paste_global_conf split, re.split(r'(?<!\\)=', item, 1): the first = not written
// "\="; npos when there is none.
size_t find_unescaped_equals(std::string_view text);

// One bind address, syntax only (the net layer resolves it). Returns the expected form on error.
std::optional<std::string> check_bind_address(std::string_view address);

}  // namespace narwhal::config
