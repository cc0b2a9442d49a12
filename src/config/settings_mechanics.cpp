// Settings: Server Mechanics (process, files and environment).
#include <unistd.h>

#include "config/table_rows.h"

namespace narwhal::config {
namespace {

std::optional<Value> current_directory() {
  std::vector<char> buffer(4096);
  if (::getcwd(buffer.data(), buffer.size()) == nullptr) return std::nullopt;
  return Value(std::string(buffer.data()));
}

}  // namespace

void add_mechanics_settings(std::vector<Setting>& rows) {
  rows.push_back({
      .name = "preload_app",
      .section = "Server Mechanics",
      .flags = {"--preload"},
      .metavar = "",
      .type = Type::Bool,
      .action = Action::StoreTrue,
      .default_value = false,
      .default_text = "",
      .validate = validate_bool(),
      .short_doc = "Load application code before the worker processes are forked.",
      .doc = "Preloading saves some memory and speeds up boot; loading in each worker instead lets "
             "you reload application code by restarting workers.",
  });
  rows.push_back({
      .name = "sendfile",
      .section = "Server Mechanics",
      .flags = {"--no-sendfile"},
      .metavar = "",
      .type = Type::Bool,
      .action = Action::StoreFalse,
      .default_value = std::monostate{},
      .default_text = "",
      .validate = validate_bool(),
      .short_doc = "Disables the use of `sendfile()`.",
      .doc = "If not set, the `SENDFILE` environment variable decides (`y`, `1`, `yes` or `true` "
             "enable it); when that is unset too, `sendfile()` is used.",
  });
  rows.push_back({
      .name = "reuse_port",
      .section = "Server Mechanics",
      .flags = {"--reuse-port"},
      .metavar = "",
      .type = Type::Bool,
      .action = Action::StoreTrue,
      .default_value = false,
      .default_text = "",
      .validate = validate_bool(),
      .short_doc = "Set the `SO_REUSEPORT` flag on the listening socket.",
      .doc = "",
  });
  rows.push_back({
      .name = "chdir",
      .section = "Server Mechanics",
      .flags = {"--chdir"},
      .metavar = "",
      .type = Type::String,
      .action = Action::Store,
      .default_value = std::string("."),
      .default_text = "'.' (the current directory, made absolute)",
      .validate = validate_chdir(),
      .short_doc = "Change directory to specified directory before loading apps.",
      .doc = "The directory must exist; it is stored as an absolute path.",
      .computed_default = current_directory,
  });
  rows.push_back({
      .name = "daemon",
      .section = "Server Mechanics",
      .flags = {"-D", "--daemon"},
      .metavar = "",
      .type = Type::Bool,
      .action = Action::StoreTrue,
      .default_value = false,
      .default_text = "",
      .validate = validate_bool(),
      .short_doc = "Daemonize the narwhal process.",
      .doc = "Detaches the server from the controlling terminal and enters the background.",
  });
  rows.push_back({
      .name = "raw_env",
      .section = "Server Mechanics",
      .flags = {"-e", "--env"},
      .metavar = "ENV",
      .type = Type::StringList,
      .action = Action::Append,
      .default_value = StringList{},
      .default_text = "",
      .validate = validate_raw_env(),
      .short_doc = "Set environment variables in the execution environment.",
      .doc = "A list of strings in the `KEY=VALUE` format, e.g. `--env FOO=1` on the command line or "
             "`raw_env = [\"FOO=1\"]` in the configuration file. The flag may be repeated.",
  });
  rows.push_back({
      .name = "pidfile",
      .section = "Server Mechanics",
      .flags = {"-p", "--pid"},
      .metavar = "FILE",
      .type = Type::OptionalString,
      .action = Action::Store,
      .default_value = std::monostate{},
      .default_text = "",
      .validate = validate_optional_string(),
      .short_doc = "A filename to use for the PID file.",
      .doc = "If not set, no PID file will be written.",
  });
  rows.push_back(ignored({
      .name = "worker_tmp_dir",
      .section = "Server Mechanics",
      .flags = {"--worker-tmp-dir"},
      .metavar = "DIR",
      .type = Type::OptionalString,
      .action = Action::Store,
      .default_value = std::monostate{},
      .default_text = "",
      .validate = validate_optional_string(),
      .short_doc = "A directory to use for the worker heartbeat temporary file.",
      .doc = "If not set, the default temporary directory will be used. A memory-backed directory "
             "such as `/dev/shm` avoids heartbeats blocking on a slow disk.",
  },
  "workers heartbeat through shared memory, not a file in this directory; it is still checked"));
  rows.push_back({
      .name = "user",
      .section = "Server Mechanics",
      .flags = {"-u", "--user"},
      .metavar = "USER",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = std::monostate{},
      .default_text = "os.geteuid()",
      .validate = validate_user(),
      .short_doc = "Switch worker processes to run as this user.",
      .doc = "A valid user id (as an integer) or the name of a user known to the password database. "
             "The name is resolved when the setting is set and stored as the numeric uid.",
      .computed_default = [] { return std::optional<Value>(static_cast<int64_t>(::geteuid())); },
  });
  rows.push_back({
      .name = "group",
      .section = "Server Mechanics",
      .flags = {"-g", "--group"},
      .metavar = "GROUP",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = std::monostate{},
      .default_text = "os.getegid()",
      .validate = validate_group(),
      .short_doc = "Switch worker process to run as this group.",
      .doc = "A valid group id (as an integer) or the name of a group known to the group database. "
             "The name is resolved when the setting is set and stored as the numeric gid.",
      .computed_default = [] { return std::optional<Value>(static_cast<int64_t>(::getegid())); },
  });
  rows.push_back({
      .name = "umask",
      .section = "Server Mechanics",
      .flags = {"-m", "--umask"},
      .metavar = "INT",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{0},
      .default_text = "",
      .validate = validate_umask(),
      .short_doc = "A bit mask for the file mode on files written by narwhal.",
      .doc = "Note that this affects unix socket permissions. A valid value for `os.umask(mode)` or "
             "a string such as `0`, `0xFF`, `0o22` or `0022` (a leading `0` means octal).",
      .cli_value = Setting::CliValue::AutoInt,
  });
  rows.push_back({
      .name = "initgroups",
      .section = "Server Mechanics",
      .flags = {"--initgroups"},
      .metavar = "",
      .type = Type::Bool,
      .action = Action::StoreTrue,
      .default_value = false,
      .default_text = "",
      .validate = validate_bool(),
      .short_doc = "If true, set the worker process's group access list with all of the groups of "
                   "which the specified username is a member, plus the specified group id.",
      .doc = "",
  });
  rows.push_back(ignored({
      .name = "tmp_upload_dir",
      .section = "Server Mechanics",
      .flags = {},
      .metavar = "DIR",
      .type = Type::OptionalString,
      .action = Action::Store,
      .default_value = std::monostate{},
      .default_text = "",
      .validate = validate_optional_string(),
      .short_doc = "Directory to store temporary request data as they are read.",
      .doc = "Must be writable by the worker processes. If not set, a system temporary directory "
             "is chosen.",
  }, ""));
}

}  // namespace narwhal::config
