// The settings table and the Config holding one value per setting.
//
// The table (settings_table()) is the single source of truth for CLI flags, the config file,
// NARWHAL_CMD_ARGS/GUNICORN_CMD_ARGS, --print-config and docs/settings.md. Nothing else in
// narwhal may invent a limit, timeout or flag: add a row to the table instead.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace narwhal::config {

// An opaque callable from a Python config file (server hooks); owned by the Python layer.
struct Callable {
  std::shared_ptr<void> object;  // a PyObject*, released by the deleter the Python layer installs
  std::string repr;              // for --print-config
};

using StringList = std::vector<std::string>;
using StringMap = std::vector<std::pair<std::string, std::string>>;  // ordered, keys as given

// A value as it arrives (from the CLI as text, from a config file as a Python value converted
// by the Python layer) and as it is stored after validation.
using Value = std::variant<std::monostate, bool, int64_t, double, std::string, StringList, StringMap,
                           Callable>;

enum class Type { Bool, Int, Float, String, OptionalString, StringList, StringMap, Callable };

// How the CLI flag consumes arguments (argparse actions, as gunicorn uses them).
// StoreOptional: argparse's nargs="?" with a const — the flag alone stores Setting::cli_const,
// the flag with a value stores the value (gunicorn 24's `--proxy-protocol [MODE]`).
enum class Action { Store, StoreTrue, StoreFalse, Append, StoreOptional };

struct Setting;
// Validates and normalises `raw` for `setting`. On failure returns the expected form, e.g.
// "a positive integer"; the caller builds the full message naming the setting and the value.
using Validator = std::function<std::optional<std::string>(const Setting& setting, const Value& raw,
                                                            Value& out)>;

struct Setting {
  std::string name;                // gunicorn's name, e.g. "limit_request_line"
  std::string section;             // gunicorn's section, e.g. "Security"
  std::vector<std::string> flags;  // e.g. {"-w", "--workers"}; empty = config file only
  std::string metavar;             // e.g. "INT"
  Type type;
  Action action;
  Value default_value;
  std::string default_text;  // as shown in docs, e.g. "['127.0.0.1:8000']"; empty in a row = repr(default_value)
  Validator validate;
  std::string short_doc;
  std::string doc;  // longer Markdown text for docs/settings.md

  // narwhal additions (after gunicorn's fields so designated initialisers keep their order).
  // How argparse converts the flag's text before validation: gunicorn declares `type=int` for
  // most integer flags and `type=auto_int` for --umask; everything else arrives as text.
  enum class CliValue { Text, Int, AutoInt };
  CliValue cli_value = CliValue::Text;
  // A default that depends on the process environment (WEB_CONCURRENCY, PORT, FORWARDED_ALLOW_IPS,
  // the euid, the cwd), evaluated by each Config() and validated like any other value; nullopt
  // (or an empty function) keeps default_value. default_text documents it for the docs.
  std::function<std::optional<Value>()> computed_default = {};
  // What narwhal does with a value other than the default. gunicorn's rows are all accepted (a
  // migrated gunicorn.conf.py must keep starting), but some have no effect in narwhal yet:
  // Ignored ones log one WARNING at start-up naming them; Refused ones (security-relevant, never
  // half-honoured, e.g. certfile without TLS) stop the start-up with an error. `support_note`
  // says why, for those messages, --print-config and docs/settings.md.
  enum class Support { Honoured, Ignored, Refused };
  Support support = Support::Honoured;
  std::string support_note = {};
  // Action::StoreOptional: what the flag stores when given without a value.
  std::string cli_const = {};
  // A config file's Python value is kept as the object itself (a Callable holder) instead of
  // being converted: logconfig_dict, whose nested dicts only Python's dictConfig reads.
  bool python_value = false;
};

const std::vector<Setting>& settings_table();
const Setting* find_setting(std::string_view name);

struct ConfigError {
  std::string setting;
  std::string message;  // full sentence: "Invalid value for workers: 'abc' (expected a positive integer)"
};

// Python's str() and repr() of a value, as gunicorn prints them: None, True, 30, 1.5, 'text',
// ['a', 'b'], {'K': 'v'}; format_value prints a top-level string without quotes.
std::string format_value(const Value& value);
std::string repr_value(const Value& value);

class Config {
 public:
  Config();  // every setting at its default

  // Validates and stores `raw`. For Append settings coming from the CLI, `append` adds to the
  // list set so far by the same source. Unknown names return an error (config-file loaders
  // skip unknown names before calling this, like gunicorn does).
  std::optional<ConfigError> set(std::string_view name, const Value& raw, bool append = false);
  // Same, naming the command-line flag in the message: "Invalid value for workers (-w): ...".
  std::optional<ConfigError> set_from_flag(std::string_view name, const Value& raw, bool append,
                                           std::string_view flag);

  const Value& get(std::string_view name) const;  // aborts on unknown names (programming error)
  // The typed getters abort when the stored alternative does not match (programming error),
  // except that None reads as false / "" (gunicorn's truthiness; e.g. sendfile defaults to None).
  bool get_bool(std::string_view name) const;
  int64_t get_int(std::string_view name) const;
  double get_float(std::string_view name) const;
  const std::string& get_string(std::string_view name) const;  // "" for an unset OptionalString
  bool is_set(std::string_view name) const;                    // OptionalString holds a value
  const StringList& get_list(std::string_view name) const;
  const StringMap& get_map(std::string_view name) const;

  // `--print-config`: one line per setting sorted by name, "{name:<longest} = {str(value)}"
  // (gunicorn's Config.__str__), lines joined by "\n" without a trailing newline.
  std::string print_config() const;

  // gunicorn's derived Config properties.
  std::string proc_name() const;              // proc_name, else default_proc_name
  StringMap env() const;                      // raw_env split at the first '='
  // raw_paste_global_conf split at the first '=' not written "\=", then "\=" read as '='.
  StringMap paste_global_conf() const;
  bool sendfile() const;                      // --no-sendfile wins, else $SENDFILE, else true
  bool is_ssl() const;                        // certfile or keyfile set

  // Settings whose support is not Honoured and whose value differs from the default (computed
  // defaults included), in table order: the caller refuses or warns about them at start-up.
  std::vector<const Setting*> unsupported_settings() const;

  // Errors met while evaluating computed defaults (e.g. WEB_CONCURRENCY=abc); the setting then
  // keeps its static default. The caller reports them like gunicorn would fail at import.
  const std::vector<ConfigError>& default_errors() const { return default_errors_; }

 private:
  std::map<std::string, Value, std::less<>> values_;
  std::vector<ConfigError> default_errors_;
};

// Command line (argparse-compatible with gunicorn's flags).
struct CliResult {
  // In the order given; Append settings appear once per occurrence.
  std::vector<std::pair<std::string, std::string>> values;  // setting name, raw text ("true" for StoreTrue)
  std::vector<std::string> flags;                           // flags[i]: the flag that produced values[i]
  std::vector<std::string> positional;                      // APP_MODULE (at most one accepted)
  bool help = false;
  bool version = false;
  std::string error;  // non-empty: usage error, exit status 2
};

// args exclude argv[0]. More than `max_positional` positional arguments is a usage error
// (narwhal's command takes one APP_MODULE; an embedding Application takes any, like argparse's
// nargs="*" in gunicorn).
CliResult parse_cli(std::span<const std::string> args, size_t max_positional = 1);
// Applies parsed values in order, like gunicorn's `cfg.set(k, v)` after argparse: the values of an
// Append flag replace the setting's current list once, then accumulate. Int flags are converted
// as argparse's int()/auto_int would. Returns the first error (naming the flag).
std::optional<ConfigError> apply_cli(Config& config, const CliResult& cli);
std::string usage_text(std::string_view program);
// Splits NARWHAL_CMD_ARGS / GUNICORN_CMD_ARGS like Python's shlex.split (POSIX mode).
std::optional<std::vector<std::string>> split_shell_words(std::string_view text);

// docs/settings.md, generated from the table.
std::string settings_markdown();

}  // namespace narwhal::config
