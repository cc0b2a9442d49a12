// Settings: Debugging.
#include "config/table_rows.h"

namespace narwhal::config {

void add_debugging_settings(std::vector<Setting>& rows) {
  rows.push_back({
      .name = "reload",
      .section = "Debugging",
      .flags = {"--reload"},
      .metavar = "",
      .type = Type::Bool,
      .action = Action::StoreTrue,
      .default_value = false,
      .default_text = "",
      .validate = validate_bool(),
      .short_doc = "Restart workers when code changes.",
      .doc = "Intended for development: workers are restarted whenever application code changes. "
             "The reloader is incompatible with *preload_app*.\n\n"
             "**Warning:** while the reloader is active, a failure to load the application is shown "
             "(with its traceback) to every client that can make requests.",
  });
  rows.push_back({
      .name = "reload_engine",
      .section = "Debugging",
      .flags = {"--reload-engine"},
      .metavar = "STRING",
      .type = Type::String,
      .action = Action::Store,
      .default_value = std::string("auto"),
      .default_text = "",
      .validate = validate_choice({"auto", "poll", "inotify"}),
      .short_doc = "The implementation that should be used to power *reload*.",
      .doc = "Valid engines are `auto` (inotify when available, else polling), `poll` and "
             "`inotify`.",
  });
  rows.push_back({
      .name = "reload_extra_files",
      .section = "Debugging",
      .flags = {"--reload-extra-file"},
      .metavar = "FILES",
      .type = Type::StringList,
      .action = Action::Append,
      .default_value = StringList{},
      .default_text = "",
      .validate = validate_existing_files(),
      .short_doc = "Extends *reload* option to also watch and reload on additional files.",
      .doc = "For example templates, configuration or specification files. Each file must exist. "
             "The flag may be repeated.",
  });
  rows.push_back({
      .name = "spew",
      .section = "Debugging",
      .flags = {"--spew"},
      .metavar = "",
      .type = Type::Bool,
      .action = Action::StoreTrue,
      .default_value = false,
      .default_text = "",
      .validate = validate_bool(),
      .short_doc = "Install a trace function that spews every line executed by the server.",
      .doc = "This is the nuclear option.",
  });
  rows.push_back({
      .name = "check_config",
      .section = "Debugging",
      .flags = {"--check-config"},
      .metavar = "",
      .type = Type::Bool,
      .action = Action::StoreTrue,
      .default_value = false,
      .default_text = "",
      .validate = validate_bool(),
      .short_doc = "Check the configuration and exit.",
      .doc = "The exit status is 0 if the configuration (and the application) loads, 1 otherwise.",
  });
  rows.push_back({
      .name = "print_config",
      .section = "Debugging",
      .flags = {"--print-config"},
      .metavar = "",
      .type = Type::Bool,
      .action = Action::StoreTrue,
      .default_value = false,
      .default_text = "",
      .validate = validate_bool(),
      .short_doc = "Print the configuration settings as fully resolved.",
      .doc = "One `name = value` line per setting, sorted by name, in gunicorn's layout. Implies "
             "*check_config*.",
  });
}

}  // namespace narwhal::config
