// Where settings come from and what they set up in the process: defaults < config file <
// GUNICORN_CMD_ARGS / NARWHAL_CMD_ARGS < command line (gunicorn's precedence), then raw_env,
// chdir and pythonpath. Used at start-up and again on HUP.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "http/request_parser.h"
#include "net/listener.h"
#include "python/pyref.h"

namespace narwhal::module {

void print_error(const std::string& message);  // "Error: ..." on stderr

// Calls narwhal._glue.<function>(*args); null with the Python error set on failure.
py::Ref call_glue(const char* function, PyObject* args);
py::Ref call_glue(const char* function, const std::string& argument);

// Reads every settings source into `cfg` and finds the app: APP_MODULE, else wsgi_app; with
// `paste`, the absolute PasteDeploy config URI ("/srv/app.ini#name"). Returns -1 to go on, else
// the exit status (0 after --help/--version/--print-config, 1 for a bad value, 2 for a usage error).
int load_settings(const std::vector<std::string>& argv, config::Config& cfg, std::string* app_uri);

// The same for an embedding application (narwhal.app.base, gunicorn's "custom application"): the
// values its load_config() gave cfg.set(), fed like a config file's; then, for an Application
// (not a BaseApplication), the config file, the environment and the command line as above. On
// HUP (`reload`) its load_config() runs again first. Its cfg then shows the final settings.
int load_application_settings(PyObject* application, bool reload, config::Config& cfg);

// A config file's namespace, or an embedding application's cfg.set values (a dict): names that
// are not settings are the user's own business (skipped, like gunicorn does); the first invalid
// value is printed ("Error: Invalid value for ...") and stops.
bool apply_config_values(config::Config& cfg, PyObject* values);
// Without -c: "./narwhal.conf.py", else "./gunicorn.conf.py" if it exists, else "".
std::string default_config_file();

bool set_environment(const config::Config& cfg);      // raw_env → os.environ
bool install_spew();  // --spew: narwhal._glue.spew() (the error is printed on failure)
bool prepare_python_path(const config::Config& cfg);  // chdir, then pythonpath on sys.path
bool open_logs(const config::Config& cfg, const std::string& app_uri, std::string* error);
net::ListenOptions listen_options(const config::Config& cfg);
http::ParserOptions parser_options(const config::Config& cfg);
// Unix socket files go to the workers' user/group (gunicorn's UnixSocket).
void chown_unix_sockets(const std::vector<net::Listener>& listeners, const config::Config& cfg);

}  // namespace narwhal::module
